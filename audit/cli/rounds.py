"""Rounds: list, import a case sheet, swap in a reserve, load the demo, finalise and reopen."""

from __future__ import annotations

import argparse
from pathlib import Path

from audit.cli.common import open_store as _store
from audit.cli.common import say
from audit.core.safe_text import for_terminal


def cmd_rounds(args) -> int:
    with _store(args, readonly=True) as store:
        rounds = store.rounds()
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
        print(for_terminal(f"{r['name']:<30} {r['unit']:<28} {framework:<28} {r['cases']:>5} {done}{state}"))
    return 0


def cmd_import(args) -> int:
    from audit.errors import UnknownRound
    from audit.sheets.case_sheet import import_sheet

    with _store(args) as store:
        try:
            target = store.round(args.round)
        except UnknownRound:
            target = args.round  # a new round, created by the import
        result = import_sheet(
            store, args.sheet, target, unit=args.unit, framework_id=args.framework, auditor=args.auditor, progress=_progress()
        )
    verb = "created" if result.created_round else "updated"
    say(
        f"Round {result.round!r} {verb}: {result.cases_added} case(s) added, {result.cases_updated} updated, "
        f"{result.answers_changed} answer(s) recorded."
    )
    if result.reserves:
        say(
            f"{len(result.reserves)} reserve case(s) stored as reserves (listed, not audited or counted; one comes in "
            f"for a case found unsuitable: caseaudit swap --round ROUND CASE --reason TEXT): {', '.join(result.reserves)}"
        )
    return 0


def _progress():
    """How far a long import has got, on stderr when it is a terminal: nothing for the first second
    (most sheets are read and written by then), then the rows read and the cases written."""
    import sys
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
    say(
        f"Case {case['case_ref']} swapped out of round {round_row.name!r} (stratum {reserve['stratum']!r}); "
        f"reserve {reserve['case_ref']} (draw {reserve['draw_order']}) comes in. The reason is recorded in its history."
    )
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
    p.set_defaults(handler=cmd_rounds)

    p = commands.add_parser("import", help="import a case sheet (CSV or XLSX) into a round")
    p.add_argument("sheet", type=Path)
    p.add_argument("--round", required=True, help="round name (created if new)")
    p.add_argument("--unit", help="the PDU's name as reports print it (new rounds; default: the round name)")
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

    p = commands.add_parser("demo", help="load the demo rounds 'Lewisham and Bromley 2022' and 'Newham 2022'")
    p.set_defaults(handler=cmd_demo)

    p = commands.add_parser("finalise", help="lock a round against changes")
    p.add_argument("--round", required=True)
    p.set_defaults(handler=cmd_finalise)

    p = commands.add_parser("reopen", help="reopen a finalised round (the reason is recorded)")
    p.add_argument("--round", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=cmd_reopen)
