"""Rounds, cases, summary and domain-1 screens."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static
from textual.worker import Worker, WorkerState

from framework import DEFAULT_FRAMEWORK_ID, Rating, available_frameworks
from framework.model import RatingMethod
from framework.rules import advisory_cap, exceeds_cap

from ..errors import CaseauditError, StaleAnswer
from ..safe_text import for_terminal, lines_for_terminal
from ..store import AuditStore, write_lock
from ..summary import Summary, case_supervision_ratings, summarise
from .app import DatabaseChanged
from .dialogs import AddCaseDialog, ConfirmDialog, NewRoundDialog, TextDialog
from .stale import rating_change
from .line_table import Column, LineTable

BAND_STYLE = {
    Rating.OUTSTANDING: "bold bright_green",
    Rating.GOOD: "green",
    Rating.REQUIRES_IMPROVEMENT: "yellow",
    Rating.INADEQUATE: "bold red",
    Rating.NOT_APPLICABLE: "dim",
}


def cursor_key(table: DataTable) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


def plain(value, style: str = "") -> Text:
    """Stored text for a Rich table (the summary's): rich Text, because a str cell is Rich markup,
    with control characters shown as escapes."""
    return Text(for_terminal("" if value is None else value), style=style)


class PlainCell:
    """Stored text for a DataTable cell. DataTable reads a ``str`` cell as Rich markup, so a cell
    that may hold what people typed is this instead: drawn as written, control characters shown
    as escapes; ``str()`` of it, and comparing it with a str, give the text as shown."""

    __slots__ = ("text",)

    def __init__(self, value):
        self.text = for_terminal("" if value is None else value)

    def __rich__(self) -> Text:
        return Text(self.text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"PlainCell({self.text!r})"

    def __eq__(self, other) -> bool:
        if isinstance(other, PlainCell):
            return self.text == other.text
        return self.text == other if isinstance(other, str) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)


def status_of(answered: int, questions: int) -> str:
    if answered == 0:
        return "not started"
    return "complete" if answered >= questions else "in progress"


class AuditScreen(Screen):
    """Any caseaudit screen: it records changes under the app's auditor, and a failing worker
    (a background read or report) is a notification, never the end of the app."""

    @property
    def auditor(self) -> str | None:
        return getattr(self.app, "auditor", None)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        message = str(error) if isinstance(error, CaseauditError) else f"{type(error).__name__}: {error}"
        self.notify(lines_for_terminal(message), title="Could not finish", severity="error", timeout=10, markup=False)


class RoundScreen(AuditScreen):
    """A screen about one round: it holds the store and the round, and Escape goes back."""

    def __init__(self, store: AuditStore, round_row: dict):
        super().__init__()
        self.store = store
        self.round_row = round_row

    def current_round_row(self, store: AuditStore | None = None) -> dict:
        """The round as stored now, looked up by its id: a rename elsewhere does not lose it."""
        return (store or self.store).round_by_id(self.round_row["id"])

    def action_back(self) -> None:
        self.dismiss()


# ------------------------------------------------------------------ rounds
class RoundsScreen(AuditScreen):
    BINDINGS = [
        Binding("enter", "open_round", "Open", id="rounds.open", show=False),
        Binding("n", "new_round", "New round", id="rounds.new"),
        Binding("r", "rename_round", "Rename", id="rounds.rename"),
        Binding("d", "load_demo", "Load demo", id="rounds.demo"),
        Binding("q", "app.quit", "Quit", id="rounds.quit"),
    ]

    def __init__(self, store: AuditStore):
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="rounds-empty")
        yield DataTable(id="rounds", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "caseaudit: audit rounds"
        table = self.query_one("#rounds", DataTable)
        for label, key in (("Round", "name"), ("Unit", "unit"), ("Framework", "framework"), ("Cases", "cases"), ("Complete", "progress")):
            table.add_column(label, key=key)

    def on_screen_resume(self) -> None:
        self.reload()
        self.query_one("#rounds", DataTable).focus()

    @on(DatabaseChanged)
    def reload(self) -> None:
        table = self.query_one("#rounds", DataTable)
        current = cursor_key(table)
        table.clear()
        rounds = self.store.rounds()
        for r in rounds:
            state = " (finalised)" if r.get("finalised_at") else ""
            framework = f"{r['framework_id']} v{r['framework_version']}"
            if r.get("framework_missing"):
                framework += " (not available)"
            progress = "-" if r.get("progress") is None else f"{r['progress'] * 100:.0f}%"
            table.add_row(PlainCell(r["name"] + state), PlainCell(r["unit"]), PlainCell(framework), str(r["cases"]), progress, key=r["id"])
        if current is not None:
            for index, r in enumerate(rounds):
                if r["id"] == current:
                    table.move_cursor(row=index, animate=False)
        empty = self.query_one("#rounds-empty", Static)
        empty.update("No rounds yet. Press [b]d[/b] to load the demo rounds (the 2022 Newham and Lewisham and Bromley reports) "
                     "or [b]n[/b] to create a round." if not rounds else "Enter opens a round.")

    def selected_round(self) -> dict | None:
        """The round under the cursor, as stored now (None if there is none or it has gone)."""
        round_id = cursor_key(self.query_one("#rounds", DataTable))
        if round_id is None:
            return None
        try:
            return self.store.round_by_id(round_id)
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), severity="error", markup=False)
            self.reload()
            return None

    @on(DataTable.RowSelected, "#rounds")
    def action_open_round(self) -> None:
        round_row = self.selected_round()
        if round_row is None:
            return
        try:
            self.store.round_framework(round_row)  # a round pinned to a framework this build lacks: one clear message
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), title="Cannot open this round", severity="error", timeout=10, markup=False)
            return
        self.app.push_screen(CasesScreen(self.store, round_row))

    def action_new_round(self) -> None:
        choices = available_frameworks()  # shipped and the user's own
        frameworks = [(f"{f.title} (v{f.version})", f"{f.id}@{f.version}") for f in choices]
        newest_default = [f for f in choices if f.id == DEFAULT_FRAMEWORK_ID]
        default = f"{newest_default[-1].id}@{newest_default[-1].version}" if newest_default else None

        def done(values: dict | None) -> None:
            if values:
                try:
                    self.store.create_round(values["name"], values["unit"], values["framework_id"], values["version"] or None,
                                            created_by=self.auditor)
                except CaseauditError as error:
                    self.notify(lines_for_terminal(str(error)), severity="error", markup=False)
                self.reload()

        self.app.push_screen(NewRoundDialog(frameworks, default), done)

    def action_rename_round(self) -> None:
        round_row = self.selected_round()
        if round_row is None:
            return
        name = round_row["name"]

        def done(new_name: str | None) -> None:
            if new_name:
                try:
                    # by id: the round's name as stored when the new one is given
                    self.store.rename_round(self.store.round_by_id(round_row["id"])["name"], new_name, by=self.auditor)
                except CaseauditError as error:  # a finalised round keeps its name
                    self.notify(lines_for_terminal(str(error)), title="Not renamed", severity="error", timeout=8, markup=False)
                self.reload()

        self.app.push_screen(TextDialog(f"Rename round {name!r}", value=name), done)

    def action_load_demo(self) -> None:
        from ..demo import load_demo

        try:
            for line in load_demo(self.store):
                self.notify(for_terminal(line), markup=False)
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), severity="error", markup=False)
        self.reload()


# ------------------------------------------------------------------ cases
class CasesLoaded(Message):
    def __init__(self, rows: list[dict], open_conflicts: int, round_row: dict):
        super().__init__()
        self.rows = rows
        self.open_conflicts = open_conflicts
        self.round_row = round_row


class CasesScreen(RoundScreen):
    BINDINGS = [
        Binding("enter", "open_case", "Open case", id="cases.open", show=False),
        Binding("a", "add_case", "Add case", id="cases.add"),
        Binding("slash", "focus_filter", "Filter", id="cases.filter"),
        Binding("s", "summary", "Summary", id="cases.summary"),
        Binding("o", "domain_one", "Domain 1", id="cases.domain1"),
        Binding("c", "conflicts", "Conflicts", id="cases.conflicts"),
        Binding("escape", "back", "Back", id="cases.back"),
    ]

    STATUSES = [("All cases", "all"), ("Not started", "not started"), ("In progress", "in progress"), ("Complete", "complete")]

    def __init__(self, store: AuditStore, round_row: dict):
        super().__init__(store, round_row)
        self.rows: list[dict] = []
        self.open_conflicts = 0  # counted with each load, not on every filter keystroke
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="case-filters"):
            yield Input(placeholder="Filter: case reference, sentence type, practitioner, team", id="filter")
            yield Select(self.STATUSES, value="all", allow_blank=False, id="status")
        yield Static("Loading cases...", id="cases-count")
        yield LineTable([Column("Case", 8), Column("Sentence type", 25), Column("RoSH", 9), Column("Practitioner", 12),
                         Column("Progress", 8), Column("Status", None)], id="cases")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{for_terminal(self.round_row['name'])}: {for_terminal(self.round_row['unit'])}"
        self.query_one("#cases", LineTable).focus()

    def on_screen_resume(self) -> None:
        # also sent when the screen is first shown, and (below) when another process commits
        self.load_cases()

    @on(DatabaseChanged)
    def database_changed(self) -> None:
        self.load_cases()

    @work(thread=True, exclusive=True, group="cases", exit_on_error=False)
    def load_cases(self) -> None:
        """Read cases on a worker thread with its own connection; post them back."""
        with AuditStore.open(self.store.path) as store:
            round_row = self.current_round_row(store)
            rows = store.cases(round_row)
            open_conflicts = len(store.conflicts(round_row))
        self.post_message(CasesLoaded(rows, open_conflicts, round_row))

    @on(CasesLoaded)
    def cases_loaded(self, message: CasesLoaded) -> None:
        self.round_row = message.round_row
        self.title = f"{for_terminal(self.round_row['name'])}: {for_terminal(self.round_row['unit'])}"
        if self.loaded and message.rows == self.rows and message.open_conflicts == self.open_conflicts:
            return  # nothing changed for this round: nothing to redraw
        self.loaded = True
        self.rows = message.rows
        self.open_conflicts = message.open_conflicts
        self.apply_filter()

    @on(Input.Changed, "#filter")
    @on(Select.Changed, "#status")
    def apply_filter(self) -> None:
        text = self.query_one("#filter", Input).value.strip().lower()
        status = self.query_one("#status", Select).value
        table = self.query_one("#cases", LineTable)
        current = table.cursor_key
        shown = []
        for row in self.rows:
            row_status = status_of(row["answered"], row["questions"])
            if status != "all" and row_status != status:
                continue
            haystack = " ".join(str(row.get(k) or "") for k in ("case_ref", "sentence_type", "practitioner", "team", "rosh_level")).lower()
            if text and text not in haystack:
                continue
            shown.append((row["case_ref"], row["sentence_type"] or "", row["rosh_level"] or "", row["practitioner"] or "",
                          f"{row['answered']}/{row['questions']}", row_status))
        table.set_rows([(values[0], values) for values in shown])
        if current is not None and table.has_row(current):
            table.move_cursor(table.get_row_index(current))
        complete = sum(1 for r in self.rows if status_of(r["answered"], r["questions"]) == "complete")
        warning = f"; {self.open_conflicts} merge conflict(s) to settle (press c)" if self.open_conflicts else ""
        self.query_one("#cases-count", Static).update(f"{len(shown)} of {len(self.rows)} cases shown; {complete} complete{warning}")

    def selected_case(self) -> str | None:
        return self.query_one("#cases", LineTable).cursor_key

    @on(LineTable.Selected, "#cases")
    def action_open_case(self) -> None:
        ref = self.selected_case()
        if ref:
            from .case_screen import CaseScreen

            self.app.push_screen(CaseScreen(self.store, self.round_row, ref))

    def action_add_case(self) -> None:
        def done(values: dict | None) -> None:
            if values:
                try:
                    # must be new: a case another auditor added meanwhile is not silently updated
                    self.store.upsert_case(self.round_row, values["case_ref"], values["attributes"], changed_by=self.auditor,
                                           source="tui", must_be_new=True)
                    self.notify(f"Case {for_terminal(values['case_ref'])} saved", markup=False)
                except CaseauditError as error:  # already added, or the round was finalised meanwhile
                    self.notify(lines_for_terminal(str(error)), title="Case not added", severity="error", timeout=8, markup=False)
                self.load_cases()

        self.app.push_screen(AddCaseDialog(), done)

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_summary(self) -> None:
        self.app.push_screen(SummaryScreen(self.store, self.round_row))

    def action_domain_one(self) -> None:
        self.app.push_screen(DomainOneScreen(self.store, self.round_row))

    def action_conflicts(self) -> None:
        self.app.push_screen(ConflictsScreen(self.store, self.round_row))

    def action_back(self) -> None:
        if self.focused is self.query_one("#filter", Input):
            self.query_one("#cases", LineTable).focus()
            return
        self.dismiss()


# ------------------------------------------------------------------ summary
def _downloads():
    from platformdirs import user_downloads_path  # the folder Textual's deliver_binary uses by default

    return user_downloads_path()


class SummaryReady(Message):
    def __init__(self, summary: Summary, round_row: dict):
        super().__init__()
        self.summary = summary
        self.round_row = round_row


def bar(percent: int | None, width: int = 40) -> Text:
    """A text bar 0-100% with the 50/65/80 band lines marked."""
    text = Text()
    filled = 0 if percent is None else round(percent * width / 100)
    marks = {round(50 * width / 100), round(65 * width / 100), round(80 * width / 100)}
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
        Binding("b", "breakdown", "Breakdown", id="summary.breakdown", tooltip="Key questions by sentence type, RoSH, ethnicity..."),
        Binding("w", "save_report", "Save report", id="summary.save", tooltip="HTML, Excel or Markdown report of this round"),
        Binding("o", "domain_one", "Domain 1", id="summary.domain1"),
        Binding("r", "refresh", "Refresh", id="summary.refresh"),
        Binding("escape", "back", "Back", id="summary.back"),
    ]

    def __init__(self, store: AuditStore, round_row: dict):
        super().__init__(store, round_row)
        self.summary: Summary | None = None
        self.report = None  # built on first use of a breakdown

    def compose(self) -> ComposeResult:
        from ..analysis import groupings

        yield Header()
        options = [(g.label, g.key) for g in groupings()]
        yield Select(options, prompt="Breakdown by... (b)", id="breakdown", allow_blank=True)
        with VerticalScroll(id="summary-scroll"):
            yield Static("", id="breakdown-body")
            yield Static("Computing the summary...", id="summary-body")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Summary: {for_terminal(self.round_row['name'])}"

    def on_screen_resume(self) -> None:
        self.compute()

    @on(DatabaseChanged)
    def database_changed(self) -> None:
        self.action_refresh()

    @work(thread=True, exclusive=True, group="summary", exit_on_error=False)
    def compute(self) -> None:
        with AuditStore.open(self.store.path) as store:
            round_row = self.current_round_row(store)
            summary = summarise(store, round_row["name"])
        self.post_message(SummaryReady(summary, round_row))

    @on(SummaryReady)
    def show(self, message: SummaryReady) -> None:
        self.round_row = message.round_row
        self.title = f"Summary: {for_terminal(self.round_row['name'])}"
        self.summary = message.summary
        self.query_one("#summary-body", Static).update(self.render_summary(message.summary))

    @staticmethod
    def render_summary(summary: Summary) -> Table:
        outer = Table.grid(padding=(0, 1))
        heading = Text(f"{for_terminal(summary.unit)}: {summary.cases} cases, {summary.incomplete_cases} incomplete", style="bold")
        outer.add_row(heading)
        ratings = Table(title="Ratings", expand=False)
        ratings.add_column("Standard")
        ratings.add_column("Rating")
        ratings.add_column("Advisory cap")
        for s in summary.standards:
            word = s.rating.value if s.rating else ("Not rated (information)" if not s.rated else "Not yet rated")
            cap = ""
            if s.cap:
                cap = f"{s.cap.cap} ({s.cap.rule.id})" + (" - overridden" if s.above_cap else "")
            ratings.add_row(plain(f"{s.id} {s.name}"), Text(word, style=BAND_STYLE.get(s.rating, "")), plain(cap))
        outer.add_row(ratings)
        outer.add_row(Text(f"Score {summary.score}/{summary.max_score}   Overall rating: {summary.overall_rating or 'Not yet rated'}", style="bold"))
        kq_table = Table(title="Key questions: percentage 'Yes' (| marks 50, 65, 80)", expand=False)
        kq_table.add_column("Key question")
        kq_table.add_column("Yes/relevant", justify="right")
        kq_table.add_column("%", justify="right")
        kq_table.add_column("Chart")
        for s in summary.standards:
            for kq in s.key_questions:
                style = BAND_STYLE.get(kq.banding.rating, "") if kq.banding else "dim"
                pct = Text(f"{kq.percent}%" if kq.percent is not None else "n/a", style=style)
                kq_table.add_row(kq.id, f"{kq.counts.yes}/{kq.counts.relevant}", pct, bar(kq.percent))
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
        select = self.query_one("#breakdown", Select)
        select.focus()
        select.expanded = True

    @on(Select.Changed, "#breakdown")
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

    @work(thread=True, exclusive=True, group="breakdown", exit_on_error=False)
    def build_breakdowns(self) -> None:
        from ..report import build_report

        with AuditStore.open(self.store.path) as store:
            report = build_report(store, self.current_round_row(store)["name"], case_level=False)
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
                    cells.append(Text(f"{p.printed}% ({p.relevant})" + (" !" if flagged else ""), style="bold red" if flagged else ""))
                table.add_row(kq.id, *cells)
        grid = Table.grid()
        grid.add_row(table)
        grid.add_row(Text(f"! a group {conventions.disproportion_points} or more points from the rest, with at least "
                          f"{conventions.disproportion_min_cases} relevant cases on each side ({len(breakdown.flags)} flagged).", style="italic"))
        return grid

    # -- saving the report --------------------------------------------------
    def action_save_report(self) -> None:
        from .dialogs import ReportFormatDialog

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

        from ..report import build_report, render_report, write_private

        try:
            with AuditStore.open(self.store.path) as store:
                data = render_report(build_report(store, self.current_round_row(store)["name"], case_level=(fmt == "xlsx")), fmt)
            folder = Path(os.environ.get(REPORT_DIR_ENV) or _downloads())
            stem = re.sub(r"[^A-Za-z0-9]+", "-", self.round_row["name"]).strip("-").lower() or "round"
            extension = {"html": "html", "xlsx": "xlsx", "markdown": "md"}[fmt]
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
                write_private(folder / name, data)
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
            self.notify(f"Saved to {for_terminal(message.path)} (readable by you only)", title="Report saved", timeout=8, markup=False)


# ------------------------------------------------------------------ domain 1
KEEP = object()  # a rating's evidence or override reason kept as the rating it is based on has it

class DomainOneScreen(RoundScreen):
    """Organisational ratings by judgement, with the advisory cap shown."""

    BINDINGS = [
        Binding("o", "rate('Outstanding')", "Outstanding", id="domain1.outstanding"),
        Binding("g", "rate('Good')", "Good", id="domain1.good"),
        Binding("r", "rate('Requires improvement')", "Req. improvement", id="domain1.ri"),
        Binding("i", "rate('Inadequate')", "Inadequate", id="domain1.inadequate"),
        Binding("e", "evidence", "Evidence", id="domain1.evidence"),
        Binding("escape", "back", "Back", id="domain1.back"),
    ]

    def __init__(self, store: AuditStore, round_row: dict):
        super().__init__(store, round_row)
        self.framework = store.framework_for(round_row)
        self.standards = [s for s in self.framework.standards if s.method is RatingMethod.JUDGEMENT]
        # read once per reload; cursor moves only display them
        self.stored: dict[str, dict] = {}
        self.cached_case_ratings: dict = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="domain1", cursor_type="row")
        yield Static("", id="domain1-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Domain 1 ratings: {for_terminal(self.round_row['name'])}"
        table = self.query_one("#domain1", DataTable)
        table.add_column("Standard", key="standard")
        table.add_column("Rating", key="rating")
        table.add_column("Advisory cap", key="cap")
        table.add_column("Evidence", key="evidence")
        self.reload()
        table.focus()

    def case_ratings(self):
        self.round_row = self.current_round_row()
        return case_supervision_ratings(summarise(self.store, self.round_row["name"]))

    @on(DatabaseChanged)
    def database_changed(self) -> None:
        try:
            self.reload()
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), severity="error", markup=False)

    def reload(self) -> None:
        table = self.query_one("#domain1", DataTable)
        row_index = table.cursor_row if table.row_count else 0
        table.clear()
        self.cached_case_ratings = self.case_ratings()  # reads the round again, by its id
        self.title = f"Domain 1 ratings: {for_terminal(self.round_row['name'])}"
        self.stored = self.store.domain_ratings(self.round_row)
        for standard in self.standards:
            row = self.stored.get(standard.id)
            cap = advisory_cap(self.framework, standard.id, self.cached_case_ratings)
            table.add_row(PlainCell(f"{standard.id} {standard.name}"), PlainCell(row["rating"] if row else "-"),
                          PlainCell(cap.cap.value if cap else "none"), PlainCell((row or {}).get("evidence") or ""), key=standard.id)
        table.move_cursor(row=row_index, animate=False)
        self.show_detail()

    @on(DataTable.RowHighlighted, "#domain1")
    def show_detail(self) -> None:
        table = self.query_one("#domain1", DataTable)
        if not table.row_count:
            return
        standard = self.standards[table.cursor_row]
        cap = advisory_cap(self.framework, standard.id, self.cached_case_ratings)
        row = self.stored.get(standard.id) or {}
        lines = [standard.headline]
        if cap:
            lines.append(f"Advisory cap '{cap.cap}': {cap.rule.guidance}")
        if row.get("override_reason"):
            lines.append(f"Override reason: {for_terminal(row['override_reason'])}")
        self.query_one("#domain1-detail", Static).update("\n".join(lines))

    def focused_standard(self):
        return self.standards[self.query_one("#domain1", DataTable).cursor_row]

    def save(self, standard_id: str, seen: dict | None, *, rating: Rating | None = None, evidence: object = KEEP,
             reason: object = KEEP) -> None:
        """Rate, based on the rating the person saw (``seen``); what is not given is kept from it.

        If someone else rated the standard meanwhile nothing is written: the screen shows their rating
        and asks; confirming writes again based on theirs (keeping their evidence for a new rating,
        their rating for new evidence)."""
        base = seen or {}
        new_rating = rating or Rating(base["rating"])
        new_evidence = base.get("evidence") if evidence is KEEP else evidence
        new_reason = base.get("override_reason") if reason is KEEP else reason
        try:
            self.store.rate_standard(self.round_row, standard_id, new_rating, case_ratings=self.case_ratings(), evidence=new_evidence,
                                     override_reason=new_reason, rater=self.auditor, based_on=base.get("event_id"))
            self.notify(f"{standard_id} rated '{new_rating}'", markup=False)
        except StaleAnswer as stale:
            theirs = stale.current
            self.reload()
            change = rating_change(standard_id, seen, theirs)

            def decided(replace: bool | None) -> None:
                if replace:
                    self.save(standard_id, theirs, rating=rating, evidence=evidence, reason=reason)

            ask = f"Replace it with '{rating}'?" if rating else "Save your evidence on their rating?"
            self.app.push_screen(ConfirmDialog(f"{change}. {ask}"), decided)
            return
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), severity="error", markup=False)
        self.reload()

    def action_rate(self, word: str) -> None:
        standard = self.focused_standard()
        rating = Rating(word)
        seen = self.stored.get(standard.id)  # what the person saw when they chose
        cap = advisory_cap(self.framework, standard.id, self.cached_case_ratings)
        if exceeds_cap(self.framework, rating, cap):
            def with_reason(reason: str | None) -> None:
                if reason:
                    self.save(standard.id, seen, rating=rating, reason=reason)

            self.app.push_screen(
                TextDialog(f"'{rating}' is above the advisory cap '{cap.cap}': {cap.rule.guidance} Why override it?", placeholder="Override reason"),
                with_reason,
            )
        else:
            self.save(standard.id, seen, rating=rating, reason=None)

    def action_evidence(self) -> None:
        standard = self.focused_standard()
        seen = self.stored.get(standard.id)
        if not seen:
            self.notify("Choose a rating first (o, g, r or i)", severity="warning")
            return

        def done(evidence: str | None) -> None:
            if evidence is not None:
                self.save(standard.id, seen, evidence=evidence)

        self.app.push_screen(TextDialog(f"Evidence for {standard.id} {standard.name}", value=seen.get("evidence") or "", required=False), done)


# ------------------------------------------------------------------ merge conflicts
class ConflictsScreen(RoundScreen):
    """Answers two merged copies disagree on: keep ours or take theirs, one at a time."""

    shown: dict[str, tuple] = {}

    BINDINGS = [
        Binding("o", "keep('ours')", "Keep ours", id="conflicts.ours"),
        Binding("t", "keep('theirs')", "Take theirs", id="conflicts.theirs"),
        Binding("escape", "back", "Back", id="conflicts.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="conflicts-count", markup=False)
        yield DataTable(id="conflicts", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{for_terminal(self.round_row['name'])}: merge conflicts"
        table = self.query_one("#conflicts", DataTable)
        for label, key, width in (("#", "id", 4), ("Case", "case", 10), ("Question", "subject", 9),
                                  ("Ours", "ours", 18), ("Theirs", "theirs", 18), ("From", "from", 12)):
            table.add_column(label, key=key, width=width)
        self.reload()
        table.focus()

    @on(DatabaseChanged)
    def reload(self) -> None:
        from ..store import format_answer_text

        table = self.query_one("#conflicts", DataTable)
        current = cursor_key(table)
        table.clear()
        self.round_row = self.current_round_row()
        self.title = f"{for_terminal(self.round_row['name'])}: merge conflicts"
        conflicts = self.store.conflicts(self.round_row)
        self.shown = {str(k["id"]): self.state_of(k) for k in conflicts}
        for k in conflicts:
            if k["kind"] == "answer":
                ours = format_answer_text(k["our_value"], k["our_reason"]) or "(blank)"
                theirs = format_answer_text(k["their_value"], k["their_reason"]) or "(blank)"
            else:
                ours, theirs = k["our_value"] or "(none)", k["their_value"] or "(none)"
            table.add_row(str(k["id"]), PlainCell(k["case_ref"] or "domain 1"), PlainCell(k["subject"]), PlainCell(f"{ours} ({k['our_by']})"),
                          PlainCell(f"{theirs} ({k['their_by']})"), PlainCell(k["from_file"]), key=str(k["id"]))
        if current is not None and current in self.shown:
            table.move_cursor(row=list(self.shown).index(current), animate=False)
        self.query_one("#conflicts-count", Static).update(
            f"{len(conflicts)} open conflict(s). o keeps this database's answer, t takes the merged copy's; the choice is recorded."
            if conflicts else "No open conflicts in this round."
        )

    @staticmethod
    def describe_change(key: str, shown: tuple | None, now: tuple) -> str:
        from ..store import format_answer_text

        def side(state: tuple | None, offset: int) -> str:
            if state is None:
                return "nothing"
            value, reason, by = state[offset], state[offset + 1], state[offset + 3 if offset == 0 else offset + 2]
            return f"{format_answer_text(value, reason) or '(blank)'} ({by})"

        parts = []
        if shown is None or shown[:4] != now[:4]:
            parts.append(f"ours is now {side(now, 0)} (this screen showed {side(shown, 0)})")
        if shown is None or shown[4:7] != now[4:7]:
            parts.append(f"theirs is now {side(now, 4)} (this screen showed {side(shown, 4)})")
        return f"Conflict #{key} changed since this screen showed it: {'; '.join(parts) or 'its details changed'}."

    @staticmethod
    def state_of(conflict: dict) -> tuple:
        """What the screen shows of a conflict: both sides and who gave them."""
        return tuple(conflict.get(k) for k in ("our_value", "our_reason", "our_note", "our_by", "their_value", "their_reason",
                                                "their_by", "resolved_at"))

    def action_keep(self, keep: str) -> None:
        key = cursor_key(self.query_one("#conflicts", DataTable))
        if key is not None:
            self.resolve(key, keep)

    def resolve(self, key: str, keep: str, shown: tuple | None = None) -> None:
        """Settle one conflict as this screen shows it (or as the confirm named it); if it changed
        meanwhile, nothing is settled: the screen shows it again and asks."""
        shown = shown or self.shown.get(key)
        try:
            with write_lock(self.store.db):  # the check and the resolution in one transaction
                now = next((k for k in self.store.conflicts(self.round_row, open_only=False) if str(k["id"]) == key), None)
                moved_on = now is not None and self.state_of(now) != shown
                if not moved_on:
                    self.store.resolve_conflict(self.round_row, int(key), keep, by=self.auditor)
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), title="Not resolved", severity="error", timeout=8, markup=False)
            self.reload()
            return
        if moved_on:
            self.reload()
            if now["resolved_at"]:
                self.notify(f"Conflict #{key} was resolved by {for_terminal(now['resolved_by'])} (kept {for_terminal(now['kept'])}) "
                            "since this screen showed it", title="Not resolved", severity="warning", timeout=8, markup=False)
                return

            def decided(go_on: bool | None) -> None:
                if go_on:  # as the confirm named it: a later change is asked about in turn
                    self.resolve(key, keep, self.state_of(now))

            self.app.push_screen(ConfirmDialog(f"{self.describe_change(key, shown, self.state_of(now))} Keep {keep}?"), decided)
            return
        self.notify(f"Conflict #{key}: kept {keep}", markup=False)
        self.reload()

