"""The report as an Excel workbook: ratings, key questions, prompts, breakdowns, trend, case-level answers.

Percentages are stored as numbers (0.45) formatted as percentages, so they sort,
filter and chart; every sheet has a frozen header row and filters. Written in
openpyxl's write-only (streaming) mode, except the rows of the case-level sheet
(see ``case_row_chunks``).
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from audit.core.safe_text import for_xlsx
from audit.core.summary import rating_word
from audit.errors import InvalidValue
from audit.reports.model import Report, cap_sentence, judgement_check_counts, prompt_sentence
from audit.store.case_table import CaseAnswerTable

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="F3F5F7")
PERCENT = "0%"


def text_cell(ws, text: str, **style) -> WriteOnlyCell:
    """A cell holding ``text`` as a string, whatever it starts with: openpyxl would store a text
    beginning with "=" as a formula (run when the workbook is opened), so the type is forced."""
    cell = WriteOnlyCell(ws, value=for_xlsx(text))
    cell.data_type = "s"
    for name, value in style.items():
        setattr(cell, name, value)
    return cell


class _Sheet:
    """A streaming sheet: bold header, frozen header row, filter over the data, column widths."""

    def __init__(
        self, workbook: Workbook, title: str, header: list[str], widths: list[int] | None = None, freeze_panes: str = "A2"
    ):
        self.ws = workbook.create_sheet(title)
        self.header = header
        self.rows = 0
        for index, width in enumerate(widths or [], start=1):
            self.ws.column_dimensions[get_column_letter(index)].width = width
        self.ws.freeze_panes = freeze_panes
        print_setup(self.ws, wide=len(header) > 6 or sum(widths or []) > PORTRAIT_WIDTH)
        alignment = Alignment(wrap_text=True, vertical="top")
        self.ws.append([text_cell(self.ws, name, font=HEADER_FONT, fill=HEADER_FILL, alignment=alignment) for name in header])

    def append(self, values: list, percent_columns: tuple[int, ...] = ()) -> None:
        values = [text_cell(self.ws, v) if isinstance(v, str) else v for v in values]
        if percent_columns:
            row = []
            for index, value in enumerate(values):
                if index in percent_columns and value is not None:
                    cell = WriteOnlyCell(self.ws, value=value)
                    cell.number_format = PERCENT
                    row.append(cell)
                else:
                    row.append(value)
            values = row
        self.ws.append(values)
        self.rows += 1

    def finish(self) -> None:
        last = get_column_letter(max(len(self.header), 1))
        self.ws.auto_filter.ref = f"A1:{last}{self.rows + 1}"


PORTRAIT_WIDTH = 110  # column widths (characters) an A4 portrait page holds at a readable size


def print_setup(ws, *, wide: bool) -> None:
    """How a sheet prints: A4, landscape when wide, scaled to the page's width (as many pages down
    as it needs), the header row on every page. Set before any row is written: the sheet's
    properties are the first thing streamed out."""
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if wide else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"


def _fraction(yes: int, relevant: int) -> float | None:
    return yes / relevant if relevant else None


def render_xlsx(report: Report, progress: Callable[[int, int], None] | None = None) -> bytes:
    """The workbook's bytes. ``progress(done, total)`` is called while the case-level sheet is written."""
    summary = report.summary
    workbook = Workbook(write_only=True)

    ratings = _Sheet(workbook, "Ratings", ["Standard", "Name", "Rating", "Evidence", "Override or cap"], [10, 34, 26, 60, 60])
    for s in summary.standards:
        ratings.append([s.id, s.name, rating_word(s), s.evidence or "", cap_sentence(s)])
    ratings.append(
        [
            "Score",
            f"{summary.score}/{summary.max_score}",
            summary.overall_rating.value if summary.overall_rating else "Not yet rated",
            "",
            "",
        ]
    )
    ratings.finish()

    level = f"{float(summary.framework.reporting.confidence_level) * 100:.0f}%"
    key_questions = _Sheet(
        workbook,
        "Key questions",
        [
            "Standard",
            "Standard rating",
            "Key question",
            "Text",
            "Yes",
            "No",
            "Not applicable",
            "Unanswered",
            "Percentage 'Yes'",
            f"{level} interval low",
            f"{level} interval high",
            "Band",
            "Rating not settled by this sample",
            "Lowest key question sentence",
        ],
        [9, 22, 11, 60, 6, 6, 8, 8, 11, 11, 11, 20, 12, 60],
    )
    for s in report.case_standards:
        for kq in s.key_questions:
            c = kq.counts
            interval = report.interval(kq)
            key_questions.append(
                [
                    s.id,
                    rating_word(s),
                    kq.id,
                    kq.text,
                    c.yes,
                    c.no,
                    c.not_applicable,
                    c.unanswered,
                    kq.percent / 100 if kq.percent is not None else None,
                    interval.low / 100 if interval else None,
                    interval.high / 100 if interval else None,
                    kq.banding.rating.value if kq.banding else "",
                    "Yes" if kq.id in report.unsettled else "",
                    s.sentence if kq.id in s.lowest else "",
                ],
                percent_columns=(8, 9, 10),
            )
    key_questions.finish()

    prompts = _Sheet(
        workbook,
        "Prompts",
        [
            "Standard",
            "Key question",
            "Question",
            "Kind",
            "Text",
            "Yes",
            "Relevant cases",
            "Percentage 'Yes'",
            "In the reports' words",
        ],
        [9, 11, 11, 10, 70, 6, 9, 11, 40],
    )
    for s in report.case_standards:
        for kq in s.key_questions:
            for kind, items in (("prompt", kq.prompts), ("data item", kq.data_items)):
                for q in items:
                    prompts.append(
                        [
                            s.id,
                            kq.id,
                            q.id,
                            kind,
                            q.text,
                            q.counts.yes,
                            q.counts.relevant,
                            q.percent / 100 if q.percent is not None else None,
                            prompt_sentence(q),
                        ],
                        percent_columns=(7,),
                    )
    prompts.finish()

    breakdowns = _Sheet(
        workbook,
        "Breakdowns",
        ["Breakdown", "Group", "Cases", "Key question", "Yes", "Relevant cases", "Percentage 'Yes'", "Differs from the rest"],
        [40, 34, 8, 11, 6, 9, 11, 60],
    )
    for breakdown in report.breakdowns:
        for group in breakdown.groups:
            for kq_id, counts in group.counts.items():
                flag = breakdown.flagged(group.label, kq_id)
                breakdowns.append(
                    [
                        breakdown.label,
                        group.label,
                        group.cases,
                        kq_id,
                        counts.yes,
                        counts.relevant,
                        _fraction(counts.yes, counts.relevant) if counts.relevant else None,
                        flag.sentence() if flag else "",
                    ],
                    percent_columns=(6,),
                )
    breakdowns.finish()

    if report.comparison:
        comparison = report.comparison
        trend = _Sheet(
            workbook,
            "Trend",
            [
                "Key question",
                comparison.earlier_round,  # its percentage "Yes"; the round's own name heads its column
                summary.round,
                "Change (points)",
                f"Band in {comparison.earlier_round}",
                f"Band in {summary.round}",
            ],
            [11, 18, 18, 10, 22, 22],
        )
        for k in comparison.key_questions:
            trend.append(
                [
                    k.id,
                    k.before / 100 if k.before is not None else None,
                    k.now / 100 if k.now is not None else None,
                    k.points,
                    k.band_before.value if k.band_before else "",
                    k.band_now.value if k.band_now else "",
                ],
                percent_columns=(1, 2),
            )
        trend.finish()

    if report.sample:
        drawn = _Sheet(
            workbook,
            "Sample",
            ["Stratum", "Cases in the sample", "Reserves used", "Swaps", "Reserves not used", "Cases short"],
            [40, 18, 14, 10, 18, 12],
        )
        for stratum in (*report.sample.strata, report.sample.total):
            drawn.append(
                [
                    stratum.stratum,
                    stratum.in_sample,
                    stratum.reserves_used,
                    stratum.swaps,
                    stratum.reserves_left,
                    stratum.short,
                ]
            )
        drawn.finish()

    if report.moderation:
        m = report.moderation
        moderation = _Sheet(
            workbook,
            "Moderation",
            ["Key question", "Text", "Compared", "Agreed", "Agreement", "Kappa", "Kappa words", "Second marking"],
            [13, 50, 10, 10, 11, 8, 16, 28],
        )
        rows = [(line, text) for line, text in m.key_questions] + [(m.overall, "Overall (all questions)")]
        for line, text in rows:
            moderation.append(
                [
                    line.id,
                    text,
                    line.compared,
                    line.agreed,
                    line.percent / 100 if line.percent is not None else None,
                    line.kappa.hundredths / 100 if line.kappa is not None else None,
                    m.kappa_text(line),
                    m.moderation_round,
                ],
                percent_columns=(4,),
            )
        moderation.finish()

    _judgement_checks_sheet(workbook, report)

    if report.case_answers is None:
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()
    return _with_case_sheet(workbook, report.case_answers, progress)


