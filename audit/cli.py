"""The ``caseaudit`` command line.

Problems the user can fix print one clear message and exit with status 2; the
TUI is imported only when it is launched, so summaries start fast.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from .errors import CaseauditError
from .safe_text import for_terminal, lines_for_terminal

DB_ENV = "CASEAUDIT_DB"


def default_db_path() -> Path:
    """$CASEAUDIT_DB, else caseaudit.db in the user's data directory."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    import platformdirs

    return platformdirs.user_data_path("caseaudit", appauthor=False) / "caseaudit.db"


def _store(args, *, readonly: bool = False, verify: bool = False):
    """The database for a command. ``readonly``: opened with SQLite's mode=ro; a missing database
    is refused and nothing (file or folder) is created. ``verify``: SQLite's quick check first, so
    figures are never drawn silently from a damaged file."""
    from .store import AuditStore

    store = AuditStore.open(args.db, readonly=readonly)
    if verify:
        try:
            store.verify_intact()
        except BaseException:
            store.close()
            raise
    return store


# ------------------------------------------------------------------ commands
def cmd_import(args) -> int:
    from .sheets import import_sheet

    with _store(args) as store:
        result = import_sheet(store, args.sheet, args.round, unit=args.unit, framework_id=args.framework, auditor=args.auditor)
    verb = "created" if result.created_round else "updated"
    say(
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
    say(f"{args.case_ref.upper()} {args.question}: {value_word} - {state}")
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
    say(f"{args.standard} rated '{rating}'{extra}.")
    return 0


def cmd_summary(args) -> int:
    from .render import RENDERERS
    from .summary import summarise

    with _store(args, readonly=True, verify=True) as store:
        summary = summarise(store, args.round)
    text = RENDERERS[args.format](summary)
    # table and Markdown hold framework and round text: shown safely; CSV and JSON escape their own
    sys.stdout.write(lines_for_terminal(text) if args.format in ("table", "markdown") else text)
    return 0


def cmd_export(args) -> int:
    from .sheets import export_sheet

    # --deidentify may write this database's secret salt the first time; otherwise read-only
    with _store(args, readonly=not args.deidentify, verify=True) as store:
        count = export_sheet(store, args.round, args.sheet, deidentify=args.deidentify, force=args.force)
    kind = " de-identified" if args.deidentify else ""
    say(f"Exported {count}{kind} case(s) of {args.round!r} to {args.sheet} (readable by you only).")
    return 0


def _change_text(value, reason, note) -> str:
    from .store import format_answer_text

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
    for h in changes:
        old = _change_text(h["old_value"], h["old_reason"], h["old_note"])
        new = _change_text(h["new_value"], h["new_reason"], h["new_note"])
        lines.append((h["changed_at"], f"{h['changed_at'][:19].replace('T', ' ')}  {h['auditor']:<14} {h['case_ref']} {h['question_id']:<10} {old} -> {new}  ({h['source']})"))
    for h in attributes:
        lines.append((h["changed_at"], f"{h['changed_at'][:19].replace('T', ' ')}  {h['changed_by']:<14} {h['case_ref']} {h['attribute']:<10} "
                                       f"{h['old_value'] or '(blank)'} -> {h['new_value'] or '(blank)'}  ({h['source']})"))
    for r in ratings:
        extra = f"; override: {r['override_reason']}" if r["override_reason"] else ""
        lines.append((r["changed_at"], f"{r['changed_at'][:19].replace('T', ' ')}  {r['rater']:<14} domain 1 {r['standard_id']:<9} {r['old_rating'] or '(none)'} -> {r['new_rating']}{extra}"))
    for e in events:
        why = f": {e['reason']}" if e["reason"] else ""
        lines.append((e["done_at"], f"{e['done_at'][:19].replace('T', ' ')}  {e['done_by']:<14} round {e['event']}{why}"))
    if not lines:
        say(f"No changes recorded yet in {args.round!r}" + (f" for {args.case.upper()}." if args.case else "."))
        return 0
    for _, line in sorted(lines, key=lambda item: item[0]):
        print(for_terminal(line))  # names, notes and reasons may hold escape sequences (typed, imported or merged)
    return 0


def cmd_finalise(args) -> int:
    with _store(args) as store:
        row = store.finalise_round(args.round, by=args.auditor)
    say(f"Round {args.round!r} finalised by {row['finalised_by']}; changes are refused until it is reopened with a reason.")
    return 0


def cmd_reopen(args) -> int:
    with _store(args) as store:
        store.reopen_round(args.round, args.reason, by=args.auditor)
    say(f"Round {args.round!r} reopened; the reason is recorded in its history.")
    return 0


def cmd_backup(args) -> int:
    from .errors import DatabaseReadOnly, DiskFull
    from .output_file import atomic_path, check_target
    from .store import backup_database, database_error

    target = args.path.expanduser()
    check_target(target, force=args.force, what="backup")  # a link, a folder or an existing file: refused untouched
    with _store(args, readonly=True) as store:  # refuses a bad or missing database before copying it
        source = store.path
    try:
        with atomic_path(target, force=args.force, what="backup") as temporary:  # never a partial or empty backup left behind
            backup_database(source, temporary, fresh=False)
    except sqlite3.Error as error:
        problem = database_error(error, target)
        if not isinstance(problem, (DiskFull, DatabaseReadOnly)):
            problem = database_error(error, source)  # reading the database went wrong, not writing the copy
        raise problem from None
    say(f"Backed up {source} to {target} (readable by you only). Merge it back later with 'caseaudit merge {target}'.")
    return 0


def cmd_merge(args) -> int:
    from .merge import merge_database

    with _store(args) as store:
        report = merge_database(store, args.other, by=args.auditor)
    for line in report.lines():
        say(line)
    return 0


def cmd_conflicts(args) -> int:
    with _store(args, readonly=True) as store:
        conflicts = store.conflicts(store.round(args.round), open_only=not args.all)
    if not conflicts:
        say(f"No {'' if args.all else 'open '}conflicts in {args.round!r}.")
        return 0
    for k in conflicts:
        subject = f"domain 1 {k['subject']}" if k["kind"] == "rating" else f"{k['case_ref']} {k['subject']}"
        ours = _change_text(k["our_value"], k["our_reason"], k["our_note"]) if k["kind"] == "answer" else (k["our_value"] or "(none)")
        theirs = _change_text(k["their_value"], k["their_reason"], k["their_note"]) if k["kind"] == "answer" else (k["their_value"] or "(none)")
        state = f"  resolved: kept {k['kept']} ({k['resolved_by']})" if k["resolved_at"] else ""
        our_by = f" ({k['our_by']})" if k["our_by"] else ""
        print(for_terminal(f"#{k['id']:<4} {subject:<20} ours: {ours}{our_by}  theirs: {theirs} ({k['their_by']}, {k['from_file']}){state}"))
    if not args.all:
        say("Settle each with: caseaudit resolve --round NAME ID ours|theirs")
    return 0


def cmd_resolve(args) -> int:
    with _store(args) as store:
        store.resolve_conflict(store.round(args.round), args.conflict, args.keep, by=args.auditor)
    say(f"Conflict #{args.conflict} resolved: kept {args.keep}. The choice is recorded in the history.")
    return 0


def cmd_check(args) -> int:
    from .store import check_database

    problems, path = check_database(args.db)
    if problems:
        say(f"{path}: {len(problems)} problem(s):")
        for problem in problems:
            say(f"  {problem}")
        return 1
    say(f"{path}: integrity ok, foreign keys ok, every answer matches its round's framework version.")
    return 0


def cmd_report(args) -> int:
    from .errors import InvalidValue
    from .output_file import check_target, write_output
    from .report import build_report, format_from_path, render_report

    fmt = args.format or format_from_path(args.output)
    if not fmt:
        raise InvalidValue(f"{args.output}: say --format html, xlsx or markdown (or end the file name in .html, .xlsx or .md)")
    check_target(args.output.expanduser(), force=args.force, what="report")  # before the work: refuse a link, a folder or an existing file
    with _store(args, readonly=True, verify=True) as store:
        report = build_report(store, args.round, compare_with=args.compare, case_level=(fmt == "xlsx" and not args.no_cases))
    progress = None
    if sys.stderr.isatty() and report.case_answers is not None and len(report.case_answers) > 2000:
        def progress(done: int, total: int) -> None:
            end = "\n" if done == total else ""
            print(f"\rWriting case-level answers: {done:,} of {total:,} cases", end=end, file=sys.stderr, flush=True)
    write_output(args.output.expanduser(), render_report(report, fmt, progress), force=args.force, what="report")
    flags = sum(len(b.flags) for b in report.breakdowns)
    say(
        f"Wrote the {fmt} report of {args.round!r} ({report.summary.cases} cases) to {args.output} (readable by you only): "
        f"score {report.summary.score}/{report.summary.max_score}, overall {report.summary.overall_rating or 'not yet rated'}; "
        f"{len(report.unsettled)} key question(s) not settled by this sample, {flags} breakdown flag(s)."
    )
    return 0


# the numbers samplesize accepts: a margin below 0.1 points needs millions of cases, and a
# confidence level outside 50-99.99% is not one a QA report would quote
MARGIN_POINTS = (0.1, 49.9)
CONFIDENCE_PER_CENT = (50.0, 99.99)


def _check_number(option: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    """Refuse NaN, infinities and numbers outside ``bounds`` (inclusive) with one clear line."""
    import math

    from .errors import InvalidValue

    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidValue(f"{option} {value:g}: give a number of {unit} from {low:g} to {high:g}")


def cmd_samplesize(args) -> int:
    from fractions import Fraction

    from .analysis import sample_size
    from .errors import InvalidValue
    from framework import load_framework

    _check_number("--margin", args.margin, MARGIN_POINTS, "percentage points")
    if args.confidence is not None:
        _check_number("--confidence", args.confidence, CONFIDENCE_PER_CENT, "per cent")
    level = load_framework().reporting.confidence_level if args.confidence is None else Fraction(str(args.confidence)) / 100
    try:
        result = sample_size(args.margin, level, args.population)
    except ValueError as error:
        raise InvalidValue(str(error)) from None
    confidence = f"{float(level) * 100:g}%"
    say(
        f"{result.cases} relevant cases keep every key question's {confidence} interval within "
        f"+/- {args.margin:g} percentage points (the worst case, 50% 'Yes')."
    )
    if result.population is not None:
        say(
            f"From a caseload of {result.population}, {result.cases_from_population} cases are enough "
            f"(finite-population correction)."
        )
    say("Cases where a question is not applicable do not count: sample more if many will be N/A.")
    return 0


def cmd_rounds(args) -> int:
    with _store(args, readonly=True) as store:
        rounds = store.rounds()
    if not rounds:
        say("No rounds yet. Load the demo with 'caseaudit demo' or import a case sheet with 'caseaudit import'.")
        return 0
    say(f"{'Round':<30} {'Unit':<28} {'Framework':<28} {'Cases':>5} {'Done':>6}")
    for r in rounds:
        framework = f"{r['framework_id']} v{r['framework_version']}"
        state = " (finalised)" if r.get("finalised_at") else ""
        done = "  n/a" if r["progress"] is None else f"{r['progress'] * 100:>5.0f}%"
        if r.get("framework_missing"):
            state += " (framework not available: add its definition to open this round)"
        print(for_terminal(f"{r['name']:<30} {r['unit']:<28} {framework:<28} {r['cases']:>5} {done}{state}"))
    return 0


def cmd_demo(args) -> int:
    from .demo import load_demo

    with _store(args) as store:
        for line in load_demo(store):
            say(line)
    say(f"Try: caseaudit summary --round \"Newham 2022\"   (database: {args.db})")
    return 0


def _launched_by_serve() -> bool:
    """textual-serve starts each session's app with Textual's web driver (its TEXTUAL_DRIVER)."""
    return "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")


def say(text: object = "", **options) -> None:
    """Print a line for the person at the terminal: any control character in it (from a stored
    name, a note, a file name, a framework's text) is shown as an escape, never obeyed."""
    print(lines_for_terminal(str(text)), **options)


def _in_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def cmd_tui(args) -> int:
    if not _launched_by_serve() and not _in_a_terminal():
        # without a terminal Textual would spin reading a closed or piped input
        raise CaseauditError("the terminal UI needs a terminal; run it in a terminal window, or use a command "
                             "(see 'caseaudit --help') or 'caseaudit serve' for the browser")
    try:
        from .tui.app import run_app
    except ImportError as error:  # the TUI arrives with its own issue
        raise CaseauditError(f"the terminal UI is not available in this build ({error})") from None
    return run_app(args.db, round_name=getattr(args, "round", None), case_ref=getattr(args, "case", None), auditor=args.auditor)


def cmd_serve(args) -> int:
    from .serve import serve
    from .store import AuditStore

    AuditStore.open(args.db).close()  # refuse a bad database before serving anything
    return serve(args.db.expanduser().resolve(), args.port, auditor_header=args.auditor_header)


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseaudit",
        description="Case-file audit scoring that mirrors HM Inspectorate of Probation's PDU inspection framework.",
    )
    parser.add_argument("--db", type=Path, default=None, help=f"database file (default: ${DB_ENV} or the user data directory)")
    parser.add_argument("--auditor", default=None, help="who is recording (default: $CASEAUDIT_AUDITOR or your login name)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .cli_frameworks import add_frameworks_commands
    add_frameworks_commands(commands)

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
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.set_defaults(handler=cmd_export)

    p.add_argument("--deidentify", action="store_true", help="salted hashes for case references; no notes, reasons, dates, ages or names")

    p = commands.add_parser("history", help="who changed which answer, when, old -> new")
    p.add_argument("--round", required=True)
    p.add_argument("--case", help="only this case")
    p.set_defaults(handler=cmd_history)

    p = commands.add_parser("finalise", help="lock a round against changes")
    p.add_argument("--round", required=True)
    p.set_defaults(handler=cmd_finalise)

    p = commands.add_parser("reopen", help="reopen a finalised round (the reason is recorded)")
    p.add_argument("--round", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=cmd_reopen)

    p = commands.add_parser("backup", help="copy the database safely while others write (to hand out or keep)")
    p.add_argument("path", type=Path)
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.set_defaults(handler=cmd_backup)

    p = commands.add_parser("merge", help="bring in another copy's rounds, cases, answers, notes and history")
    p.add_argument("other", type=Path, help="another caseaudit database (e.g. a colleague's backup)")
    p.set_defaults(handler=cmd_merge)

    p = commands.add_parser("conflicts", help="answers two merged copies disagree on")
    p.add_argument("--round", required=True)
    p.add_argument("--all", action="store_true", help="include resolved conflicts")
    p.set_defaults(handler=cmd_conflicts)

    p = commands.add_parser("resolve", help="settle a merge conflict by keeping ours or taking theirs")
    p.add_argument("--round", required=True)
    p.add_argument("conflict", type=int, help="the conflict number shown by 'caseaudit conflicts'")
    p.add_argument("keep", choices=["ours", "theirs"])
    p.set_defaults(handler=cmd_resolve)

    p = commands.add_parser("check", help="integrity, foreign keys and answers against the pinned framework (exit 1 on problems)")
    p.set_defaults(handler=cmd_check)

    p = commands.add_parser("report", help="the QA report (HTML, XLSX or Markdown): ratings, tables, breakdowns, precision, trend")
    p.add_argument("--round", required=True)
    p.add_argument("--format", choices=["html", "xlsx", "markdown"], help="default: from the file name")
    p.add_argument("-o", "--output", type=Path, required=True, help="the report file to write")
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.add_argument("--compare", metavar="EARLIER_ROUND", help="show the change since an earlier round")
    p.add_argument("--no-cases", action="store_true",
                   help="XLSX: leave out the case-level answers sheet (no case references in a report you share)")
    p.set_defaults(handler=cmd_report)

    p = commands.add_parser("samplesize", help="how many cases give a margin of error at 95%% confidence")
    p.add_argument("--margin", type=float, required=True, help="percentage points either side, e.g. 10")
    p.add_argument("--population", type=int, help="the caseload the sample is drawn from (optional)")
    p.add_argument("--confidence", type=float, help="confidence level in per cent (default: the framework's, 95)")
    p.set_defaults(handler=cmd_samplesize)

    p = commands.add_parser("rounds", help="list rounds with unit, framework, cases and progress")
    p.set_defaults(handler=cmd_rounds)

    p = commands.add_parser("demo", help="load the demo rounds 'Lewisham and Bromley 2022' and 'Newham 2022'")
    p.set_defaults(handler=cmd_demo)

    p = commands.add_parser("open", help="open the terminal UI at a round (and case)")
    p.add_argument("--round", required=True)
    p.add_argument("--case", help="case reference: open at its first unanswered question")
    p.set_defaults(handler=cmd_tui)

    p = commands.add_parser("serve", help="run the terminal UI in a browser, on 127.0.0.1 only")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port; the real one is printed)")
    p.add_argument("--auditor-header", metavar="HEADER",
                   help="behind your single-sign-on proxy only: take each session's auditor from this trusted request "
                        "header (connections without it are refused); without it each session asks who is auditing")
    p.set_defaults(handler=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.db is None:
        args.db = default_db_path()
    handler = getattr(args, "handler", cmd_tui)
    from . import store as store_module

    if handler is not cmd_tui and handler is not cmd_serve:
        store_module.busy_notice = _say_waiting
    try:
        from .output_file import protect_database
        from .store import auditor_name

        protect_database(Path(args.db).expanduser())

        if args.auditor is not None:
            args.auditor = auditor_name(args.auditor, "--auditor")
        elif os.environ.get("CASEAUDIT_AUDITOR", "").strip():
            auditor_name(os.environ["CASEAUDIT_AUDITOR"], "CASEAUDIT_AUDITOR")
        status = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:  # the reader went away (caseaudit history | head): stop quietly
        _stdout_to_devnull()
        return 1
    except CaseauditError as error:
        print(f"caseaudit: {lines_for_terminal(str(error))}", file=sys.stderr)
        return error.exit_status
    except MemoryError:  # a sheet (or anything else) too big for this machine: one line, never a traceback
        what = getattr(args, "sheet", None) or "the input"
        print(f"caseaudit: {lines_for_terminal(f'ran out of memory reading {what}')}", file=sys.stderr)
        return 2
    except (sqlite3.Error, OSError) as error:
        # every fault of the environment (disk full, read-only, locked, damaged, busy): one line, exit 2
        problem = store_module.database_error(error, args.db)
        print(f"caseaudit: {lines_for_terminal(str(problem))}", file=sys.stderr)
        return problem.exit_status
    except KeyboardInterrupt:
        print("caseaudit: interrupted; every answer already shown as saved is stored", file=sys.stderr)
        return 130
    finally:
        store_module.busy_notice = None


def _say_waiting(seconds: float) -> None:
    say(f"caseaudit: the database is busy with another auditor's or program's work; waiting up to {seconds:.0f} seconds...",
          file=sys.stderr, flush=True)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so Python's final flush does not fail again (the recipe in
    the signal module's documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to redirect
        pass


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
