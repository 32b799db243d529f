"""Case sheets in and out: CSV or XLSX, one row per case.

Columns: ``case_ref`` first, then case attributes, then one column per question
id (Yes / No / N/A / "N/A: reason", any case; blank for unanswered). A sheet
with only references and attributes is a case list to audit.

Reading validates everything first and reports problems by row and column;
writing happens only for a sheet without a single problem, in one transaction.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import cast

import attrs

from audit.core.answers import parse_answer_text
from audit.core.attributes import (
    ATTRIBUTE_COLUMNS,
    ATTRIBUTES_BY_COLUMN,
    InvalidAttribute,
    check_case_ref,
    check_sample_value,
    looks_like_identity,
    normalise_header,
)
from audit.core.safe_text import fits_xlsx, for_csv_cell
from audit.errors import InvalidValue, SheetError
from audit.output_file import atomic_output, check_target, write_output
from audit.sheets.rows import _Problems, column_letter, read_rows
from audit.store import AuditStore, Round, current_user, write_lock
from audit.store.case_table import CASE_REF_COLUMN, read_case_answer_table
from audit.store.importing import write_imported_cases
from framework import Answer, Framework, load_framework
from framework.load import DEFAULT_FRAMEWORK_ID, UnknownFramework

# told how far a long import has got: (stage, done, total or None)
Progress = Callable[[str, int, int | None], object]

# The columns `caseaudit sample` adds to a case list: on import they record how each case was drawn
# (its stratum and draw order, and whether it is a reserve), which the round keeps.
SAMPLE_COLUMNS = ("stratum", "reserve", "draw_order")


@attrs.frozen(kw_only=True)
class CaseRow:
    row: int  # the row number a spreadsheet shows (header is row 1)
    case_ref: str
    attributes: dict = attrs.field(factory=dict)
    answers: dict = attrs.field(factory=dict)  # question id -> (Answer, reason)
    stratum: str | None = None  # a sample file's draw: its stratum, draw order and reserve flag
    draw_order: str | None = None
    reserve: bool = False


@attrs.frozen(kw_only=True)
class CaseSheet:
    source: str
    attribute_columns: tuple[str, ...]
    question_columns: tuple[str, ...]
    cases: tuple[CaseRow, ...]
    # a sample file's reserve cases (its `reserve` column says Yes): they stand by for cases found
    # unsuitable, so an import stores them as reserves (listed, not audited or counted until swapped in)
    reserves: tuple[str, ...] = ()


# ------------------------------------------------------------------ validating
def parse_sheet(path: str | Path, framework: Framework, *, progress: Progress | None = None) -> CaseSheet:
    """The whole sheet, checked: SheetError lists the problems by row and column (the first 20).
    ``progress("reading", rows read, None)`` is called every 1,000 rows."""
    path = Path(path)
    source = str(path)
    rows = read_rows(path)
    try:
        header = next(rows)
    except StopIteration:
        raise SheetError(source, ["the file is empty: expected a header row starting with case_ref"]) from None
    while header and not header[-1].strip():
        header = header[:-1]
    problems = _Problems()
    if not header:
        raise SheetError(source, ["row 1: the header row is empty; expected case_ref, attribute columns, question ids"])
    columns: list[tuple[str, str]] = []  # (kind, key)
    seen: dict[str, str] = {}
    for index, raw in enumerate(header):
        letter = column_letter(index)
        name = raw.strip()
        normalised = normalise_header(name)
        where = f"row 1, column {letter} ({name or 'blank'})"
        if index == 0:
            if normalised not in (CASE_REF_COLUMN, "crn", "case_reference"):
                problems.add(f"{where}: the first column must be case_ref (the case reference)")
            columns.append(("case_ref", CASE_REF_COLUMN))
            continue
        if not name:
            problems.add(f"{where}: a column has no header")
            columns.append(("skip", ""))
            continue
        if looks_like_identity(name):
            problems.add(f"{where}: looks like personal identity data; caseaudit stores case references only, remove this column")
            columns.append(("skip", ""))
            continue
        if framework.has_question(name):
            kind, key = "question", name
        elif normalised in ATTRIBUTES_BY_COLUMN:
            kind, key = "attribute", normalised
        elif normalised == "reserve":
            kind, key = "reserve", normalised
        elif normalised in SAMPLE_COLUMNS:
            kind, key = "sample", normalised
        else:
            problems.add(
                f"{where}: unknown column; expected a case attribute ({', '.join(ATTRIBUTE_COLUMNS)})"
                f" or a question id of {framework.id} version {framework.version}"
            )
            columns.append(("skip", ""))
            continue
        if key in seen:
            problems.add(f"{where}: duplicate column (also column {seen[key]})")
            columns.append(("skip", ""))
            continue
        seen[key] = letter
        columns.append((kind, key))

    cases: list[CaseRow] = []
    reserves: list[str] = []
    first_row_of: dict[str, int] = {}
    width = len(columns)
    read_answer = _AnswerReader()
    for row_number, cells in enumerate(rows, start=2):
        if progress is not None and (row_number - 1) % 1000 == 0:  # rows before this one, read
            progress("reading", row_number - 1, None)
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            problems.add(f"row {row_number}, column {column_letter(width)}: a value beyond the last header column")
        if len(cells) < width:
            cells = [*cells, *([""] * (width - len(cells)))]
        attributes: dict[str, str] = {}
        answers: dict[str, tuple[Answer, str | None]] = {}
        case_ref = ""
        reserve = False
        sample: dict[str, str | None] = {}
        for index, (kind, key) in enumerate(columns):
            value = cells[index]
            try:
                if kind == "question":
                    if value:
                        answer = read_answer(value)
                        if answer[0] is not None:  # the one tuple per distinct cell, shared: a big sheet stays small
                            answers[key] = cast("tuple[Answer, str | None]", answer)
                elif kind == "case_ref":
                    case_ref = check_case_ref(value)
                elif kind == "reserve":
                    reserve = _reserve_flag(value)
                elif kind == "sample" and value.strip():
                    sample[key] = check_sample_value(key, value.strip())
                elif kind == "attribute" and value.strip():
                    attributes[key] = ATTRIBUTES_BY_COLUMN[key].parse(value)
            except (InvalidAttribute, InvalidValue) as error:
                problems.add(f"row {row_number}, column {column_letter(index)} ({header[index].strip()}): {error}")
        if case_ref:
            if case_ref in first_row_of:
                problems.add(
                    f"row {row_number}, column A (case_ref): duplicate case {case_ref} (first on row {first_row_of[case_ref]})"
                )
                continue
            first_row_of[case_ref] = row_number
            if reserve:
                if not sample.get("stratum"):  # a swap brings in a reserve of the same stratum: without one it never could
                    problems.add(f"row {row_number}: reserve case {case_ref} has no stratum; a reserve stands in for its stratum")
                reserves.append(case_ref)
            cases.append(
                CaseRow(
                    row=row_number,
                    case_ref=case_ref,
                    attributes=attributes,
                    answers=answers,
                    stratum=sample.get("stratum"),
                    draw_order=sample.get("draw_order"),
                    reserve=reserve,
                )
            )
    problems.raise_if_any(source)
    return CaseSheet(
        source=source,
        attribute_columns=tuple(k for kind, k in columns if kind == "attribute"),
        question_columns=tuple(k for kind, k in columns if kind == "question"),
        cases=tuple(cases),
        reserves=tuple(reserves),
    )


class _AnswerReader:
    """``parse_answer_text`` remembering what it read: a sheet holds a few distinct answers a million times."""

    KEPT = 10_000  # distinct cells remembered (N/A reasons can be many)

    def __init__(self) -> None:
        self.read: dict[str, tuple[Answer | None, str | None]] = {}

    def __call__(self, text: str) -> tuple[Answer | None, str | None]:
        try:
            return self.read[text]
        except KeyError:
            answer = parse_answer_text(text)  # InvalidValue for what is not an answer
            if len(self.read) < self.KEPT:
                self.read[text] = answer
            return answer


def _reserve_flag(value: str) -> bool:
    word = value.strip().lower()
    if word in ("", "no", "n"):
        return False
    if word in ("yes", "y"):
        return True
    raise InvalidValue(f"{value!r} is not Yes or No (Yes: a reserve case, kept in the round as a reserve)")


@attrs.frozen(kw_only=True)
class ImportResult:
    round: str  # its name, as the import wrote it
    round_id: str
    created_round: bool
    cases_added: int
    cases_updated: int
    answers_changed: int
    reserves: tuple[str, ...] = ()  # a sample file's reserve cases, stored as reserves


def import_sheet(
    store: AuditStore,
    path: str | Path,
    round_row: Round | str,
    *,
    unit: str | None = None,
    framework_id: str | None = None,
    auditor: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate the whole sheet, then write it in one transaction (all or nothing).

    ``progress(stage, done, total)``: "reading" every 1,000 rows (total None), then "writing" every
    1,000 cases (of the sheet's cases).

    ``round_row``: a ``Round`` to import into (by its id, whatever it is called by then), or the
    name of a round to create (DuplicateRound if that name is taken by the time it is written).
    Blank answer cells leave stored answers as they are: an import never erases work.
    """
    if isinstance(round_row, Round):
        if framework_id and framework_id != round_row.framework_id:
            raise InvalidValue(
                f"round {round_row.name!r} uses framework {round_row.framework_id}; it cannot import against {framework_id}"
            )
        framework = store.framework_for(round_row)
        store.check_writable(round_row)
    else:
        try:
            framework = load_framework(framework_id or DEFAULT_FRAMEWORK_ID)
        except UnknownFramework as error:
            raise InvalidValue(str(error)) from None
    sheet = parse_sheet(path, framework, progress=progress)
    auditor = auditor or current_user()
    created = False
    with write_lock(store.db):
        if isinstance(round_row, str):
            round_row = store.create_round(round_row, unit or round_row, framework.id, framework.version, created_by=auditor)
            created = True
        else:
            # asked again inside the write: a round finalised while the sheet was being read takes nothing
            round_row = store.round_by_id(round_row.id)
            store.check_writable(round_row)
        # every case, how it was drawn (checked against what it already holds before this sheet's answers
        # go in) and its answers, written in bulk; events with ids derived from what changed (importing.py)
        counts = write_imported_cases(
            store,
            round_row,
            sheet.cases,
            by=auditor,
            source=f"import:{Path(path).name}",
            progress=None if progress is None else lambda done, total: progress("writing", done, total),
        )
    return ImportResult(
        round=round_row.name,
        round_id=round_row.id,
        created_round=created,
        cases_added=counts.cases_added,
        cases_updated=counts.cases_updated,
        answers_changed=counts.answers_changed,
        reserves=sheet.reserves,
    )