def _judgement_checks_sheet(workbook: Workbook, report: Report) -> None:
    """The key-question judgements that contradict every relevant prompt, to review (per key question,
    without case references, in a report to share)."""
    if not report.case_refs:
        counts = _Sheet(workbook, "Judgements to review", ["Key question", "Text", "Judgements to review"], [13, 70, 12])
        for kq_id, text, count in judgement_check_counts(report):
            counts.append([kq_id, text, count])
        counts.finish()
        return
    checks = _Sheet(
        workbook,
        "Judgements to review",
        ["Case", "Standard", "Key question", "Text", "Judgement", "Every relevant prompt"],
        [12, 9, 13, 60, 10, 12],
    )
    framework = report.summary.framework
    for c in report.judgement_checks:
        checks.append([c.case_ref, framework.standard_of(c.question).id, c.question, c.text, c.judgement, c.prompts_say])
    checks.finish()


def case_sheet_workbook(table: CaseAnswerTable, progress: Callable[[int, int], None] | None = None) -> bytes:
    """A workbook holding only the case sheet, as `caseaudit export` writes it: the header and
    the case references stay in view while scrolling."""
    return _with_case_sheet(Workbook(write_only=True), table, progress, freeze_panes="B2")


def _with_case_sheet(
    workbook: Workbook, table: CaseAnswerTable, progress: Callable[[int, int], None] | None, freeze_panes: str = "A2"
) -> bytes:
    """The workbook's bytes with the case sheet added last. Only its header goes through openpyxl
    (styles, widths, frozen panes, filter); the rows are spliced in by _with_case_rows."""
    cases = _Sheet(workbook, CASES_SHEET, list(table.header), [10], freeze_panes=freeze_panes)
    cases.ws.print_title_cols = "A:A"  # the case reference on every printed page too
    cases.rows = len(table)
    cases.finish()
    # the date style, registered before the workbook is saved (its styles part is written then)
    date_cell = WriteOnlyCell(cases.ws, value=None)
    date_cell.number_format = DATE_FORMAT
    date_style = date_cell.style_id
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _with_case_rows(buffer.getvalue(), table, progress, date_style)


