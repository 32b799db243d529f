"""Rounds: list, import a case sheet, swap in a reserve, load the demo, finalise and reopen; tidy them
(remove and restore a case or a round, change a round's unit)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audit.cli.common import open_store as _store
from audit.cli.common import say
from audit.core.safe_text import for_terminal


def cmd_rounds(args) -> int:
    with _store(args, readonly=True, verify=True) as store:  # progress figures: never from a damaged file
        rounds = store.rounds(removed=args.removed)
    if args.removed:
        rounds = [r for r in rounds if r.get("removed_at")]
        if not rounds:
            say("No removed rounds.")
            return 0
    if not rounds:
        say("No rounds yet. Load the demo with 'caseaudit demo' or import a case sheet with 'caseaudit import'.")
        return 0
    say(f"{'Round':<30} {'Unit':<28} {'Framework':<28} {'Cases':>5} {'Done':>6}")
    names = {r["id"]: r["name"] for r in rounds}
    for r in rounds:
        framework = f"{r['framework_id']} v{r['framework_version']}"
        state = " (finalised)" if r.get("finalised_at") else ""
        if r.get("moderates"):
            state += f" (second marking of {names.get(r['moderates'], 'a round not here')!r})"
        done = "  n/a" if r["progress"] is None else f"{r['progress'] * 100:>5.0f}%"
        if r.get("framework_missing"):
            state += " (framework not available: add its definition to open this round)"
        if r.get("removed_at"):
            state += f" (removed {r['removed_at'][:10]} by {r['removed_by']})"
        print(for_terminal(f"{r['name']:<30} {r['unit']:<28} {framework:<28} {r['cases']:>5} {done}{state}"))
    return 0


def cmd_import(args) -> int:
    from audit.errors import UnknownRound
    from audit.sheets.case_sheet import import_sheet

    with _store(args) as store:
        try:
            target = store.round(args.round, removed_ok=True)
        except UnknownRound:
            target = args.round  # a new round, created by the import (which needs --unit)
        else:
            if target.removed:
                store.round(args.round)  # refused, saying how to restore it
        result = import_sheet(
            store,
            args.sheet,
            target,
            unit=args.unit,
            framework_id=args.framework,
            auditor=args.auditor,
            progress=_progress(),
        )
        warning = _first_marking_copied(store, result.round_id)  # read on the connection the import used
    for line in result.lines():
        say(line)
    if warning:
        print(for_terminal(warning), file=sys.stderr)
    return 0


# a blind second marking identical to the first over this many answers was copied, not marked
COPIED_AFTER = 10


def _first_marking_copied(store, round_id: str) -> str | None:
    """Importing into a moderation round: a warning when every answer equals the first marker's (the original
    round's export imported into its blind moderation round would make the agreement figures meaningless)."""
    from audit.store.moderation import copied_first_marking

    moderation = store.round_by_id(round_id)
    copied = copied_first_marking(store, moderation)
    if copied is None:
        return None
    identical, compared = copied
    if compared < COPIED_AFTER or identical != compared:
        return None
    original = store.round_by_id(moderation.moderates).name
    return (
        f"caseaudit: warning: all {compared} answers in moderation round {moderation.name!r} equal the first "
        f"marking in {original!r}, reasons included. A blind second marking is made by the second marker, not "
        f"imported from {original!r}'s export; if this sheet is that export, agreement with it means nothing."
    )


def _progress():
    """How far a long import has got, on stderr when it is a terminal: nothing for the first second
    (most sheets are read and written by then), then the rows read and the cases written."""
    import time

    if not sys.stderr.isatty():
        return None
    started = time.monotonic()
    shown: list[str] = []  # the stages shown so far

    def progress(stage: str, done: int, total: int | None) -> None:
        if not shown and time.monotonic() - started < 1.0:
            return
        if shown and shown[-1] != stage:
            print(file=sys.stderr)
        if not shown or shown[-1] != stage:
            shown.append(stage)
        if stage == "reading":
            line = f"Reading the sheet: {done:,} rows"
        else:
            line = f"Writing: {done:,} of {total:,} cases"
        end = "\n" if total is not None and done == total else ""
        print(f"\r{line}", end=end, file=sys.stderr, flush=True)

    return progress


def cmd_swap(args) -> int:
    with _store(args) as store:
        round_row = store.round(args.round)
        case = store.case(round_row, args.case)
        reserve = store.swap_case(round_row, args.case, args.reason, by=args.auditor)
    draw = f" (draw {reserve['draw_order']})" if reserve["draw_order"] is not None else ""
    say(
        f"Case {case['case_ref']} swapped out of round {round_row.name!r} (stratum {reserve['stratum']!r}); "
        f"reserve {reserve['case_ref']}{draw} comes in. The reason is recorded in its history."
    )
    return 0


def cmd_remove_case(args) -> int:
    with _store(args) as store:
        round_row = store.round(args.round)
        case = store.remove_case(round_row, args.case, args.reason, by=args.auditor)
    say(
        f"Case {case['case_ref']} removed from round {round_row.name!r}: its answers are kept but counted nowhere. "
        f"Undo with: caseaudit restore-case --round {round_row.name!r} {case['case_ref']}"
    )
    return 0


