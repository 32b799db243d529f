"""The caseaudit Textual app: rounds -> cases -> case, with summary and domain-1 screens."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..store import AuditStore


class CaseAuditApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "caseaudit"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit", show=False)]

    def __init__(self, db_path: str | Path, *, round_name: str | None = None, case_ref: str | None = None):
        super().__init__()
        self.db_path = Path(db_path)
        self.start_round = round_name
        self.start_case = case_ref
        self.store: AuditStore | None = None

    def on_mount(self) -> None:
        from .screens import CasesScreen, RoundsScreen

        self.store = AuditStore.open(self.db_path)
        self.push_screen(RoundsScreen(self.store))
        if self.start_round:
            round_row = self.store.round(self.start_round)
            self.push_screen(CasesScreen(self.store, round_row))
            if self.start_case:
                from .case_screen import CaseScreen

                self.push_screen(CaseScreen(self.store, round_row, self.start_case))

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    # -- command palette: every screen -----------------------------------
    def current_round(self) -> dict | None:
        for screen in reversed(self.screen_stack):
            round_row = getattr(screen, "round_row", None)
            if round_row:
                return round_row
        return None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Rounds", "Go to the list of audit rounds", self.action_rounds)
        if self.current_round():
            yield SystemCommand("Cases", "The cases of this round", self.action_cases)
            yield SystemCommand("Summary", "The inspectorate's tables for this round", self.action_summary)
            yield SystemCommand("Domain 1 ratings", "Organisational ratings with advisory caps", self.action_domain_one)
            yield SystemCommand("Merge conflicts", "Answers a merged copy disagrees on: keep ours or take theirs", self.action_conflicts)

    def action_rounds(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def action_cases(self) -> None:
        from .screens import CasesScreen

        round_row = self.current_round()
        self.action_rounds()
        self.push_screen(CasesScreen(self.store, round_row))

    def action_summary(self) -> None:
        from .screens import SummaryScreen

        self.push_screen(SummaryScreen(self.store, self.current_round()))

    def action_domain_one(self) -> None:
        from .screens import DomainOneScreen

        self.push_screen(DomainOneScreen(self.store, self.current_round()))


    def action_conflicts(self) -> None:
        from .screens import ConflictsScreen

        self.push_screen(ConflictsScreen(self.store, self.current_round()))


def run_app(db_path: str | Path, *, round_name: str | None = None, case_ref: str | None = None) -> int:
    # Check the database and the starting point before taking over the terminal.
    with AuditStore.open(db_path) as store:
        if round_name:
            round_row = store.round(round_name)
            if case_ref:
                store.case(round_row, case_ref)
    CaseAuditApp(db_path, round_name=round_name, case_ref=case_ref).run()
    return 0


__all__ = ["CaseAuditApp", "run_app"]
