"""The cases screen: a round's cases, how far each is audited, its attributes."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Header, Input, Select, Static

from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.core.summary import judgement_label
from audit.errors import CaseauditError
from audit.store import AuditStore, Round
from audit.tui.dialogs import AddCaseDialog, TextDialog
from audit.tui.messages import DatabaseChanged
from audit.tui.screens.base import RoundScreen, relabel_binding, status_of
from audit.tui.screens.conflicts import ConflictsScreen
from audit.tui.screens.domain_one import DomainOneScreen
from audit.tui.screens.summary import SummaryScreen
from audit.tui.widgets.line_table import Column, LineTable


# ------------------------------------------------------------------ cases
def sample_status_text(sample_status: str, progress: str) -> str:
    """The status column: how far a counted case is audited; a reserve or a swapped-out case says so."""
    if sample_status == "reserve":
        return "reserve (not counted)"
    if sample_status == "swapped out":
        return "swapped out (not counted)"
    if sample_status == "swapped in":
        return f"{progress} (swapped in)"
    return progress


class CaseListing:
    """A round's cases as the screen lists them, made once per load on the worker thread: the rows
    (``AuditStore.case_list``), each case's progress and the text a filter searches, so a key typed in
    the filter is one pass over prepared strings (a 250,000-case round: a few hundredths of a second)."""

    def __init__(self, rows: list[tuple], questions: int):
        self.rows = rows
        self.questions = questions
        self.progress = [status_of(row[5], questions) for row in rows]
        # what a filter searches: reference, sentence type, practitioner, team, RoSH level
        self.haystacks = [f"{r[0]} {r[1]} {r[3]} {r[4]} {r[2]}".lower() for r in rows]
        self.place = {row[0]: n for n, row in enumerate(rows)}
        self.in_sample = sum(1 for row in rows if row[7])
        self.complete = sum(1 for row, progress in zip(rows, self.progress, strict=True) if row[7] and progress == "complete")
        self.reserves = sum(1 for row in rows if row[6] == "reserve")

    def matching(self, text: str, status: str) -> Sequence[int]:
        """The places of the cases shown for a filter text and a status ("all" or a progress), in order."""
        if status == "all":
            if not text:
                return range(len(self.rows))
            return [n for n, haystack in enumerate(self.haystacks) if text in haystack]
        rows, progress = self.rows, self.progress
        return [
            n
            for n, haystack in enumerate(self.haystacks)
            if progress[n] == status and rows[n][7] and (not text or text in haystack)
        ]

    def cells(self, n: int) -> tuple[str, ...]:
        case_ref, sentence_type, rosh_level, practitioner, _team, answered, sample_status, _ = self.rows[n]
        progress = sample_status_text(sample_status, self.progress[n])
        return (case_ref, sentence_type, rosh_level, practitioner, f"{answered}/{self.questions}", progress)


class ShownCases(Sequence):
    """The rows the table shows, (case reference, cells) made only as a row is drawn."""

    def __init__(self, listing: CaseListing, places: Sequence[int]):
        self.listing, self.places = listing, places

    def __len__(self) -> int:
        return len(self.places)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = self.places[index]
        return self.listing.rows[n][0], self.listing.cells(n)

    def find(self, case_ref) -> int | None:
        """The row showing ``case_ref``, or None (the places are in order: a binary search)."""
        n = self.listing.place.get(case_ref)
        if n is None:
            return None
        index = bisect.bisect_left(self.places, n)
        return index if index < len(self.places) and self.places[index] == n else None


class CasesLoaded(Message):
    def __init__(self, listing: CaseListing, open_conflicts: int, round_row: Round):
        super().__init__()
        self.listing = listing
        self.open_conflicts = open_conflicts
        self.round_row = round_row


class CasesScreen(RoundScreen):
    BINDINGS = [
        Binding("enter", "open_case", "Open case", id="cases.open", show=False),
        Binding("a", "add_case", "Add case", id="cases.add"),
        Binding("slash", "focus_filter", "Filter", id="cases.filter"),
        Binding("s", "summary", "Summary", id="cases.summary"),
        Binding("o", "domain_one", "Judgement ratings", id="cases.domain1"),
        Binding("c", "conflicts", "Conflicts", id="cases.conflicts"),
        Binding("g", "app.agreement", "Agreement", id="cases.agreement"),
        Binding("w", "swap", "Swap for reserve", id="cases.swap"),
        Binding("escape", "back", "Back", id="cases.back"),
    ]

    STATUSES = [("All cases", "all"), ("Not started", "not started"), ("In progress", "in progress"), ("Complete", "complete")]

    def __init__(self, store: AuditStore, round_row: Round):
        super().__init__(store, round_row)
        self.listing = CaseListing([], 0)
        self.open_conflicts = 0  # counted with each load, not on every filter keystroke
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="case-filters"):
            yield Input(placeholder="Filter: case reference, sentence type, practitioner, team", id="filter")
            yield Select(self.STATUSES, value="all", allow_blank=False, id="status")
        yield Static("Loading cases...", id="cases-count")
        yield LineTable(
            [
                Column("Case", 8),
                Column("Sentence type", 25),
                Column("RoSH", 9),
                Column("Practitioner", 12),
                Column("Progress", 8),
                Column("Status", None),
            ],
            id="cases",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{for_terminal(self.round_row.name)}: {for_terminal(self.round_row.unit)}"
        relabel_binding(self, "o", judgement_label(self.store.framework_for(self.round_row)))
        self.refresh_bindings()
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
        with self.store.reopen() as store:
            round_row = self.current_round_row(store)
            rows = store.case_list(round_row)
            questions = len(store.framework_for(round_row).question_ids)
            open_conflicts = len(store.conflicts(round_row))
        self.post_message(CasesLoaded(CaseListing(rows, questions), open_conflicts, round_row))

    @on(CasesLoaded)
    def cases_loaded(self, message: CasesLoaded) -> None:
        self.round_row = message.round_row
        self.title = f"{for_terminal(self.round_row.name)}: {for_terminal(self.round_row.unit)}"
        if self.loaded and message.listing.rows == self.listing.rows and message.open_conflicts == self.open_conflicts:
            return  # nothing changed for this round: nothing to redraw
        self.loaded = True
        self.listing = message.listing
        self.open_conflicts = message.open_conflicts
        self.apply_filter()

    @on(Input.Changed, "#filter")
    @on(Select.Changed, "#status")
    def apply_filter(self) -> None:
        text = self.query_one("#filter", Input).value.strip().lower()
        status = self.query_one("#status", Select).value
        table = self.query_one("#cases", LineTable)
        current = table.cursor_key
        listing = self.listing
        shown = ShownCases(listing, listing.matching(text, str(status)))
        table.set_rows(shown, find=shown.find)
        if current is not None and table.has_row(current):
            table.move_cursor(table.get_row_index(current))
        outside = (
            f" (+{len(listing.rows) - listing.in_sample} not in the sample: {listing.reserves} reserve(s))"
            if listing.reserves or listing.in_sample < len(listing.rows)
            else ""
        )
        warning = f"; {self.open_conflicts} merge conflict(s) to settle (press c)" if self.open_conflicts else ""
        self.query_one("#cases-count", Static).update(
            f"{len(shown)} of {listing.in_sample} cases shown{outside}; {listing.complete} complete{warning}"
        )

    def selected_case(self) -> str | None:
        key = self.query_one("#cases", LineTable).cursor_key
        return None if key is None else str(key)  # the rows are keyed by case reference

    @on(LineTable.Selected, "#cases")
    def action_open_case(self) -> None:
        ref = self.selected_case()
        if ref:
            from audit.tui.screens.case import CaseScreen

            self.app.push_screen(CaseScreen(self.store, self.round_row, ref))

    def action_add_case(self) -> None:
        def done(values: dict | None) -> None:
            if values:
                try:
                    # must be new: a case another auditor added meanwhile is not silently updated
                    self.store.upsert_case(
                        self.round_row,
                        values["case_ref"],
                        values["attributes"],
                        changed_by=self.auditor,
                        source="tui",
                        must_be_new=True,
                    )
                    self.notify(f"Case {for_terminal(values['case_ref'])} saved", markup=False)
                except CaseauditError as error:  # already added, or the round was finalised meanwhile
                    self.notify(lines_for_terminal(str(error)), title="Case not added", severity="error", timeout=8, markup=False)
                self.load_cases()

        self.app.push_screen(AddCaseDialog(), done)

    def action_swap(self) -> None:
        """Swap the highlighted case, found unsuitable, for its stratum's next reserve: asks why."""
        ref = self.selected_case()
        if not ref:
            return

        def done(reason: str | None) -> None:
            if not reason:
                return
            try:
                reserve = self.store.swap_case(self.round_row, ref, reason, by=self.auditor)
                self.notify(f"Case {ref} swapped out; reserve {reserve['case_ref']} comes in", markup=False)
            except CaseauditError as error:  # a reserve itself, no reserve left, finalised meanwhile
                self.notify(lines_for_terminal(str(error)), title="Not swapped", severity="error", timeout=8, markup=False)
            self.load_cases()

        self.app.push_screen(
            TextDialog(f"Swap case {ref} for the next reserve of its stratum. Why is it unsuitable?", placeholder="Reason"),
            done,
        )

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
