"""Moderation: a blind second marking of a round's cases, the two markings' agreement, and settling a disagreement."""

from __future__ import annotations

import argparse
import json

from audit.cli.common import open_store as _store
from audit.cli.common import say


def cmd_moderate(args) -> int:
    from audit.core.moderation import choose_cases
    from audit.errors import InvalidValue

    with _store(args) as store:
        original = store.round(args.round)
        if original.moderates is not None:
            raise InvalidValue(f"round {original.name!r} is itself a moderation round; moderate the original round")
        seed_note = ""
        if args.cases is not None:
            refs = [c["case_ref"] for c in store.cases(original) if c["in_sample"]]  # not reserves
            if args.cases > len(refs):
                raise InvalidValue(f"--cases {args.cases} is more than the {len(refs)} case(s) in round {original.name!r}")
            if args.cases < 1:
                raise InvalidValue("--cases must be at least 1")
            seed = args.seed
            if seed is None:
                import secrets

                seed = secrets.randbelow(1_000_000)
            seed_note = f" (seed {seed}: the same seed chooses the same cases)"
            chosen = choose_cases(refs, args.cases, seed)
        else:
            chosen = list(dict.fromkeys(ref.strip().upper() for ref in args.case))  # each case once
        moderation = store.create_moderation_round(original, chosen, name=args.name, created_by=args.auditor)
    say(
        f"Moderation round {moderation.name!r} created for round {original.name!r}: {len(chosen)} case(s){seed_note}, "
        "no answers (blind second marking)."
    )
    say("Cases: " + ", ".join(sorted(c.strip().upper() for c in chosen)))
    return 0


def cmd_agreement(args) -> int:
    from audit.core.moderation import kappa_text
    from audit.store.moderation import moderation_of

    with _store(args, readonly=True) as store:
        result = moderation_of(store, store.round(args.round), args.moderation)
    agreement = result.agreement
    if args.format == "json":
        from audit.core.safe_text import json_for_terminal

        print(
            json_for_terminal(
                json.dumps(
                    {
                        "round": result.original.name,
                        "moderation_round": result.moderation.name,
                        "questions": [q.as_dict() for q in agreement.questions],
                        "overall": agreement.overall.as_dict(),
                        "disagreements": [d.as_dict() for d in agreement.disagreements],
                        "first_marking_as_of": result.first_marking_as_of,
                        "answers_since_not_compared": result.answers_since,
                    },
                    indent=2,
                    ensure_ascii=False,
                )
            )
        )
        return 0
    lines = [
        f"Agreement: round {result.original.name!r}, second marking {result.moderation.name!r}",
        _as_of_line(result),
        "",
    ]
    lines.append(f"{'Question':<12} {'Kind':<13} {'Compared':>8} {'Agreed':>6} {'%':>5}  Kappa")
    for q in (*agreement.questions, agreement.overall):
        percent = "-" if q.percent is None else f"{q.percent}%"
        lines.append(f"{q.id:<12} {q.kind:<13} {q.compared:>8} {q.agreed:>6} {percent:>5}  {kappa_text(q.kappa)}")
    lines.append("")
    if agreement.disagreements:
        lines.append(f"Disagreements ({len(agreement.disagreements)}): case, question, first -> second")
        lines.extend(f"  {d.case_ref} {d.question:<10} {d.first} -> {d.second}" for d in agreement.disagreements)
        lines.append("Settle each with: caseaudit settle --round NAME CASE QUESTION first|second [--reason TEXT]")
    else:
        lines.append("No disagreements.")
    say("\n".join(lines))
    return 0


def _as_of_line(result) -> str:
    """The first marking is what the round held when the moderation round was made: say when, and how many
    answers given in the round since then are therefore not compared."""
    as_of = (
        f"First marking as of {result.first_marking_as_of[:16].replace('T', ' ')} UTC, when {result.moderation.name!r} was made"
    )
    n = result.answers_since
    if n == 0:
        return f"{as_of} (answers given in round {result.original.name!r} after that are not compared)."
    given = "1 answer given" if n == 1 else f"{n} answers given"
    return f"{as_of}: {given} in round {result.original.name!r} since then {'is' if n == 1 else 'are'} not compared."


def cmd_settle(args) -> int:
    import sys

    from audit.store.moderation import settle

    with _store(args) as store:
        original = store.round(args.round)
        changed = settle(
            store,
            original,
            args.case_ref,
            args.question,
            args.keep,
            reason=args.reason,
            moderation_name=args.moderation,
            auditor=args.auditor,
        )
        question = store.framework_for(original).canonical_question_id(args.question) or args.question
        case = store.case(original, args.case_ref)
        shown = store.answer(case["id"], question) or {}
    state = "changed" if changed else "confirmed (unchanged)"
    say(
        f"{case['case_ref']} {question}: {shown.get('value')} - {state}, kept the {args.keep} marker's answer; "
        "recorded in the history as a moderation."
    )
    if case["sample_status"] in ("reserve", "swapped out"):
        say(
            f"caseaudit: note: case {case['case_ref']} is {case['sample_status']}: its answers are kept but not counted in any figure",
            file=sys.stderr,
        )
    return 0


MODERATION_HELP = "the moderation round's name (needed only when the round has more than one)"


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("moderate", help="create a blind second-marking round of some of a round's cases")
    p.add_argument("--round", required=True, help="the round to moderate")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--cases", type=int, help="how many cases to choose at random")
    which.add_argument("--case", action="append", metavar="REF", help="a case to second-mark (repeat for more)")
    p.add_argument("--seed", type=int, help="the random choice's seed (--cases), to choose the same cases again")
    p.add_argument("--name", help="the moderation round's name (default: 'ROUND moderation')")
    p.set_defaults(handler=cmd_moderate)

    p = commands.add_parser("agreement", help="how far a round's first and second markings agree (Cohen's kappa)")
    p.add_argument("--round", required=True, help="the original round")
    p.add_argument("--moderation", help=MODERATION_HELP)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(handler=cmd_agreement)

    p = commands.add_parser("settle", help="record the moderated answer in the original round (first or second marker's)")
    p.add_argument("--round", required=True, help="the original round")
    p.add_argument("case_ref")
    p.add_argument("question")
    p.add_argument("keep", choices=["first", "second"])
    p.add_argument("--reason", help="why (recorded as the answer's note)")
    p.add_argument("--moderation", help=MODERATION_HELP)
    p.set_defaults(handler=cmd_settle)
