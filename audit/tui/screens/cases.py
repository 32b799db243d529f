"""The cases screen: a round's cases, how far each is audited, its attributes."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from rich.text import Text
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
from audit.tui.screens.base import RoundScreen, relabel_binding
from audit.tui.screens.conflicts import ConflictsScreen
from audit.tui.screens.domain_one import DomainOneScreen
from audit.tui.screens.summary import SummaryScreen
from audit.tui.widgets.line_table import Column, LineTable


# ------------------------------------------------------------------ cases
def sample_status_text(sample_status: str, removed: bool, progress: str) -> str:
    """The status column: how far a counted case is audited; a removed, reserve or swapped-out case says so
    (the count line above says that they are not counted)."""
    if removed:
        return "removed"
    if sample_status in ("reserve", "swapped out", "swapped in"):
        return sample_status
    return progress


def checks_cell(count: int) -> Text | str:
    """The Check column: how many of the case's judgements contradict every relevant prompt."""
    return Text(f"!{count}", style="bold magenta") if count else ""


# a big round's cases shown first, while every case is read: more than a screen holds at any size
FIRST_SCREENFUL = 200


class CaseListing:
    """A round's cases as the screen lists them, made once per load on the worker thread: the rows
    (``AuditStore.case_list``), each case's progress and the text a filter searches, so a key typed in
    the filter is one pass over prepared strings (a 250,000-case round: a few hundredths of a second)."""

    def __init__(self, rows: list[tuple], questions: int):
        self.rows = rows
        self.questions = questions
        self.refs = [row[0] for row in rows]  # in SQLite's order, which is Python's: a binary search finds a case
        self.progress = [row[9] for row in rows]
        # SQLite lowers ASCII letters only: any other text is lowered here, as the filter's text is
        self.haystacks = [h if h.isascii() else h.lower() for h in (row[10] for row in rows)]
        self.in_sample = sum(row[7] for row in rows)
        self.complete = sum(1 for row in rows if row[7] and row[9] == "complete")
        self.reserves = sum(1 for row in rows if row[6] == "reserve" and not row[8])
        self.removed = sum(row[8] for row in rows)
        self._last_matched: tuple[str, str, Sequence[int]] | None = None  # (text, status, places) asked for last
        self._checks_counted: tuple[dict[str, int], int] | None = None

    def place(self, case_ref) -> int | None:
        """Where ``case_ref`` is in the rows, or None."""
        n = bisect.bisect_left(self.refs, case_ref)
        return n if n < len(self.refs) and self.refs[n] == case_ref else None

    def matching(self, text: str, status: str) -> Sequence[int]:
        """The places of the cases shown for a filter text and a status ("all" or a progress), in order.

        A text that holds the one asked for before (the next key typed) can only match cases that one
        matched: only those are searched again."""
        last = self._last_matched
        if last is not None and last[0] and last[0] in text and last[1] == status:
            haystacks = self.haystacks
            found: Sequence[int] = [n for n in last[2] if text in haystacks[n]]
        elif status == "all":
            found = range(len(self.rows)) if not text else [n for n, h in enumerate(self.haystacks) if text in h]
        else:
            rows, progress = self.rows, self.progress
            found = [
                n
                for n, haystack in enumerate(self.haystacks)
                if progress[n] == status and rows[n][7] and (not text or text in haystack)
            ]
        self._last_matched = (text, status, found)
        return found

    def cases_to_check(self, checks: dict[str, int]) -> int:
        """How many of the listed cases have a judgement to check (counted once for each ``checks``)."""
        if self._checks_counted is None or self._checks_counted[0] is not checks:
            self._checks_counted = (checks, sum(1 for ref, count in checks.items() if count and self.place(ref) is not None))
        return self._checks_counted[1]

    def cells(self, n: int, checks: dict[str, int]) -> tuple:
        case_ref, sentence_type, rosh_level, practitioner, _team, answered, sample_status, _, removed, *_ = self.rows[n]
        return (
            case_ref,
            sentence_type,
            rosh_level,
            practitioner,
            f"{answered}/{self.questions}",
            checks_cell(checks.get(case_ref, 0)),
            sample_status_text(sample_status, bool(removed), self.progress[n]),
        )