def cmd_restore_case(args) -> int:
    with _store(args) as store:
        round_row = store.round(args.round)
        case = store.restore_case(round_row, args.case, args.reason, by=args.auditor)
    say(f"Case {case['case_ref']} restored to round {round_row.name!r}: its answers count again.")
    return 0


def cmd_remove_round(args) -> int:
    with _store(args) as store:
        round_row = store.remove_round(store.round(args.round), args.reason, by=args.auditor)
    say(
        f"Round {round_row.name!r} removed: nothing in it is deleted; 'caseaudit rounds --removed' lists it. "
        f"Undo with: caseaudit restore-round --round {round_row.name!r}"
    )
    return 0


def cmd_restore_round(args) -> int:
    with _store(args) as store:
        round_row = store.restore_round(store.round(args.round, removed_ok=True), args.reason, by=args.auditor)
    say(f"Round {round_row.name!r} restored.")
    return 0


def cmd_set_unit(args) -> int:
    with _store(args) as store:
        before = store.round(args.round)
        after = store.change_unit(before, args.unit, by=args.auditor)
    if after.unit == before.unit:
        say(f"Round {after.name!r} already has the unit {after.unit!r}; nothing changed.")
    else:
        say(f"Round {after.name!r}: unit changed from {before.unit!r} to {after.unit!r} (recorded in its history).")
    return 0


def cmd_demo(args) -> int:
    from audit.demo import load_demo

    with _store(args) as store:
        for line in load_demo(store):
            say(line)
    say(f'Try: caseaudit summary --round "Newham 2022"   (database: {args.db})')
    return 0


def cmd_finalise(args) -> int:
    with _store(args) as store:
        finalised = store.finalise_round(store.round(args.round), by=args.auditor)
    say(f"Round {args.round!r} finalised by {finalised.finalised_by}; changes are refused until it is reopened with a reason.")
    return 0


def cmd_reopen(args) -> int:
    with _store(args) as store:
        store.reopen_round(store.round(args.round), args.reason, by=args.auditor)
    say(f"Round {args.round!r} reopened; the reason is recorded in its history.")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("rounds", help="list rounds with unit, framework, cases and progress")
    p.add_argument("--removed", action="store_true", help="list the removed rounds instead")
    p.set_defaults(handler=cmd_rounds)

    p = commands.add_parser("import", help="import a case sheet (CSV or XLSX) into a round")
    p.add_argument("sheet", type=Path)
    p.add_argument("--round", required=True, help="round name (created if new)")
    p.add_argument(
        "--unit",
        help="the PDU's name as reports print it: required for a new round; for an existing round, changes its unit (recorded)",
    )
    p.add_argument(
        "--framework", help="framework id for a new round (default: the shipped PDU framework; see 'caseaudit frameworks list')"
    )
    p.set_defaults(handler=cmd_import)

    p = commands.add_parser(
        "swap", help="replace a case found unsuitable with its stratum's next reserve (the reason is recorded)"
    )
    p.add_argument("--round", required=True)
    p.add_argument("case", help="the case reference of the unsuitable case")
    p.add_argument("--reason", required=True, help="why the case is unsuitable (recorded in the history)")
    p.set_defaults(handler=cmd_swap)

    p = commands.add_parser("remove-case", help="take a case out of a round (answers kept, counted nowhere; reversible)")
    p.add_argument("--round", required=True)
    p.add_argument("case", help="the case reference")
    p.add_argument("--reason", required=True, help="why (recorded in the case's history)")
    p.set_defaults(handler=cmd_remove_case)

    p = commands.add_parser("restore-case", help="bring a removed case back into its round")
    p.add_argument("--round", required=True)
    p.add_argument("case", help="the case reference")
    p.add_argument("--reason", help="why (recorded in the case's history)")
    p.set_defaults(handler=cmd_restore_case)

    p = commands.add_parser("remove-round", help="hide a round from the list (nothing deleted; reversible)")
    p.add_argument("--round", required=True)
    p.add_argument("--reason", required=True, help="why (recorded in the round's history)")
    p.set_defaults(handler=cmd_remove_round)

    p = commands.add_parser("restore-round", help="bring a removed round back into the list")
    p.add_argument("--round", required=True)
    p.add_argument("--reason", help="why (recorded in the round's history)")
    p.set_defaults(handler=cmd_restore_round)

    p = commands.add_parser("set-unit", help="change the unit a round's reports name (recorded)")
    p.add_argument("--round", required=True)
    p.add_argument("unit", help="the PDU's name as reports print it")
    p.set_defaults(handler=cmd_set_unit)

    p = commands.add_parser("demo", help="load the demo rounds 'Lewisham and Bromley 2022' and 'Newham 2022'")
    p.set_defaults(handler=cmd_demo)

    p = commands.add_parser("finalise", help="lock a round against changes")
    p.add_argument("--round", required=True)
    p.set_defaults(handler=cmd_finalise)

    p = commands.add_parser("reopen", help="reopen a finalised round (the reason is recorded)")
    p.add_argument("--round", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=cmd_reopen)
