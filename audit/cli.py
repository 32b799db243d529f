"""The ``caseaudit`` command line.

Problems the user can fix print one clear message and exit with status 2; the
TUI is imported only when it is launched, so summaries start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import CaseauditError

DB_ENV = "CASEAUDIT_DB"


def default_db_path() -> Path:
    """$CASEAUDIT_DB, else caseaudit.db in the user's data directory."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    import platformdirs

    return platformdirs.user_data_path("caseaudit", appauthor=False) / "caseaudit.db"


def _store(args):
    from .store import AuditStore

    return AuditStore.open(args.db)


# ------------------------------------------------------------------ commands
def cmd_import(args) -> int:
    from .sheets import import_sheet

    with _store(args) as store:
        result = import_sheet(store, args.sheet, args.round, unit=args.unit, framework_id=args.framework, auditor=args.auditor)
    verb = "created" if result.created_round else "updated"
    print(
        f"Round {result.round!r} {verb}: {result.cases_added} case(s) added, {result.cases_updated} updated, "
        f"{result.answers_changed} answer(s) recorded."
    )
    return 0


def cmd_answer(args) -> int:
    from .store import parse_answer_text

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
    state = "saved" if changed else "unchanged (already recorded)"
    print(f"{args.case_ref.upper()} {args.question}: {value_word} - {state}")
    return 0


def cmd_rate(args) -> int:
    from .store import parse_rating
    from .summary import case_supervision_ratings, summarise

    rating = parse_rating(args.rating)
    with _store(args) as store:
        summary = summarise(store, args.round)
        row = store.rate_standard(
            store.round(args.round),
            args.standard,
            rating,
            case_ratings=case_supervision_ratings(summary),
            evidence=args.evidence,
            override_reason=args.reason,
            rater=args.auditor,
        )
    extra = " (above the advisory cap; override reason recorded)" if row["override_reason"] else ""
    print(f"{args.standard} rated '{rating}'{extra}.")
    return 0


def cmd_summary(args) -> int:
    from .render import RENDERERS
    from .summary import summarise

    with _store(args) as store:
        summary = summarise(store, args.round)
    sys.stdout.write(RENDERERS[args.format](summary))
    return 0


def cmd_export(args) -> int:
    from .sheets import export_sheet

    with _store(args) as store:
        count = export_sheet(store, args.round, args.sheet)
    print(f"Exported {count} case(s) of {args.round!r} to {args.sheet} (readable by you only).")
    return 0


def cmd_rounds(args) -> int:
    with _store(args) as store:
        rounds = store.rounds()
    if not rounds:
        print("No rounds yet. Load the demo with 'caseaudit demo' or import a case sheet with 'caseaudit import'.")
        return 0
    print(f"{'Round':<30} {'Unit':<28} {'Framework':<28} {'Cases':>5} {'Done':>6}")
    for r in rounds:
        framework = f"{r['framework_id']} v{r['framework_version']}"
        state = " (finalised)" if r.get("finalised_at") else ""
        print(f"{r['name']:<30} {r['unit']:<28} {framework:<28} {r['cases']:>5} {r['progress'] * 100:>5.0f}%{state}")
    return 0


def cmd_demo(args) -> int:
    from .demo import load_demo

    with _store(args) as store:
        for line in load_demo(store):
            print(line)
    print(f"Try: caseaudit summary --round \"Newham 2022\"   (database: {args.db})")
    return 0


def cmd_tui(args) -> int:
    try:
        from .tui.app import run_app
    except ImportError as error:  # the TUI arrives with its own issue
        raise CaseauditError(f"the terminal UI is not available in this build ({error})") from None
    return run_app(args.db, round_name=getattr(args, "round", None), case_ref=getattr(args, "case", None))


def cmd_serve(args) -> int:
    import shlex

    from textual_serve.server import Server

    from .store import AuditStore

    AuditStore.open(args.db).close()  # refuse a bad database before serving anything
    command = " ".join(shlex.quote(part) for part in [sys.executable, "-m", "audit.cli", "--db", str(args.db)])
    print(f"Serving caseaudit on http://127.0.0.1:{args.port} (this computer only; no login, do not expose it).")
    Server(command, host="127.0.0.1", port=args.port, title="caseaudit").serve()
    return 0


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseaudit",
        description="Case-file audit scoring that mirrors HM Inspectorate of Probation's PDU inspection framework.",
    )
    parser.add_argument("--db", type=Path, default=None, help=f"database file (default: ${DB_ENV} or the user data directory)")
    parser.add_argument("--auditor", default=None, help="who is recording (default: $CASEAUDIT_AUDITOR or your login name)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser("import", help="import a case sheet (CSV or XLSX) into a round")
    p.add_argument("sheet", type=Path)
    p.add_argument("--round", required=True, help="round name (created if new)")
    p.add_argument("--unit", help="the PDU's name as reports print it (new rounds; default: the round name)")
    p.add_argument("--framework", help="framework id for a new round (default: hmip-probation-pdu-2021)")
    p.set_defaults(handler=cmd_import)

    p = commands.add_parser("answer", help="record one answer (Yes, No, N/A, or '' to clear)")
    p.add_argument("--round", required=True)
    p.add_argument("case_ref")
    p.add_argument("question", help="question id, e.g. 2.2.1 or 2.2.1a")
    p.add_argument("value", help="Yes, No, N/A (or 'N/A: reason'); '' clears")
    p.add_argument("--reason", help="why the question is not applicable")
    p.add_argument("--note", help="a note on this answer")
    p.set_defaults(handler=cmd_answer)

    p = commands.add_parser("rate", help="record a domain-1 (organisational delivery) rating")
    p.add_argument("--round", required=True)
    p.add_argument("standard", help="1.1, 1.2, 1.3 or 1.4")
    p.add_argument("rating", help="Outstanding, Good, 'Requires improvement' or Inadequate")
    p.add_argument("--reason", help="why the rating goes above the advisory cap")
    p.add_argument("--evidence", help="the evidence for the rating")
    p.set_defaults(handler=cmd_rate)

    p = commands.add_parser("summary", help="the inspectorate's tables for a round")
    p.add_argument("--round", required=True)
    p.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    p.set_defaults(handler=cmd_summary)

    p = commands.add_parser("export", help="write a round's case sheet (CSV or XLSX)")
    p.add_argument("--round", required=True)
    p.add_argument("sheet", type=Path)
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser("rounds", help="list rounds with unit, framework, cases and progress")
    p.set_defaults(handler=cmd_rounds)

    p = commands.add_parser("demo", help="load the demo rounds 'Lewisham and Bromley 2022' and 'Newham 2022'")
    p.set_defaults(handler=cmd_demo)

    p = commands.add_parser("open", help="open the terminal UI at a round (and case)")
    p.add_argument("--round", required=True)
    p.add_argument("--case", help="case reference: open at its first unanswered question")
    p.set_defaults(handler=cmd_tui)

    p = commands.add_parser("serve", help="run the terminal UI in a browser, on 127.0.0.1 only")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(handler=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.db is None:
        args.db = default_db_path()
    handler = getattr(args, "handler", cmd_tui)
    try:
        return handler(args)
    except CaseauditError as error:
        print(f"caseaudit: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("caseaudit: interrupted; every answer already shown as saved is stored", file=sys.stderr)
        return 130


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
