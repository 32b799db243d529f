"""Case sheets in and out: CSV or XLSX, one row per case.

Columns: ``case_ref`` (in any column; exports put it first), case attributes, and one column per
question id (matched without regard to case; Yes / No / N/A / "N/A: reason", any case; blank for
unanswered), each followed, when any of its answers has a note, by a ``note:QUESTION_ID`` column of
the notes. A sheet with only references and attributes is a case list to audit. Importing a notes
column sets each note given (recorded in the history like an answer); a blank note cell, like a blank
answer cell, leaves what is stored. Recorded values ("White British", "Level 2") are mapped through the
vocabulary in ``vocabulary.toml``; an unknown header is refused with a suggestion ("did you mean rosh_level?").

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
from audit.sheets.vocabulary import header_hint, read_attribute
from audit.store import AuditStore, Round, current_user
from audit.store.case_table import CASE_REF_COLUMN, NOTE_COLUMN_PREFIX, note_column, read_case_answer_table
from audit.store.database import _check_text_length, bulk_write
from audit.store.importing import write_imported_cases
from framework import Answer, Framework, load_framework
from framework.load import DEFAULT_FRAMEWORK_ID, UnknownFramework

# told how far a long import has got: (stage, done, total or None)
Progress = Callable[[str, int, int | None], object]

# The columns `caseaudit sample` adds to a case list: on import they record how each case was drawn
# (its stratum and draw order, and whether it is a reserve), which the round keeps.
SAMPLE_COLUMNS = ("stratum", "reserve", "draw_order")
CASE_REF_HEADERS = (CASE_REF_COLUMN, "crn", "case_reference")  # the case reference's column, wherever it is


@attrs.frozen(kw_only=True)
class CaseRow:
    row: int  # the row number a spreadsheet shows (header is row 1)
    case_ref: str
    attributes: dict = attrs.field(factory=dict)
    answers: dict = attrs.field(factory=dict)  # question id -> (Answer, reason)
    notes: dict = attrs.field(factory=dict)  # question id -> note (a blank note cell is left out: it erases nothing)
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
    # whether the sheet has any of the sample columns (stratum, reserve, draw_order): only a sample file says
    # how its cases were drawn. Any other sheet (an export, a case list) leaves each case's place in the
    # sample as it is, so a swapped-in reserve stays swapped in when the round's export is imported back.
    has_sample_columns: bool = False
    draw_order_column: str = ""  # the draw_order column's letter, for messages ("" when there is none)


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
    known_headers = (CASE_REF_COLUMN, *ATTRIBUTE_COLUMNS, *SAMPLE_COLUMNS, *framework.question_ids)
    if not any(normalise_header(raw) in CASE_REF_HEADERS for raw in header):
        problems.add("row 1: no case_ref column (the case reference); name the column holding it case_ref")
    for index, raw in enumerate(header):
        letter = column_letter(index)
        name = raw.strip()
        normalised = normalise_header(name)
        where = f"row 1, column {letter} ({name or 'blank'})"
        if normalised in CASE_REF_HEADERS:
            if CASE_REF_COLUMN in seen:
                problems.add(f"{where}: duplicate case reference column (also column {seen[CASE_REF_COLUMN]})")
                columns.append(("skip", ""))
            else:
                seen[CASE_REF_COLUMN] = letter
                columns.append(("case_ref", CASE_REF_COLUMN))
            continue
        if not name:
            problems.add(f"{where}: a column has no header")
            columns.append(("skip", ""))
            continue
        if name.lower().startswith(NOTE_COLUMN_PREFIX):  # "note:2.2.1a": the notes on a question's answers
            noted = framework.canonical_question_id(name[len(NOTE_COLUMN_PREFIX) :].strip())
            if noted is None:
                problems.add(
                    f"{where}: a notes column names no question of {framework.id} version {framework.version}"
                    f" (expected {NOTE_COLUMN_PREFIX}QUESTION_ID, e.g. {note_column(framework.question_ids[0])})"
                )
                columns.append(("skip", ""))
                continue
            kind, key = "note", note_column(noted)
            if key in seen:
                problems.add(f"{where}: duplicate column (also column {seen[key]})")
                columns.append(("skip", ""))
                continue
            seen[key] = letter
            columns.append((kind, key))
            continue
        if looks_like_identity(name):
            problems.add(f"{where}: looks like personal identity data; caseaudit stores case references only, remove this column")
            columns.append(("skip", ""))
            continue
        question_id = framework.canonical_question_id(name)
        if question_id is not None:
            kind, key = "question", question_id
        elif normalised in ATTRIBUTES_BY_COLUMN:
            kind, key = "attribute", normalised
        elif normalised == "reserve":
            kind, key = "reserve", normalised
        elif normalised == "stratum" and framework.sampling is None:
            problems.add(
                f"{where}: framework {framework.id} version {framework.version} defines no strata, so its rounds take no"
                " stratum column (a sample is drawn with a framework that has strata)"
            )
            columns.append(("skip", ""))
            continue
        elif normalised in SAMPLE_COLUMNS:
            kind, key = "sample", normalised
        else:
            problems.add(
                f"{where}: unknown column{header_hint(name, known_headers)}; expected a case attribute"
                f" ({', '.join(ATTRIBUTE_COLUMNS)}) or a question id of {framework.id} version {framework.version}"
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
    stratum_of = _stratum_reader(framework)
    drawn_at: dict[str, tuple[int, str]] = {}  # draw order -> (row, case) that gave it first
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
        notes: dict[str, str] = {}
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
                elif kind == "sample" and key == "stratum" and value.strip():
                    sample[key] = stratum_of(value)
                elif kind == "sample" and value.strip():
                    sample[key] = check_sample_value(key, value.strip())
                elif kind == "attribute" and value.strip():
                    attributes[key] = read_attribute(key, value)  # through the recorded-values vocabulary
                elif kind == "note" and value.strip():
                    _check_text_length(value, "note")
                    notes[key[len(NOTE_COLUMN_PREFIX) :]] = value
            except (InvalidAttribute, InvalidValue) as error:
                problems.add(f"row {row_number}, column {column_letter(index)} ({header[index].strip()}): {error}")
        if case_ref:
            if case_ref in first_row_of:
                problems.add(
                    f"row {row_number}, column {seen[CASE_REF_COLUMN]} (case_ref): duplicate case {case_ref}"
                    f" (first on row {first_row_of[case_ref]})"
                )
                continue
            first_row_of[case_ref] = row_number
            order = sample.get("draw_order")
            if order is not None:  # each case has its own draw order: a swap brings in the lowest of its stratum
                if order in drawn_at:
                    first_row, first_case = drawn_at[order]
                    problems.add(
                        f"row {row_number}, column {seen['draw_order']} (draw_order): draw order {order} is also case "
                        f"{first_case}'s (row {first_row}); each case in a sample has its own draw order"
                    )
                else:
                    drawn_at[order] = (row_number, case_ref)
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
                    notes=notes,
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
        has_sample_columns=any(kind in ("sample", "reserve") for kind, _ in columns),
        draw_order_column=seen.get("draw_order", ""),
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


def _stratum_reader(framework: Framework):
    """A stratum cell as the framework names it: one of its strata (by id, or by name), matched without regard
    to case and stored as the stratum's id, so "Female" and "FEMALE" are the one stratum a swap draws from."""
    strata = framework.sampling.strata if framework.sampling is not None else ()
    known = {s.id.casefold(): s.id for s in strata} | {s.name.casefold(): s.id for s in strata}

    def read(value: str) -> str:
        try:
            return known[value.strip().casefold()]
        except KeyError:
            raise InvalidValue(
                f"{value.strip()!r} is not a stratum of {framework.id} version {framework.version}"
                f" ({', '.join(s.id for s in strata)})"
            ) from None

    return read


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
    cases_updated: int  # cases of the sheet already in the round (whether or not anything about them changed)
    answers_changed: int
    reserves: tuple[str, ...] = ()  # a sample file's reserve cases, stored as reserves
    cases_changed: int = 0  # cases already in the round whose attributes (or how they were drawn) changed
    unit_changed: tuple[str, str] | None = None  # (old, new) when --unit changed an existing round's unit

    def lines(self) -> list[str]:
        """What the import changed, in words: re-importing an unchanged sheet says nothing changed."""
        if self.created_round:
            out = [f"Round {self.round!r} created: {self.cases_added} case(s) added, {self.answers_changed} answer(s) recorded."]
        elif not (self.cases_added or self.cases_changed or self.answers_changed or self.unit_changed):
            out = [f"Round {self.round!r}: nothing changed ({self.cases_updated} case(s) in the sheet, all as already stored)."]
        else:
            out = [
                f"Round {self.round!r} updated: {self.cases_added} case(s) added, {self.cases_changed} case(s) with "
                f"changed attributes, {self.answers_changed} answer(s) changed ({self.cases_updated} case(s) were already in it)."
            ]
        if self.unit_changed:
            out.append(f"Its unit changed from {self.unit_changed[0]!r} to {self.unit_changed[1]!r} (recorded in its history).")
        if self.reserves:
            out.append(
                f"{len(self.reserves)} reserve case(s) stored as reserves (listed, not audited or counted; one comes in "
                f"for a case found unsuitable: caseaudit swap --round ROUND CASE --reason TEXT): {', '.join(self.reserves)}"
            )
        return out


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

    ``unit``: required for a new round; for an existing round a different unit is a change of its unit
    (a round event, within the same transaction), or refused with the reason (a finalised round).
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
    if isinstance(round_row, str) and not (unit or "").strip():
        raise InvalidValue(
            f"round {round_row!r} is new: give its unit with --unit (the PDU's name, as reports print it, e.g. --unit 'Newham PDU')"
        )
    auditor = auditor or current_user()
    created = False
    unit_changed: tuple[str, str] | None = None
    with bulk_write(store.db):  # foreign keys not looked up row by row: every case id is the round's own
        if isinstance(round_row, str):
            round_row = store.create_round(round_row, unit or "", framework.id, framework.version, created_by=auditor)
            created = True
        else:
            # asked again inside the write: a round finalised while the sheet was being read takes nothing
            round_row = store.round_by_id(round_row.id)
            store.check_writable(round_row)
            if unit is not None and unit.strip() != round_row.unit:
                before = round_row.unit
                round_row = store.change_unit(round_row, unit, by=auditor)
                unit_changed = (before, round_row.unit)
        _refuse_removed_cases(store, round_row, sheet)
        _refuse_draw_orders_taken(store, round_row, sheet)
        # every case, how it was drawn (checked against what it already holds before this sheet's answers
        # go in), its answers and notes, written in bulk; events with ids derived from what changed (importing.py)
        counts = write_imported_cases(
            store,
            round_row,
            sheet.cases,
            by=auditor,
            source=f"import:{Path(path).name}",
            sample_columns=sheet.has_sample_columns,
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
        cases_changed=counts.cases_changed,
        unit_changed=unit_changed,
    )


