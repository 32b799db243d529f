"""The rounds screen: every audit round, with new, rename, demo and open."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.errors import CaseauditError
from audit.store import AuditStore, Round
from audit.tui.dialogs import NewRoundDialog, TextDialog
from audit.tui.messages import DatabaseChanged
from audit.tui.screens.base import AuditScreen, PlainCell, cursor_key
from audit.tui.screens.cases import CasesScreen
from framework import DEFAULT_FRAMEWORK_ID, available_frameworks


# ------------------------------------------------------------------ rounds
class RoundsScreen(AuditScreen):
    BINDINGS = [
        Binding("enter", "open_round", "Open", id="rounds.open", show=False),
        Binding("n", "new_round", "New round", id="rounds.new"),
        Binding("r", "rename_round", "Rename", id="rounds.rename"),
        Binding("x", "remove_or_restore", "Remove/restore", id="rounds.remove"),
        Binding("v", "toggle_removed", "Show removed", id="rounds.show_removed"),
        Binding("d", "load_demo", "Load demo", id="rounds.demo"),
        Binding("q", "app.quit", "Quit", id="rounds.quit"),
    ]

    def __init__(self, store: AuditStore):
        super().__init__()
        self.store = store
        self.show_removed = False  # removed rounds are listed only when asked for (v)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="rounds-empty")
        yield DataTable(id="rounds", cursor_type="row")
        yield Footer()

    COLUMNS = (("Round", "name"), ("Unit", "unit"), ("Framework", "framework"), ("Cases", "cases"), ("Complete", "progress"))
    SHRINKABLE = 3  # the round, unit and framework give way so that every column fits the screen

    def on_mount(self) -> None:
        self.title = "caseaudit: audit rounds"
        self.widths: list[int] = []
        self.cursor_to: str | None = None  # a round just created: the cursor goes to it

    def on_resize(self) -> None:
        self.reload()

    def fitted_widths(self, cells: list[tuple[str, ...]]) -> list[int]:
        """Each column as wide as its longest cell; when they do not all fit the screen, the widest of the
        round, unit and framework are narrowed (their text ends in an ellipsis) until they do."""
        widths = [max([len(label)] + [len(row[i]) for row in cells]) for i, (label, _) in enumerate(self.COLUMNS)]
        # each column has a cell of padding either side; 2 more for a vertical scrollbar
        room = self.size.width - 2 * len(widths) - 2 - sum(widths[self.SHRINKABLE :])
        shrinkable = widths[: self.SHRINKABLE]
        while sum(shrinkable) > room and max(shrinkable) > 6:
            widest = shrinkable.index(max(shrinkable))
            shrinkable[widest] -= 1
        return shrinkable + widths[self.SHRINKABLE :]

    def on_screen_resume(self) -> None:
        self.reload()
        self.query_one("#rounds", DataTable).focus()

    @on(DatabaseChanged)
    def reload(self) -> None:
        table = self.query_one("#rounds", DataTable)
        current = self.cursor_to or cursor_key(table)
        self.cursor_to = None
        rounds = self.store.rounds(removed=self.show_removed)
        rows = []
        for r in rounds:
            state = " (finalised)" if r.get("finalised_at") else ""
            state += " (removed)" if r.get("removed_at") else ""
            framework = f"{r['framework_id']} v{r['framework_version']}"
            if r.get("framework_missing"):
                framework += " (not available)"
            progress = "-" if r.get("progress") is None else f"{r['progress'] * 100:.0f}%"
            rows.append((PlainCell(r["name"] + state), PlainCell(r["unit"]), PlainCell(framework), str(r["cases"]), progress))
        widths = self.fitted_widths([tuple(str(cell) for cell in row) for row in rows])
        if widths != self.widths:
            self.widths = widths
            table.clear(columns=True)
            for (label, key), width in zip(self.COLUMNS, widths, strict=True):
                table.add_column(label, key=key, width=width)
        else:
            table.clear()
        for r, row in zip(rounds, rows, strict=True):
            table.add_row(*row, key=r["id"])
        if current is not None:
            for index, r in enumerate(rounds):
                if r["id"] == current:
                    table.move_cursor(row=index, animate=False)
        empty = self.query_one("#rounds-empty", Static)
        empty.update(
            "No rounds yet. Press [b]d[/b] to load the demo rounds (the 2022 Newham and Lewisham and Bromley reports) "
            "or [b]n[/b] to create a round."
            if not rounds
            else "Enter opens a round."
        )

    def selected_round(self) -> Round | None:
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
            self.notify(
                lines_for_terminal(str(error)), title="Cannot open this round", severity="error", timeout=10, markup=False
            )
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
                    created = self.store.create_round(
                        values["name"], values["unit"], values["framework_id"], values["version"] or None, created_by=self.auditor
                    )
                    self.cursor_to = created.id
                except CaseauditError as error:
                    self.notify(lines_for_terminal(str(error)), severity="error", markup=False)
                self.reload()

        self.app.push_screen(NewRoundDialog(frameworks, default), done)

    def action_rename_round(self) -> None:
        round_row = self.selected_round()
        if round_row is None:
            return
        name = round_row.name

        def done(new_name: str | None) -> None:
            if new_name:
                try:
                    self.store.rename_round(round_row.id, new_name, by=self.auditor)  # by id: renamed elsewhere meanwhile or not
                except CaseauditError as error:  # a finalised round keeps its name
                    self.notify(lines_for_terminal(str(error)), title="Not renamed", severity="error", timeout=8, markup=False)
                self.reload()

        self.app.push_screen(TextDialog(f"Rename round {name!r}", value=name), done)

    def action_toggle_removed(self) -> None:
        self.show_removed = not self.show_removed
        self.notify(
            "Removed rounds are listed (x restores one)" if self.show_removed else "Removed rounds are hidden", markup=False
        )
        self.reload()

    def action_remove_or_restore(self) -> None:
        """Hide the highlighted round from the list (nothing in it is deleted), or bring a removed round back:
        asks why, and the reason is recorded in the round's history."""
        round_row = self.selected_round()
        if round_row is None:
            return
        restoring = round_row.removed

        def done(reason: str | None) -> None:
            if reason is None:
                return
            try:
                if restoring:
                    self.store.restore_round(round_row.id, reason, by=self.auditor)
                    self.notify(f"Round {for_terminal(round_row.name)} restored", markup=False)
                else:
                    self.store.remove_round(round_row.id, reason, by=self.auditor)
                    self.notify(
                        f"Round {for_terminal(round_row.name)} removed (v lists removed rounds; x there restores it)",
                        markup=False,
                    )
            except CaseauditError as error:  # a finalised round stays
                what = "Not restored" if restoring else "Not removed"
                self.notify(lines_for_terminal(str(error)), title=what, severity="error", timeout=8, markup=False)
            self.reload()

        if restoring:
            dialog = TextDialog(f"Restore round {round_row.name!r}? Why? (optional)", placeholder="Reason", required=False)
        else:
            dialog = TextDialog(
                f"Remove round {round_row.name!r} from the list? Nothing in it is deleted. Why?", placeholder="Reason"
            )
        self.app.push_screen(dialog, done)

    def action_load_demo(self) -> None:
        from audit.demo import load_demo

        try:
            for line in load_demo(self.store):
                self.notify(for_terminal(line), markup=False)
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), severity="error", markup=False)
        self.reload()