# ------------------------------------------------------------------ the case-level sheet
# openpyxl writes about 7 µs a cell, so a 40,000-case round (3.5 million cells) took 40 s.
# Here a row of the sheet is a few joins of ready-made cell XML, one per distinct value, and
# compression runs on a second thread (zlib releases the GIL).
# - Cells carry no "r" reference: ECMA-376 Part 1 §18.3.1.4 makes it optional (cells follow one
#   another; Excel, LibreOffice and openpyxl read it so) and a blank cell is an empty <c/>.
# - Answers and attribute values are shared strings (a few distinct texts, 20 bytes a cell);
#   case references, each met once, are inline strings. openpyxl's write-only mode writes no
#   shared-strings part, so ours is added with its relationship and content type.
CASES_SHEET = "Cases"
ROWS_PER_CHUNK = 2000
SHEET_ROWS = 1_048_576  # Excel's rows in a sheet, the header's included
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_PACKAGE_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
SHARED_STRINGS_PART = "xl/sharedStrings.xml"
_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SHARED_STRINGS_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _xml_text(text: str) -> str:
    """A <t> element holding ``text`` as a cell can (see ``for_xlsx``), escaped for XML. Shared and
    inline strings are always text: no formula can come from them."""
    text = for_xlsx(text)
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"<t{space}>{xml_escape(text)}</t>"


