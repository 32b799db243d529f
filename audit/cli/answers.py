"""Answers and ratings from the command line, their history, and conflicts between merged copies."""

from __future__ import annotations

import argparse
import sys

from audit.cli.common import open_store as _store
from audit.cli.common import say
from audit.core.events import KEEP_CHOICES, KEPT_WORDS
from audit.core.safe_text import for_terminal


def cmd_answer(args) -> int:
    from audit.core.answers import parse_answer_text

    value, reason_in_text = parse_answer_text(args.value)
    if value is None:
        value_word = "cleared"
    else:
        value_word = value.value
    with _store(args) as store:
        round_row = store.round(args.round)
        changed = store.record_answer(
            round_row,
            args.case_ref,
            args.question,
            value,
            reason=args.reason or reason_in_text,
            note=args.note,
            auditor=args.auditor,
            source="cli",
        )
        case = store.case(round_row, args.case_ref)
    state = "saved" if changed else "unchanged (already recorded)"
    say(f"{args.case_ref.upper()} {args.question}: {value_word} - {state}")
    if case["sample_status"] in ("reserve", "swapped out"):
        print(
            for_terminal(
                f"caseaudit: note: case {case['case_ref']} is {case['sample_status']}: its answers are kept but not "
                "counted in any figure"
            ),
            file=sys.stderr,
        )
    return 0


def cmd_rate(args) -> int:
    from audit.core.answers import parse_rating
    from audit.core.summary import case_supervision_ratings
    from audit.store.figures import summarise

    rating = parse_rating(args.rating)
    with _store(args) as store:
        round_row = store.round(args.round)
        summary = summarise(store, round_row)
        row = store.rate_standard(
            round_row,
            args.standard,
            rating,
            case_ratings=case_supervision_ratings(summary),
            evidence=args.evidence,
            override_reason=args.reason,
            rater=args.auditor,
        )
    extra = " (above the advisory cap; override reason recorded)" if row["override_reason"] else ""
    say(f"{args.standard} rated '{rating}'{extra}.")
    return 0


def _change_text(value, reason, note) -> str:
    from audit.core.answers import format_answer_text

    text = format_answer_text(value, reason) or "(blank)"
    return f"{text} [note: {note}]" if note else text


def cmd_history(args) -> int:
    with _store(args, readonly=True) as store:
        round_row = store.round(args.round)
        changes = store.answer_history(round_row, args.case)
        attributes = store.attribute_history(round_row, args.case)
        events = [] if args.case else store.round_events(round_row)
        ratings = [] if args.case else store.rating_history(round_row)
    lines = []
    # a case's attributes before its answers: an import records both at one moment, attributes first
    for h in attributes:
        lines.append(
            (
                h["changed_at"],
                f"{h['changed_at'][:19].replace('T', ' ')}  {h['changed_by']:<14} {h['case_ref']} {h['attribute']:<10} "
                f"{h['old_value'] or '(blank)'} -> {h['new_value'] or '(blank)'}  ({h['source']})"
                + (f"; reason: {h['reason']}" if h.get("reason") else ""),
            )
        )
    for h in changes:
        old = _change_text(h["old_value"], h["old_reason"], h["old_note"])
        new = _change_text(h["new_value"], h["new_reason"], h["new_note"])
        lines.append(
            (
                h["changed_at"],
                f"{h['changed_at'][:19].replace('T', ' ')}  {h['auditor']:<14} {h['case_ref']} {h['question_id']:<10} {old} -> {new}  ({h['source']})",
            )
        )
    for r in ratings:
        extra = f"; override: {r['override_reason']}" if r["override_reason"] else ""
        lines.append(
            (
                r["changed_at"],
                f"{r['changed_at'][:19].replace('T', ' ')}  {r['rater']:<14} judgement {r['standard_id']:<9} {r['old_rating'] or '(none)'} -> {r['new_rating']}{extra}",
            )
        )
    for e in events:
        why = f": {e['reason']}" if e["reason"] else ""
        lines.append((e["done_at"], f"{e['done_at'][:19].replace('T', ' ')}  {e['done_by']:<14} round {e['event']}{why}"))
    if not lines:
        say(f"No changes recorded yet in {args.round!r}" + (f" for {args.case.upper()}." if args.case else "."))
        return 0
    for _, line in sorted(lines, key=lambda item: item[0]):
        print(for_terminal(line))  # names, notes and reasons may hold escape sequences (typed, imported or merged)
    return 0


