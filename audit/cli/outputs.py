"""What leaves caseaudit: the summary tables, the QA report, case sheets, and the sample size."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audit.cli.common import open_store as _store
from audit.cli.common import say
from audit.core.safe_text import lines_for_terminal
from audit.reports.formats import REPORT_FORMATS, SUMMARY_FORMATS


def cmd_summary(args) -> int:
    from audit.reports.formats import render_summary
    from audit.store.figures import summarise

    with _store(args, readonly=True, verify=True) as store:
        summary = summarise(store, store.round(args.round), with_judgement_checks=True)
    text = render_summary(summary, args.format)
    # table and Markdown hold framework and round text: shown safely; CSV and JSON escape their own
    sys.stdout.write(lines_for_terminal(text) if args.format in ("table", "markdown") else text)
    return 0


def cmd_report(args) -> int:
    from audit.errors import InvalidValue
    from audit.output_file import check_target, write_output
    from audit.reports.formats import render_report, report_format_from_path
    from audit.reports.model import build_report

    fmt = args.format or report_format_from_path(args.output)
    if not fmt:
        raise InvalidValue(f"{args.output}: say --format html, xlsx or markdown (or end the file name in .html, .xlsx or .md)")
    check_target(
        args.output.expanduser(), force=args.force, what="report"
    )  # before the work: refuse a link, a folder or an existing file
    with _store(args, readonly=True, verify=True) as store:
        earlier = store.round(args.compare) if args.compare else None
        report = build_report(
            store,
            store.round(args.round),
            compare_with=earlier,
            case_level=(fmt == "xlsx" and not args.no_cases),
            notes=args.notes,
            breakdowns=not args.no_breakdowns,
            case_refs=not args.no_cases,
        )
    if report.compare_warning:
        print(f"caseaudit: warning: {lines_for_terminal(report.compare_warning)}", file=sys.stderr)
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


def cmd_export(args) -> int:
    from audit.sheets.case_sheet import export_sheet

    # --deidentify may write this database's secret salt the first time; otherwise read-only
    with _store(args, readonly=not args.deidentify, verify=True) as store:
        count = export_sheet(store, store.round(args.round), args.sheet, deidentify=args.deidentify, force=args.force)
    kind = " de-identified" if args.deidentify else ""
    say(f"Exported {count}{kind} case(s) of {args.round!r} to {args.sheet} (readable by you only).")
    return 0


MARGIN_POINTS = (0.1, 49.9)


CONFIDENCE_PER_CENT = (50.0, 99.99)


def _check_number(option: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    """Refuse NaN, infinities and numbers outside ``bounds`` (inclusive) with one clear line."""
    import math

    from audit.errors import InvalidValue

    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidValue(f"{option} {value:g}: give a number of {unit} from {low:g} to {high:g}")


def cmd_samplesize(args) -> int:
    from fractions import Fraction

    from audit.core.analysis import sample_size
    from audit.errors import InvalidValue
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("summary", help="the inspectorate's tables for a round")
    p.add_argument("--round", required=True)
    p.add_argument("--format", choices=list(SUMMARY_FORMATS), default="table")
    p.set_defaults(handler=cmd_summary)

    p = commands.add_parser(
        "report", help="the QA report (HTML, XLSX or Markdown): ratings, tables, breakdowns, precision, trend"
    )
    p.add_argument("--round", required=True)
    p.add_argument("--format", choices=list(REPORT_FORMATS), help="default: from the file name")
    p.add_argument("-o", "--output", type=Path, required=True, help="the report file to write")
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.add_argument("--compare", metavar="EARLIER_ROUND", help="show the change since an earlier round")
    p.add_argument(
        "--no-cases",
        action="store_true",
        help="no case reference in the report (to share it): no case-level answers sheet or notes, "
        "judgements to review counted per key question",
    )
    p.add_argument(
        "--notes",
        action="store_true",
        help="HTML and Markdown: add an appendix of every note on an answer, with its case and auditor "
        "(an XLSX report's case-level sheet always carries the notes)",
    )
    p.add_argument(
        "--no-breakdowns", action="store_true", help="leave out the breakdowns by case attributes (an appendix otherwise)"
    )
    p.set_defaults(handler=cmd_report)

    p = commands.add_parser("export", help="write a round's case sheet (CSV or XLSX)")
    p.add_argument("--round", required=True)
    p.add_argument("sheet", type=Path)
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    p.set_defaults(handler=cmd_export)

    p.add_argument(
        "--deidentify", action="store_true", help="salted hashes for case references; no notes, reasons, dates, ages or names"
    )

    p = commands.add_parser("samplesize", help="how many cases give a margin of error at 95%% confidence")
    p.add_argument("--margin", type=float, required=True, help="percentage points either side, e.g. 10")
    p.add_argument("--population", type=int, help="the caseload the sample is drawn from (optional)")
    p.add_argument("--confidence", type=float, help="confidence level in per cent (default: the framework's, 95)")
    p.set_defaults(handler=cmd_samplesize)
