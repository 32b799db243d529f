"""Sample: draw a case sample from a caseload as the inspectorate draws one (or an SPO's dip sample)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from audit.cli.common import say

DEFAULT_BUFFER = 20  # reserves, as a percentage of the main sample
DEFAULT_CAP = 6  # cases per practitioner, reserves included


def _four_places(share) -> float:
    """A stratum's share of the caseload for JSON: four decimal places, halves up (never a float's long tail)."""
    from decimal import ROUND_HALF_UP, Decimal

    exact = Decimal(share.numerator) / Decimal(share.denominator)
    return float(exact.quantize(Decimal("0.0001"), ROUND_HALF_UP))


# The caseload columns besides the attributes the framework's strata name.
REQUIRED_COLUMNS = ("case_ref", "practitioner", "team")


def _date_argument(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (use YYYY-MM-DD)") from None


def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def read_caseload(path: Path, scheme) -> tuple[list, tuple[str, ...]]:
    """The caseload's cases and the attribute columns it carries, in caseaudit's order. The first
    problem (row and column named) raises InvalidValue: one line."""
    from audit.core.attributes import (
        ATTRIBUTE_COLUMNS,
        ATTRIBUTES_BY_COLUMN,
        InvalidAttribute,
        case_ref_pattern,
        check_case_ref,
        looks_like_identity,
        normalise_header,
    )
    from audit.core.sampling import CaseloadCase
    from audit.errors import InvalidValue, SheetError
    from audit.sheets.rows import column_letter, read_rows
    from audit.sheets.vocabulary import header_hint, read_attribute

    source = str(path)

    def refuse(problem: str) -> InvalidValue:
        return InvalidValue(f"{source}: {problem}")

    try:
        rows = read_rows(path)
        header = next(rows, None)
        if header is None:
            raise refuse("the file is empty: expected a header row with case_ref and the case attributes")
        while header and not header[-1].strip():
            header = header[:-1]
        columns: list[str] = []
        for index, raw in enumerate(header):
            name = raw.strip()
            where = f"row 1, column {column_letter(index)} ({name or 'blank'})"
            normalised = normalise_header(name)
            if normalised in ("crn", "case_reference"):
                normalised = "case_ref"
            if not name:
                raise refuse(f"{where}: a column has no header")
            if looks_like_identity(name):
                raise refuse(
                    f"{where}: looks like personal identity data; caseaudit stores case references only, remove this column"
                )
            if normalised != "case_ref" and normalised not in ATTRIBUTES_BY_COLUMN:
                hint = header_hint(name, ("case_ref", *ATTRIBUTE_COLUMNS))
                raise refuse(
                    f"{where}: unknown column{hint}; expected case_ref and case attributes ({', '.join(ATTRIBUTE_COLUMNS)})"
                )
            if normalised in columns:
                raise refuse(f"{where}: duplicate column (also column {column_letter(columns.index(normalised))})")
            columns.append(normalised)
        needed = [*REQUIRED_COLUMNS, scheme.start_field]
        for stratum in scheme.strata:
            needed += [column for column, _ in (*stratum.match, *stratum.unless)]
        missing = [c for c in dict.fromkeys(needed) if c not in columns]
        if missing:
            raise refuse(f"row 1: missing column(s) {', '.join(missing)}")
        cases = []
        pattern = case_ref_pattern()
        # a caseload repeats a few values a great many times: each distinct text is parsed once
        parsed: list[dict[str, str]] = [{} for _ in columns]
        dates: dict[str, dt.date] = {}
        width = len(columns)
        ref_index = columns.index("case_ref")
        attribute_indexes = [(i, c, parsed[i]) for i, c in enumerate(columns) if c != "case_ref"]
        for row_number, cells in enumerate(rows, start=2):
            if len(cells) != width:
                if len(cells) > width and "".join(cells[width:]).strip():
                    raise refuse(f"row {row_number}, column {column_letter(width)}: a value beyond the last header column")
                cells = (cells + [""] * width)[:width]
            if not "".join(cells).strip():
                continue
            values: dict[str, str] = {}
            index = ref_index
            try:
                case_ref = cells[index].strip().upper()
                if not pattern.fullmatch(case_ref):
                    case_ref = check_case_ref(cells[index])  # raises, saying why
                for index, column, cache in attribute_indexes:
                    value = cells[index]
                    known = cache.get(value)
                    if known is None:
                        known = cache[value] = read_attribute(column, value) if value.strip() else ""
                    if known:
                        values[column] = known
            except InvalidAttribute as error:
                raise refuse(f"row {row_number}, column {column_letter(index)} ({header[index].strip()}): {error}") from None
            start = values.get(scheme.start_field)
            if start and start not in dates:
                dates[start] = dt.date.fromisoformat(start)
            cases.append(
                CaseloadCase(
                    row=row_number,
                    case_ref=case_ref,
                    start_date=dates[start] if start else None,
                    practitioner=values.get("practitioner", ""),
                    team=values.get("team", ""),
                    attributes=values,
                )
            )
    except SheetError as error:  # unreadable file: its first problem, on one line
        more = f" (and {error.total - 1} more)" if error.total > 1 else ""
        raise refuse(f"{error.problems[0] if error.problems else 'cannot be read'}{more}") from None
    attribute_columns = tuple(c for c in ATTRIBUTE_COLUMNS if c in columns)
    return cases, attribute_columns


def sample_rows(sample, attribute_columns: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    """The sample as a case list `caseaudit import` reads: case_ref, attributes, stratum, reserve, draw_order."""
    from audit.sheets.case_sheet import SAMPLE_COLUMNS

    header = ["case_ref", *attribute_columns, *SAMPLE_COLUMNS]
    rows = []
    for drawn in sample.cases:
        attributes = drawn.case.attribute_map()
        rows.append(
            [
                drawn.case.case_ref,
                *(attributes.get(c, "") for c in attribute_columns),
                drawn.stratum,
                "Yes" if drawn.reserve else "No",
                str(drawn.draw_order),
            ]
        )
    return header, rows


def write_sample(path: Path, header: list[str], rows: list[list[str]], *, force: bool) -> None:
    import csv

    from audit.core.safe_text import for_csv_cell
    from audit.errors import InvalidValue
    from audit.output_file import atomic_output, check_target, write_output

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InvalidValue(f"{path}: write the sample to .csv or .xlsx")
    check_target(path, force=force)
    if suffix == ".csv":
        with atomic_output(path, force=force, text=True, encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in rows:
                writer.writerow([for_csv_cell(cell) for cell in row])
        return
    import io

    from openpyxl import Workbook

    from audit.reports.xlsx import text_cell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Sample")
    for row in [header, *rows]:
        sheet.append([text_cell(sheet, cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    write_output(path, buffer.getvalue(), force=force)


def sample_json(sample) -> dict:
    return {
        "size": sample.size,
        "buffer": sample.buffer,
        "seed": sample.seed,
        "max_per_practitioner": sample.cap,
        "per_practitioner": sample.per_practitioner,
        "strata": [
            {
                "stratum": s.stratum,
                "name": s.name,
                "population": s.population,
                "share": _four_places(s.share),
                "sample": s.sample,
                "reserve": s.reserve,
                "dropped": s.dropped,
            }
            for s in sample.strata
        ],
        "cases": [
            {"case_ref": d.case.case_ref, "stratum": d.stratum, "reserve": d.reserve, "draw_order": d.draw_order}
            for d in sample.cases
        ],
        "excluded": [{"case_ref": e.case_ref, "row": e.row, "reason": e.reason} for e in sample.excluded],
    }


def _say_table(sample, output: Path) -> None:
    from framework.rules import round_half_up

    if sample.per_practitioner is not None:
        say(f"Dip sample: {sample.per_practitioner} case(s) per practitioner, seed {sample.seed}")
    else:
        cap = "no cap" if sample.cap is None else f"at most {sample.cap} per practitioner"
        say(f"Sample of {sample.size} with a {sample.buffer}% buffer, {cap}, seed {sample.seed}")
    say(f"{'Stratum':<28} {'Population':>10} {'Share':>6} {'Sample':>6} {'Reserve':>7}")
    for s in sample.strata:
        say(f"{s.stratum:<28} {s.population:>10} {round_half_up(s.share * 100):>5}% {s.sample:>6} {s.reserve:>7}")
    main = sum(s.sample for s in sample.strata)
    reserves = sum(s.reserve for s in sample.strata)
    say(f"{'Total':<28} {sum(s.population for s in sample.strata):>10} {'':>6} {main:>6} {reserves:>7}")
    if sample.dropped:
        say(f"{sample.dropped} case(s) could not be placed under the per-practitioner cap and were dropped.")
    if sample.excluded:
        say(f"Excluded ({len(sample.excluded)}):")
        # one say() for them all: a caseload can exclude hundreds of thousands of cases
        say("\n".join(f"  {e.case_ref or '(no case reference)'} (row {e.row}): {e.reason}" for e in sample.excluded))
    say(f"Wrote {len(sample.cases)} case(s) to {output} (readable by you only); import it with 'caseaudit import'.")


def cmd_sample(args) -> int:
    import json
    import random

    from audit.core.sampling import Window, dip_sample, draw_sample
    from audit.errors import InvalidValue
    from framework import UnknownFramework, load_framework
    from framework.load import DEFAULT_FRAMEWORK_ID

    try:
        framework = load_framework(args.framework or DEFAULT_FRAMEWORK_ID)
    except UnknownFramework as error:
        raise InvalidValue(str(error)) from None
    if framework.sampling is None:
        raise InvalidValue(f"framework {framework.id} version {framework.version} defines no strata; it cannot draw a sample")
    if args.size is None and args.per_practitioner is None:
        raise InvalidValue("give --size N (a stratified sample) or --per-practitioner K (a dip sample)")
    if args.size is not None and args.per_practitioner is not None:
        raise InvalidValue("give either --size or --per-practitioner, not both")
    if args.per_practitioner is not None and (args.buffer is not None or args.max_per_practitioner is not None):
        raise InvalidValue(
            "a dip sample (--per-practitioner K) takes K cases from each practitioner: it has no --buffer or --max-per-practitioner"
        )
    if args.started_from and args.started_to and args.started_from > args.started_to:
        raise InvalidValue(
            f"--started-from {args.started_from} is after --started-to {args.started_to}: no case could start in that window"
            " (give the earlier date first)"
        )
    buffer = DEFAULT_BUFFER if args.buffer is None else args.buffer
    cap = DEFAULT_CAP if args.max_per_practitioner is None else args.max_per_practitioner
    output = args.output.expanduser()
    from audit.output_file import check_target

    check_target(output, force=args.force)  # refused before the caseload is read
    if output.exists() and output.resolve() == args.caseload.expanduser().resolve():
        raise InvalidValue(f"{output}: this is the caseload being sampled; write the sample to another file")
    cases, attribute_columns = read_caseload(args.caseload.expanduser(), framework.sampling)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000_000)
    window = Window(today=dt.date.today(), started_from=args.started_from, started_to=args.started_to)
    if args.per_practitioner is not None:
        sample = dip_sample(cases, framework.sampling, per_practitioner=args.per_practitioner, window=window, seed=seed)
    else:
        sample = draw_sample(
            cases,
            framework.sampling,
            size=args.size,
            buffer=buffer,
            cap=cap,
            window=window,
            seed=seed,
        )
    header, rows = sample_rows(sample, attribute_columns)
    write_sample(output, header, rows, force=args.force)
    if args.format == "json":
        say(json.dumps(sample_json(sample), indent=2))
    else:
        _say_table(sample, output)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "sample",
        help="draw a case sample from a caseload as the inspectorate does (strata, buffer, per-practitioner cap)",
    )
    p.add_argument("caseload", type=Path, help="caseload CSV or XLSX: case_ref, gender, sentence_type, rosh_level, ...")
    p.add_argument("--size", type=_whole(1), help="cases in the main sample")
    p.add_argument("--buffer", type=_whole(0), help=f"reserves as a percentage of the size (default {DEFAULT_BUFFER})")
    p.add_argument(
        "--max-per-practitioner", type=_whole(1), help=f"cap per practitioner, reserves included (default {DEFAULT_CAP})"
    )
    p.add_argument("--seed", type=_whole(0), help="random seed (default: one is chosen and printed)")
    p.add_argument("--started-from", type=_date_argument, help="earliest start date (YYYY-MM-DD)")
    p.add_argument("--started-to", type=_date_argument, help="latest start date (default: today)")
    p.add_argument("--framework", help="framework whose strata to use (default: the shipped PDU framework)")
    p.add_argument("--per-practitioner", type=_whole(1), help="dip sample: K cases per practitioner instead of --size")
    p.add_argument("-o", "--output", type=Path, required=True, help="the sample: a case list (.csv or .xlsx) to import")
    p.add_argument("--force", action="store_true", help="replace the output file if it exists")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_sample)