def cmd_conflicts(args) -> int:
    with _store(args, readonly=True) as store:
        conflicts = store.conflicts(store.round(args.round), open_only=not args.all)
    if not conflicts:
        say(f"No {'' if args.all else 'open '}conflicts in {args.round!r}.")
        return 0
    for k in conflicts:
        subject = f"judgement {k['subject']}" if k["kind"] == "rating" else f"{k['case_ref']} {k['subject']}"
        shown = (
            _change_text(k["our_value"], k["our_reason"], k["our_note"])
            if k["kind"] == "answer"
            else (k["our_value"] or "(none)")
        )
        other = (
            _change_text(k["their_value"], k["their_reason"], k["their_note"])
            if k["kind"] == "answer"
            else (k["their_value"] or "(none)")
        )
        state = f"  resolved: {KEPT_WORDS.get(k['kept'], k['kept'])} ({k['resolved_by']})" if k["resolved_at"] else ""
        shown_by = f" ({k['our_by']})" if k["our_by"] else ""
        # "shown" and "other", not "ours" and "theirs": either value may have come from either copy
        print(
            for_terminal(
                f"#{k['id']:<4} {subject:<20} shown: {shown}{shown_by}  other: {other} ({k['their_by']}, found merging {k['from_file']}){state}"
            )
        )
    if not args.all:
        say("Settle each with: caseaudit resolve --round NAME ID shown|other (keep the value shown, or take the other)")
    return 0


def cmd_resolve(args) -> int:
    with _store(args) as store:
        store.resolve_conflict(store.round(args.round), args.conflict, args.keep, by=args.auditor)
    kept = KEPT_WORDS[KEEP_CHOICES[args.keep]]
    say(f"Conflict #{args.conflict} resolved: {kept}. The choice is recorded in the history.")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("answer", help="record one answer (Yes, No, N/A, or '' to clear)")
    p.add_argument("--round", required=True)
    p.add_argument("case_ref")
    p.add_argument("question", help="a key question or prompt id of the round's framework (see 'caseaudit frameworks show')")
    p.add_argument("value", help="Yes, No, N/A (or 'N/A: reason'); '' clears")
    p.add_argument("--reason", help="why the question is not applicable")
    p.add_argument("--note", help="a note on this answer")
    p.set_defaults(handler=cmd_answer)

    p = commands.add_parser("rate", help="record the rating of a standard rated by judgement (e.g. organisational delivery)")
    p.add_argument("--round", required=True)
    p.add_argument("standard", help="a standard the framework rates by judgement (see 'caseaudit frameworks show')")
    p.add_argument("rating", help="Outstanding, Good, 'Requires improvement' or Inadequate")
    p.add_argument("--reason", help="why the rating goes above the advisory cap")
    p.add_argument("--evidence", help="the evidence for the rating")
    p.set_defaults(handler=cmd_rate)

    p = commands.add_parser("history", help="who changed which answer, when, old -> new")
    p.add_argument("--round", required=True)
    p.add_argument("--case", help="only this case")
    p.set_defaults(handler=cmd_history)

    p = commands.add_parser("conflicts", help="answers two merged copies disagree on")
    p.add_argument("--round", required=True)
    p.add_argument("--all", action="store_true", help="include resolved conflicts")
    p.set_defaults(handler=cmd_conflicts)

    p = commands.add_parser("resolve", help="settle a merge conflict by keeping the value shown or taking the other")
    p.add_argument("--round", required=True)
    p.add_argument("conflict", type=int, help="the conflict number shown by 'caseaudit conflicts'")
    p.add_argument(
        "keep",
        choices=["shown", "other", "ours", "theirs"],
        help="shown: keep the value this database shows; other: take the value it conflicts with ('ours'/'theirs' mean the same)",
    )
    p.set_defaults(handler=cmd_resolve)