def inline_cell(text: str) -> str:
    """One cell holding ``text`` as an inline string (blank: an empty cell)."""
    return f'<c t="inlineStr"><is>{_xml_text(text)}</is></c>' if text else "<c/>"


DATE_FORMAT = "yyyy-mm-dd"
_EXCEL_EPOCH = _dt.date(1899, 12, 30)  # day 0 of Excel's (1900) date system, as serial numbers count
NUMBER_COLUMNS = ("age",)
DATE_COLUMNS = ("start_date",)


class SharedStrings(dict):
    """Cell XML by text, each distinct text stored once in the workbook's shared-strings part."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def __missing__(self, text: str) -> str:
        if not text:
            cell = "<c/>"
        else:
            cell = f'<c t="s"><v>{len(self.texts)}</v></c>'
            self.texts.append(text)
        self[text] = cell
        return cell

    def part(self) -> bytes:
        items = "".join(f"<si>{_xml_text(t)}</si>" for t in self.texts)
        return (f'<sst xmlns="{_MAIN[1:-1]}" uniqueCount="{len(self.texts)}">{items}</sst>').encode()


class TypedCells(dict):
    """Cell XML by attribute value for one column: a date (start_date) as a date, a number (age) as a
    number, so they sort and filter as such; a value that is neither stays text (a shared string)."""

    def __init__(self, kind: str, strings: SharedStrings, date_style: int):
        super().__init__()
        self.kind, self.strings, self.date_style = kind, strings, date_style

    def __missing__(self, text: str) -> str:
        cell = ""
        if self.kind == "date":
            try:
                serial = (_dt.date.fromisoformat(text) - _EXCEL_EPOCH).days
            except ValueError:
                serial = 0
            if serial > 60:  # after Excel's phantom 29 February 1900: serials count days from here
                cell = f'<c s="{self.date_style}"><v>{serial}</v></c>'
        elif text.isdigit() and text.isascii():
            cell = f"<c><v>{int(text)}</v></c>"
        self[text] = cell or self.strings[text]
        return self[text]


def case_row_chunks(
    table: CaseAnswerTable,
    strings: SharedStrings,
    progress: Callable[[int, int], None] | None = None,
    date_style: int | None = None,
) -> Iterator[str]:
    """The sheet rows after the header as XML, ROWS_PER_CHUNK rows at a time. With ``date_style`` (the
    style of a date cell), dates and numbers among the attributes are written as such."""
    column_cells: list[dict] = []
    for column in table.attribute_columns:
        if date_style is not None and column in DATE_COLUMNS:
            column_cells.append(TypedCells("date", strings, date_style))
        elif date_style is not None and column in NUMBER_COLUMNS:
            column_cells.append(TypedCells("number", strings, date_style))
        else:
            column_cells.append(strings)

    def attribute_cells(attributes: tuple[str, ...]) -> str:
        return "".join(map(dict.__getitem__, column_cells, attributes))

    answer_cell = {code: strings[word] for code, word in table.words.items()}.__getitem__
    total = len(table)
    row_number = 2
    noted = bool(table.note_places)  # notes are inline strings beside their answers (each met about once)
    for start in range(0, total, ROWS_PER_CHUNK):
        parts = []
        for case_ref, attributes, codes in table.cases[start : start + ROWS_PER_CHUNK]:
            answers = "".join(
                table.with_notes(case_ref, list(map(answer_cell, codes)), inline_cell, "<c/>")
                if noted
                else map(answer_cell, codes)
            )
            parts.append(f'<row r="{row_number}">{inline_cell(case_ref)}{attribute_cells(attributes)}{answers}</row>')
            row_number += 1
        yield "".join(parts)
        if progress is not None:
            progress(min(start + ROWS_PER_CHUNK, total), total)


def _sheet_part(package: zipfile.ZipFile, title: str) -> str:
    """The part name (xl/worksheets/sheetN.xml) of the sheet called ``title``."""
    workbook = ElementTree.fromstring(package.read("xl/workbook.xml"))
    sheet = next(s for s in workbook.iter(f"{_MAIN}sheet") if s.get("name") == title)
    relationships = ElementTree.fromstring(package.read("xl/_rels/workbook.xml.rels"))
    target = next(
        r.get("Target")
        for r in relationships.iter(f"{_PACKAGE_RELATIONSHIPS}Relationship")
        if r.get("Id") == sheet.get(_RELATIONSHIP_ID)
    )
    assert target is not None  # the workbook openpyxl has just written: every relationship has its target
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _insert_before(xml: bytes, closing_tag: bytes, addition: str) -> bytes:
    at = xml.rindex(closing_tag)
    return xml[:at] + addition.encode("utf-8") + xml[at:]


def _with_case_rows(
    package_bytes: bytes, table: CaseAnswerTable, progress: Callable[[int, int], None] | None, date_style: int | None = None
) -> bytes:
    """The workbook with the case rows written into its (header-only) Cases sheet."""
    if len(table) >= SHEET_ROWS:
        raise InvalidValue(
            f"{len(table):,} cases do not fit an Excel sheet ({SHEET_ROWS - 1:,} at most): export the "
            "round as CSV instead (in a report, --no-cases leaves the case-level sheet out)"
        )
    source = zipfile.ZipFile(io.BytesIO(package_bytes))
    if SHARED_STRINGS_PART in source.namelist():
        raise AssertionError("openpyxl's write-only mode wrote a shared-strings part; the case sheet writer needs updating")
    part = _sheet_part(source, CASES_SHEET)
    sheet_xml = source.read(part).decode("utf-8")
    end_of_rows = sheet_xml.index("</sheetData>")
    last_column = get_column_letter(len(table.header))
    head = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="A1:{last_column}{len(table) + 1}"/>', sheet_xml[:end_of_rows])
    # about 25 bytes a cell; a part over 2 GiB needs ZIP64 from the start
    zip64 = len(table) * (len(table.header) * 25 + 100) > (1 << 31) - (1 << 24)
    strings = SharedStrings()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        with package.open(part, "w", force_zip64=zip64) as handle, ThreadPoolExecutor(max_workers=1) as compressor:
            pending: deque = deque()

            def send(text: str) -> None:
                pending.append(compressor.submit(lambda: handle.write(text.encode("utf-8"))))
                while len(pending) > 4:  # a few chunks ahead, no more: memory stays flat
                    pending.popleft().result()

            send(head)
            for chunk in case_row_chunks(table, strings, progress, date_style):
                send(chunk)
            send(sheet_xml[end_of_rows:])
            while pending:
                pending.popleft().result()
        package.writestr(SHARED_STRINGS_PART, strings.part())
        for info in source.infolist():
            if info.filename == part:  # written above
                continue
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                data = _insert_before(
                    data, b"</Types>", f'<Override PartName="/{SHARED_STRINGS_PART}" ContentType="{_SHARED_STRINGS_TYPE}"/>'
                )
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = _insert_before(
                    data,
                    b"</Relationships>",
                    f'<Relationship Id="rIdCaseauditStrings" Type="{_SHARED_STRINGS_RELATIONSHIP}" Target="sharedStrings.xml"/>',
                )
            package.writestr(info, data)
    return buffer.getvalue()
