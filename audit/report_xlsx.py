"""The report as an Excel workbook: ratings, key questions, prompts, breakdowns, trend, case-level answers.

Percentages are stored as numbers (0.45) formatted as percentages, so they sort,
filter and chart; every sheet has a frozen header row and filters. Written in
openpyxl's write-only (streaming) mode so 40,000 cases stay quick.
"""

from __future__ import annotations

import io
from typing import Callable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .report import Report, cap_sentence, prompt_sentence, rating_word

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="F3F5F7")
PERCENT = "0%"


class _Sheet:
    """A streaming sheet: bold header, frozen header row, filter over the data, column widths."""

    def __init__(self, workbook: Workbook, title: str, header: list[str], widths: list[int] | None = None):
        self.ws = workbook.create_sheet(title)
        self.header = header
        self.rows = 0
        for index, width in enumerate(widths or [], start=1):
            self.ws.column_dimensions[get_column_letter(index)].width = width
        self.ws.freeze_panes = "A2"
        cells = []
        for name in header:
            cell = WriteOnlyCell(self.ws, value=name)
            cell.font, cell.fill = HEADER_FONT, HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cells.append(cell)
        self.ws.append(cells)

    def append(self, values: list, percent_columns: tuple[int, ...] = ()) -> None:
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


def _fraction(yes: int, relevant: int) -> float | None:
    return yes / relevant if relevant else None


def render_xlsx(report: Report, progress: Callable[[int, int], None] | None = None) -> bytes:
    """The workbook's bytes. ``progress(done, total)`` is called while the case-level sheet is written."""
    summary = report.summary
    workbook = Workbook(write_only=True)

    ratings = _Sheet(workbook, "Ratings", ["Standard", "Name", "Rating", "Evidence", "Override or cap"], [10, 34, 26, 60, 60])
    for s in summary.standards:
        ratings.append([s.id, s.name, rating_word(s), s.evidence or "", cap_sentence(s)])
    ratings.append(["Score", f"{summary.score}/{summary.max_score}", summary.overall_rating.value if summary.overall_rating else "Not yet rated", "", ""])
    ratings.finish()

    level = f"{float(summary.framework.reporting.confidence_level) * 100:.0f}%"
    key_questions = _Sheet(
        workbook, "Key questions",
        ["Standard", "Standard rating", "Key question", "Text", "Yes", "No", "Not applicable", "Unanswered", "Percentage 'Yes'",
         f"{level} interval low", f"{level} interval high", "Band", "Rating not settled by this sample", "Lowest key question sentence"],
        [9, 22, 11, 60, 6, 6, 8, 8, 11, 11, 11, 20, 12, 60],
    )
    for s in report.case_standards:
        for kq in s.key_questions:
            c = kq.counts
            interval = report.interval(kq)
            key_questions.append(
                [s.id, rating_word(s), kq.id, kq.text, c.yes, c.no, c.not_applicable, c.unanswered,
                 kq.percent / 100 if kq.percent is not None else None,
                 interval.low / 100 if interval else None, interval.high / 100 if interval else None,
                 kq.banding.rating.value if kq.banding else "", "Yes" if kq.id in report.unsettled else "",
                 s.sentence if kq.id in s.lowest else ""],
                percent_columns=(8, 9, 10),
            )
    key_questions.finish()

    prompts = _Sheet(workbook, "Prompts",
                     ["Standard", "Key question", "Question", "Kind", "Text", "Yes", "Relevant cases", "Percentage 'Yes'", "In the reports' words"],
                     [9, 11, 11, 10, 70, 6, 9, 11, 40])
    for s in report.case_standards:
        for kq in s.key_questions:
            for kind, items in (("prompt", kq.prompts), ("data item", kq.data_items)):
                for q in items:
                    prompts.append([s.id, kq.id, q.id, kind, q.text, q.counts.yes, q.counts.relevant,
                                    q.percent / 100 if q.percent is not None else None, prompt_sentence(q)], percent_columns=(7,))
    prompts.finish()

    breakdowns = _Sheet(workbook, "Breakdowns",
                        ["Breakdown", "Group", "Cases", "Key question", "Yes", "Relevant cases", "Percentage 'Yes'", "Differs from the rest"],
                        [40, 34, 8, 11, 6, 9, 11, 60])
    for breakdown in report.breakdowns:
        for group in breakdown.groups:
            for kq_id, counts in group.counts.items():
                flag = breakdown.flagged(group.label, kq_id)
                breakdowns.append([breakdown.label, group.label, group.cases, kq_id, counts.yes, counts.relevant,
                                   _fraction(counts.yes, counts.relevant) if counts.relevant else None,
                                   flag.sentence(breakdown.label) if flag else ""], percent_columns=(6,))
    breakdowns.finish()

    if report.comparison:
        c = report.comparison
        trend = _Sheet(workbook, "Trend", ["Key question", f"{c.earlier_round}", "Now", "Change (points)", "Band before", "Band now"],
                       [11, 14, 10, 10, 22, 22])
        for k in c.key_questions:
            trend.append([k.id, k.before / 100 if k.before is not None else None, k.now / 100 if k.now is not None else None,
                          k.points, k.band_before.value if k.band_before else "", k.band_now.value if k.band_now else ""],
                         percent_columns=(1, 2))
        trend.finish()

    if report.case_header:
        cases = _Sheet(workbook, "Cases", list(report.case_header), [10])
        total = len(report.case_rows)
        for n, row in enumerate(report.case_rows, start=1):
            cases.append(list(row))
            if progress is not None and (n % 2000 == 0 or n == total):
                progress(n, total)
        cases.finish()

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