class ShownCases(Sequence):
    """The rows the table shows, (case reference, cells) made only as a row is drawn."""

    def __init__(self, listing: CaseListing, places: Sequence[int], checks: dict[str, int]):
        self.listing, self.places, self.checks = listing, places, checks

    def __len__(self) -> int:
        return len(self.places)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = self.places[index]
        return self.listing.rows[n][0], self.listing.cells(n, self.checks)

    def find(self, case_ref) -> int | None:
        """The row showing ``case_ref``, or None (the places are in order: a binary search)."""
        n = self.listing.place(case_ref)
        if n is None:
            return None
        index = bisect.bisect_left(self.places, n)
        return index if index < len(self.places) and self.places[index] == n else None


class CasesLoaded(Message):
    """The round's cases as listed; ``listed_of``: the listing holds only the first cases of that many
    (a big round's first screenful, shown while the rest are read)."""

    def __init__(self, listing: CaseListing, open_conflicts: int, round_row: Round, listed_of: int | None = None):
        super().__init__()
        self.listing = listing
        self.open_conflicts = open_conflicts
        self.round_row = round_row
        self.listed_of = listed_of


class ChecksCounted(Message):
    """Per case reference, its judgements to check: counted after the cases are shown (a read of every answer)."""

    def __init__(self, checks: dict[str, int]):
        super().__init__()
        self.checks = checks


