"""The summary screen: the inspectorate's tables for a round, breakdowns and saving a report."""

from __future__ import annotations

from fractions import Fraction

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Select, Static

from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.core.summary import Summary, band_lines, band_lines_text, judgement_label, rating_word
from audit.errors import CaseauditError
from audit.store import AuditStore, Round
from audit.store.figures import summarise
from audit.tui.messages import DatabaseChanged
from audit.tui.screens.base import BAND_STYLE, RoundScreen, plain, relabel_binding
from audit.tui.screens.domain_one import DomainOneScreen


# ------------------------------------------------------------------ summary
def _downloads():
    from platformdirs import user_downloads_path  # the folder Textual's deliver_binary uses by default

    return user_downloads_path()


class SummaryReady(Message):
    def __init__(self, summary: Summary, round_row: Round):
        super().__init__()
        self.summary = summary
        self.round_row = round_row


def bar(percent: int | None, lines: tuple[Fraction, ...], width: int = 40) -> Text:
    """A text bar 0-100% with the framework's band lines (``lines``, percentages) marked."""
    text = Text()
    filled = 0 if percent is None else round(percent * width / 100)
    marks = {round(line * width / 100) for line in lines}
    for i in range(width):
        if i in marks:
            text.append("|", style="bold white")
        elif i < filled:
            text.append("#", style="cyan")
        else:
            text.append(".", style="dim")
    return text


class BreakdownReady(Message):
    def __init__(self, report):
        super().__init__()
        self.report = report


class ReportSaved(Message):
    def __init__(self, path: str | None, error: str | None = None):
        super().__init__()
        self.path = path
        self.error = error


REPORT_DIR_ENV = "CASEAUDIT_REPORT_DIR"