# ------------------------------------------------------------------ writing
def _check_fits_xlsx(table, path: Path) -> None:
    """Refuse an XLSX export that would change a value: a cell holds at most 32,767 characters
    and no control characters, and an export must import back exactly (CSV holds anything)."""
    texts = set(table.words.values())
    for _, attributes, _ in table.cases:
        texts.update(attributes)
    for text in texts:
        if not fits_xlsx(text):
            what = f"{len(text):,} characters" if len(text) > 32_767 else "characters a spreadsheet cannot hold"
            raise InvalidValue(
                f"{path}: a value in this round ({text[:40]!r}...) has {what}; an XLSX cell would change it. "
                "Export as .csv instead"
            )


def export_sheet(store: AuditStore, round_row: Round, path: str | Path, *, deidentify: bool = False, force: bool = False) -> int:
    """Write the round's case sheet (CSV or XLSX by extension), owner-only. Returns the case count."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InvalidValue(f"{path}: export to .csv or .xlsx")
    check_target(path, force=force)  # a link, a folder or an existing file: refused before any work, untouched
    table = read_case_answer_table(store, round_row, deidentify=deidentify)
    workbook = None
    if suffix == ".xlsx":  # made before the file is touched: a round too big for Excel leaves no file behind
        from audit.reports.xlsx import case_sheet_workbook

        _check_fits_xlsx(table, path)
        workbook = case_sheet_workbook(table)
    # written beside the target and renamed into place: never a partial file, never through a link
    if suffix == ".csv":
        with atomic_output(path, force=force, text=True, encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.header)
            answer_cell = {code: for_csv_cell(text) for code, text in table.words.items()}.__getitem__
            for case_ref, attributes, codes in table.cases:
                writer.writerow([for_csv_cell(case_ref), *map(for_csv_cell, attributes), *map(answer_cell, codes)])
    else:
        assert workbook is not None  # made above for an .xlsx target
        write_output(path, workbook, force=force)
    return len(table)