class CasesScreen(RoundScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="cases.back"),  # first: the footer shows it at any width
        Binding("enter", "open_case", "Open case", id="cases.open", show=False),
        Binding("a", "add_case", "Add case", id="cases.add"),
        Binding("slash", "focus_filter", "Filter", id="cases.filter"),
        Binding("s", "summary", "Summary", id="cases.summary"),
        Binding("o", "domain_one", "Judgement ratings", id="cases.domain1"),
        Binding("c", "conflicts", "Conflicts", id="cases.conflicts"),
        Binding("g", "app.agreement", "Agreement", id="cases.agreement"),
        Binding("w", "swap", "Swap for reserve", id="cases.swap"),
        Binding("x", "remove_or_restore", "Remove/restore", id="cases.remove"),
    ]

    STATUSES = [("All cases", "all"), ("Not started", "not started"), ("In progress", "in progress"), ("Complete", "complete")]

    def __init__(self, store: AuditStore, round_row: Round):
        super().__init__(store, round_row)
        self.listing = CaseListing([], 0)
        self.open_conflicts = 0  # counted with each load, not on every filter keystroke
        self.checks: dict[str, int] = {}  # case reference -> judgements to check
        self.loaded = False  # cases are shown (perhaps only a big round's first screenful, for now)
        self.listed_of: int | None = None  # while only the first cases are listed: how many the round has
        self.cursor_to: str | None = None  # a case just added: the cursor goes to it once it is listed

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="case-filters"):
            yield Input(placeholder="Filter: case reference, sentence type, practitioner, team", id="filter")
            yield Select(self.STATUSES, value="all", allow_blank=False, id="status")
        yield Static("Loading cases...", id="cases-count")
        yield LineTable(
            [  # every column fits 80 columns: the sentence type takes what the others leave
                Column("Case", 8),
                Column("Sentence type", None),
                Column("RoSH", 9),
                Column("Practitioner", 10),
                Column("Done", 5),
                Column("Check", 5),
                Column("Status", 11),
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
        from audit.store.judgement_checks import judgement_check_counts

        with self.store.reopen() as store:
            round_row = self.current_round_row(store)
            questions = len(store.framework_for(round_row).question_ids)
            open_conflicts = len(store.conflicts(round_row))
            if not self.loaded and (total := store.case_count(round_row)) > FIRST_SCREENFUL:
                # a big round: its first cases at once (a query of a few rows), every case after
                first = store.case_list(round_row, first=FIRST_SCREENFUL)
                self.post_message(CasesLoaded(CaseListing(first, questions), open_conflicts, round_row, listed_of=total))
            rows = store.case_list(round_row)
            self.post_message(CasesLoaded(CaseListing(rows, questions), open_conflicts, round_row))
            self.post_message(ChecksCounted(judgement_check_counts(store, round_row)))

    @on(CasesLoaded)
    def cases_loaded(self, message: CasesLoaded) -> None:
        if message.listed_of is not None and self.loaded:
            return  # every case is listed already
        self.listed_of = message.listed_of
        self.round_row = message.round_row
        self.title = f"{for_terminal(self.round_row.name)}: {for_terminal(self.round_row.unit)}"
        if (
            self.loaded
            and message.listing.rows == self.listing.rows
            and message.open_conflicts == self.open_conflicts
            and self.cursor_to is None
        ):
            return  # nothing changed for this round: nothing to redraw
        self.loaded = True
        self.listing = message.listing
        self.open_conflicts = message.open_conflicts
        self.apply_filter()
        table = self.query_one("#cases", LineTable)
        if self.cursor_to is not None and table.has_row(self.cursor_to):
            table.move_cursor(table.get_row_index(self.cursor_to))
            self.cursor_to = None

    @on(ChecksCounted)
    def checks_counted(self, message: ChecksCounted) -> None:
        if message.checks != self.checks:
            self.checks = message.checks
            self.apply_filter()

    @on(Input.Changed, "#filter")
    @on(Select.Changed, "#status")
    def apply_filter(self) -> None:
        text = self.query_one("#filter", Input).value.strip().lower()
        status = self.query_one("#status", Select).value
        table = self.query_one("#cases", LineTable)
        current = table.cursor_key
        listing = self.listing
        shown = ShownCases(listing, listing.matching(text, str(status)), self.checks)
        table.set_rows(shown, find=shown.find)
        if current is not None and table.has_row(current):
            table.move_cursor(table.get_row_index(current))
        removed_text = f", {listing.removed} removed" if listing.removed else ""
        outside = (
            f" (+{len(listing.rows) - listing.in_sample} not in the sample: {listing.reserves} reserve(s){removed_text})"
            if listing.reserves or listing.in_sample < len(listing.rows)
            else ""
        )
        warning = f"; {self.open_conflicts} merge conflict(s) to settle (press c)" if self.open_conflicts else ""
        to_check = listing.cases_to_check(self.checks)
        if to_check:
            warning += f"; {to_check} with a judgement to check (!)"
        if self.listed_of is not None:
            self.query_one("#cases-count", Static).update(
                f"{len(shown)} of the first {len(listing.rows)} of {self.listed_of} cases shown; reading the rest..."
            )
            return
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
                    self.show_case(values["case_ref"])
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

    def action_remove_or_restore(self) -> None:
        """Take the highlighted case out of the round (its answers kept, counted nowhere), or bring a removed
        case back: asks why, and the reason is recorded in the case's history."""
        ref = self.selected_case()
        if not ref:
            return
        n = self.listing.place(ref)
        restoring = n is not None and bool(self.listing.rows[n][8])

        def done(reason: str | None) -> None:
            if reason is None:
                return
            try:
                if restoring:
                    self.store.restore_case(self.round_row, ref, reason, by=self.auditor)
                    self.notify(f"Case {ref} restored: its answers count again", markup=False)
                else:
                    self.store.remove_case(self.round_row, ref, reason, by=self.auditor)
                    self.notify(
                        f"Case {ref} removed: its answers are kept but counted nowhere (x again restores it)", markup=False
                    )
            except CaseauditError as error:  # finalised, or changed by someone else meanwhile
                what = "Not restored" if restoring else "Not removed"
                self.notify(lines_for_terminal(str(error)), title=what, severity="error", timeout=8, markup=False)
            self.load_cases()

        if restoring:
            dialog = TextDialog(f"Restore case {ref} to the round? Why? (optional)", placeholder="Reason", required=False)
        else:
            dialog = TextDialog(
                f"Remove case {ref} from the round? Its answers are kept but counted nowhere. Why?", placeholder="Reason"
            )
        self.app.push_screen(dialog, done)

    def show_case(self, case_ref: str) -> None:
        """Put the cursor on this case once the cases are read again, clearing a filter that would hide it."""
        self.cursor_to = case_ref
        self.query_one("#filter", Input).value = ""
        self.query_one("#status", Select).value = "all"
        self.query_one("#cases", LineTable).focus()

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