def _refuse_removed_cases(store: AuditStore, round_row: Round, sheet: CaseSheet) -> None:
    """Within the import's write, before anything is written: a sheet naming a case removed from the round
    is refused (restore the case, or take its row out): an import never brings a removed case back unasked."""
    removed = {
        r["case_ref"] for r in store.db.query("SELECT case_ref FROM cases WHERE round_id = ? AND removed = 'Yes'", [round_row.id])
    }
    named = [case for case in sheet.cases if case.case_ref in removed]
    if named:
        first = named[0]
        more = f" (and {len(named) - 1} more removed case(s))" if len(named) > 1 else ""
        raise InvalidValue(
            f"{sheet.source}: row {first.row}: case {first.case_ref} was removed from round {round_row.name!r}{more}; "
            f"restore it first (caseaudit restore-case --round {round_row.name!r} {first.case_ref}) or take its row out; "
            "nothing was imported"
        )


def _refuse_draw_orders_taken(store: AuditStore, round_row: Round, sheet: CaseSheet) -> None:
    """Within the import's write, before anything is written: a sheet giving a case a draw order another case of
    the round already has (one the sheet does not name) is refused: each case in a round has its own draw order,
    and a swap brings in the reserve with the lowest."""
    given = {case.draw_order: case for case in sheet.cases if case.draw_order is not None}
    if not given:
        return
    named = {case.case_ref for case in sheet.cases}
    for held in store.db.query(
        "SELECT case_ref, draw_order FROM cases WHERE round_id = ? AND draw_order IS NOT NULL ORDER BY draw_order, case_ref",
        [round_row.id],
    ):
        case = given.get(str(held["draw_order"]))
        if case is not None and held["case_ref"] != case.case_ref and held["case_ref"] not in named:
            raise InvalidValue(
                f"{sheet.source}: row {case.row}, column {sheet.draw_order_column} (draw_order): draw order {case.draw_order} "
                f"is already case {held['case_ref']}'s in round {round_row.name!r}; each case in a round has its own draw "
                "order. Nothing was imported"
            )


# ------------------------------------------------------------------ writing
def _check_fits_xlsx(table, path: Path) -> None:
    """Refuse an XLSX export that would change a value: a cell holds at most 32,767 characters
    and no control characters, and an export must import back exactly (CSV holds anything)."""
    texts = set(table.words.values())
    for _, attributes, _ in table.cases:
        texts.update(attributes)
    for notes in table.notes.values():
        texts.update(notes.values())
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
            noted = bool(table.note_places)
            for case_ref, attributes, codes in table.cases:
                answers = list(map(answer_cell, codes))
                if noted:
                    answers = table.with_notes(case_ref, answers, for_csv_cell, "")
                writer.writerow([for_csv_cell(case_ref), *map(for_csv_cell, attributes), *answers])
    else:
        assert workbook is not None  # made above for an .xlsx target
        write_output(path, workbook, force=force)
    return len(table)