class SummaryScreen(RoundScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="summary.back"),  # first: the footer shows it at any width
        Binding(
            "b", "breakdown", "Breakdown", id="summary.breakdown", tooltip="Key questions by sentence type, RoSH, ethnicity..."
        ),
        Binding("w", "save_report", "Save report", id="summary.save", tooltip="HTML, Excel or Markdown report of this round"),
        Binding("o", "domain_one", "Judgement ratings", id="summary.domain1"),
        Binding("g", "app.agreement", "Agreement", id="summary.agreement"),
        Binding("r", "refresh", "Refresh", id="summary.refresh"),
    ]

    def __init__(self, store: AuditStore, round_row: Round):
        super().__init__(store, round_row)
        self.summary: Summary | None = None
        self.report = None  # built on first use of a breakdown
        self.scroll_pending = False

    def compose(self) -> ComposeResult:
        from audit.core.analysis import groupings

        yield Header()
        options = [(g.label, g.key) for g in groupings()]
        yield Select(options, prompt="Breakdown by... (b)", id="breakdown", allow_blank=True, compact=True)
        with VerticalScroll(id="summary-scroll"):
            yield Static("", id="breakdown-body")
            yield Static("Computing the summary...", id="summary-body")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Summary: {for_terminal(self.round_row.name)}"
        # the framework's own name for its judgement-rated standards, in the footer
        relabel_binding(self, "o", judgement_label(self.store.framework_for(self.round_row)))
        self.refresh_bindings()
        self.query_one("#summary-scroll").focus()  # the figures, not the breakdown choice: PageDown scrolls them

    def on_screen_resume(self) -> None:
        self.compute()

    @on(DatabaseChanged)
    def database_changed(self) -> None:
        self.action_refresh()

    @work(thread=True, exclusive=True, group="summary", exit_on_error=False)
    def compute(self) -> None:
        with self.store.reopen() as store:
            round_row = self.current_round_row(store)
            summary = summarise(store, round_row, with_judgement_checks=True)  # as `caseaudit summary` gives it
        self.post_message(SummaryReady(summary, round_row))

    @on(SummaryReady)
    def show(self, message: SummaryReady) -> None:
        self.round_row = message.round_row
        self.title = f"Summary: {for_terminal(self.round_row.name)}"
        self.summary = message.summary
        self.query_one("#summary-body", Static).update(self.render_summary(message.summary))

    @staticmethod
    def render_summary(summary: Summary) -> Table:
        outer = Table.grid(padding=(0, 1))
        heading = Text(
            f"{for_terminal(summary.unit)}: {summary.cases} cases, {summary.incomplete_cases} incomplete", style="bold"
        )
        outer.add_row(heading)
        ratings = Table(title="Ratings", expand=False)
        ratings.add_column("Standard")
        ratings.add_column("Rating")
        ratings.add_column("Advisory cap")
        for s in summary.standards:
            word = rating_word(s)
            cap = ""
            if s.cap:
                cap = f"{s.cap.cap} ({s.cap.rule.id})" + (" - overridden" if s.above_cap else "")
            ratings.add_row(
                plain(f"{s.id} {s.name}"), Text(word, style=BAND_STYLE.get(s.rating, "") if s.rating else ""), plain(cap)
            )
        outer.add_row(ratings)
        outer.add_row(
            Text(
                f"Score {summary.score}/{summary.max_score}   Overall rating: {summary.overall_rating or 'Not yet rated'}",
                style="bold",
            )
        )
        lines = band_lines(summary.framework)
        kq_table = Table(title=f"Key questions: percentage 'Yes' (| marks {band_lines_text(summary.framework)})", expand=False)
        kq_table.add_column("Key question")
        kq_table.add_column("Yes/relevant", justify="right")
        kq_table.add_column("%", justify="right")
        kq_table.add_column("Chart")
        for s in summary.standards:
            for kq in s.key_questions:
                style = BAND_STYLE.get(kq.banding.rating, "") if kq.banding else "dim"
                pct = Text(f"{kq.percent}%" if kq.percent is not None else "n/a", style=style)
                kq_table.add_row(kq.id, f"{kq.counts.yes}/{kq.counts.relevant}", pct, bar(kq.percent, lines))
        outer.add_row(kq_table)
        for s in summary.standards:
            if s.sentence and s.rated:
                outer.add_row(plain(s.sentence))  # names the unit
            if s.basis_note:
                outer.add_row(plain("Note: " + s.basis_note, style="italic"))
        return outer

    def action_refresh(self) -> None:
        self.report = None
        self.compute()
        self.show_breakdown()

    def action_domain_one(self) -> None:
        self.app.push_screen(DomainOneScreen(self.store, self.round_row))

    # -- breakdowns ------------------------------------------------------
    def action_breakdown(self) -> None:
        """Choose a breakdown with one key; it is shown at the top of the figures, in view."""
        from audit.core.analysis import groupings
        from audit.tui.dialogs import BreakdownDialog

        select = self.query_one("#breakdown", Select)
        current = None if select.value is Select.BLANK else str(select.value)

        def chosen(key: str | None) -> None:
            if key is None:
                return
            self.query_one("#summary-scroll").focus()
            if key == current:
                self.scroll_pending = False
                self.scroll_to_breakdown()
            else:
                select.value = key  # Select.Changed shows it

        self.app.push_screen(BreakdownDialog([(g.label, g.key) for g in groupings()], current), chosen)

    def scroll_to_breakdown(self) -> None:
        scroll = self.query_one("#summary-scroll", VerticalScroll)
        self.call_after_refresh(scroll.scroll_home, animate=False)  # the breakdown sits above the summary

    @on(Select.Changed, "#breakdown")
    def breakdown_chosen(self) -> None:
        self.scroll_pending = True  # once shown, the breakdown is scrolled into view (a refresh leaves the view as it is)
        self.show_breakdown()

    def show_breakdown(self) -> None:
        key = self.query_one("#breakdown", Select).value
        body = self.query_one("#breakdown-body", Static)
        if key is Select.BLANK:
            body.update("")
            return
        if self.report is None:
            body.update("Computing the breakdown...")
            self.build_breakdowns()
            return
        body.update(self.render_breakdown(self.report, key))
        if self.scroll_pending:
            self.scroll_pending = False
            self.scroll_to_breakdown()

    @work(thread=True, exclusive=True, group="breakdown", exit_on_error=False)
    def build_breakdowns(self) -> None:
        from audit.reports.model import build_report

        with self.store.reopen() as store:
            report = build_report(store, self.current_round_row(store), case_level=False)
        self.post_message(BreakdownReady(report))

    @on(BreakdownReady)
    def breakdowns_built(self, message: BreakdownReady) -> None:
        self.report = message.report
        self.show_breakdown()

    @staticmethod
    def render_breakdown(report, key: str):
        breakdown = next((b for b in report.breakdowns if b.grouping.key == key), None)
        if breakdown is None:
            return Text("Nobody recorded this attribute for the cases of this round.", style="italic")
        conventions = report.summary.framework.reporting
        table = Table(title=plain(f"{breakdown.label}: percentage 'Yes' (relevant cases)"), expand=False)
        table.add_column("Key question")
        for g in breakdown.groups:  # a group is a value people typed (a team name): a Text, not markup
            table.add_column(Text(f"{for_terminal(g.label)}\n{g.cases} cases"), justify="right")
        for s in report.case_standards:
            for kq in s.key_questions:
                cells = []
                for g in breakdown.groups:
                    p = g.percentage(kq.id)
                    if p is None:
                        cells.append(Text("n/a", style="dim"))
                        continue
                    flagged = breakdown.flagged(g.label, kq.id)
                    cells.append(
                        Text(f"{p.printed}% ({p.relevant})" + (" !" if flagged else ""), style="bold red" if flagged else "")
                    )
                table.add_row(kq.id, *cells)
        grid = Table.grid()
        grid.add_row(table)
        grid.add_row(
            Text(
                f"! a group {conventions.disproportion_points} or more points from the rest, with at least "
                f"{conventions.disproportion_min_cases} relevant cases on each side ({len(breakdown.flags)} flagged).",
                style="italic",
            )
        )
        return grid

    # -- saving the report --------------------------------------------------
    def action_save_report(self) -> None:
        from audit.tui.dialogs import ReportFormatDialog

        def chosen(fmt: str | None) -> None:
            if fmt:
                self.notify(f"Writing the {fmt} report...", timeout=3)
                self.write_report(fmt)

        self.app.push_screen(ReportFormatDialog(), chosen)

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def write_report(self, fmt: str) -> None:
        import io
        import os
        import re
        from pathlib import Path

        from audit.output_file import write_output
        from audit.reports.formats import render_report, report_format
        from audit.reports.model import build_report

        try:
            with self.store.reopen() as store:
                data = render_report(build_report(store, self.current_round_row(store), case_level=(fmt == "xlsx")), fmt)
            folder = Path(os.environ.get(REPORT_DIR_ENV) or _downloads())
            stem = re.sub(r"[^A-Za-z0-9]+", "-", self.round_row.name).strip("-").lower() or "round"
            extension = report_format(fmt).suffix.lstrip(".")
            n, name = 1, f"{stem}-report.{extension}"
            while (folder / name).exists():
                n += 1
                name = f"{stem}-report-{n}.{extension}"
            if self.app.is_web:
                # in the browser: App.deliver_binary streams the file as a download
                self.app.call_from_thread(self.app.deliver_binary, io.BytesIO(data), save_filename=name)
            else:
                # In a terminal we write it ourselves: owner-only from the start, and Textual 8.2's
                # terminal delivery opens the target in text mode for bytes (isinstance(x, typing.BinaryIO)
                # is False for BytesIO and real files), so the saved file would stay empty.
                write_output(folder / name, data, what="report")
            self.post_message(ReportSaved(str(folder / name)))
        except (CaseauditError, OSError) as error:
            self.post_message(ReportSaved(None, str(error)))

    @on(ReportSaved)
    def report_saved(self, message: ReportSaved) -> None:
        if message.error:
            self.notify(lines_for_terminal(message.error), title="Report not saved", severity="error", timeout=8, markup=False)
        elif self.app.is_web:
            self.notify("The report is downloading in your browser.", title="Report saved")
        else:
            self.notify(
                f"Saved to {for_terminal(message.path)} (readable by you only)", title="Report saved", timeout=8, markup=False
            )
