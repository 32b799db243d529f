"""The caseaudit Textual app: rounds -> cases -> case, with summary and judgement-ratings screens."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.timer import Timer

from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.core.summary import judgement_label
from audit.errors import CaseauditError
from audit.store import AuditStore, Round, auditor_name, current_user
from audit.tui.messages import DatabaseChanged

ASK_AUDITOR_ENV = "CASEAUDIT_ASK_AUDITOR"  # set by `caseaudit serve`: each browser session says who is auditing
FOLLOW_SECONDS = 0.5  # how often the app asks SQLite whether another process has committed


class CaseAuditApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "caseaudit"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit", show=False)]

    def __init__(
        self,
        db_path: str | Path,
        *,
        round_name: str | None = None,
        case_ref: str | None = None,
        auditor: str | None = None,
        ask_auditor: bool | None = None,
    ):
        super().__init__()
        self.db_path = Path(db_path)
        self.start_round = round_name
        self.start_case = case_ref
        self.store: AuditStore | None = None
        if ask_auditor is None:
            ask_auditor = os.environ.get(ASK_AUDITOR_ENV, "").strip() == "1"
        self.ask_auditor = ask_auditor
        named = (auditor or "").strip() or os.environ.get("CASEAUDIT_AUDITOR", "").strip() or None
        if named is not None:  # one line of printable characters: it goes into the history as it is
            named = auditor_name(named, "--auditor" if (auditor or "").strip() else "CASEAUDIT_AUDITOR")
        # asked: a name given by --auditor or CASEAUDIT_AUDITOR is only offered, never the server's login name
        self.offered_auditor = named
        self.auditor: str | None = None if ask_auditor else (named or current_user())
        self.follow_timer: Timer | None = None
        self._data_version: int | None = None

    def on_mount(self) -> None:
        self.store = AuditStore.open(self.db_path)
        self._data_version = self.data_version()
        self.follow_timer = self.set_interval(FOLLOW_SECONDS, self.follow_database, name="follow database")
        if self.auditor is None:
            from audit.tui.dialogs import AuditorDialog

            self.sub_title = "who is auditing?"
            self.push_screen(AuditorDialog(self.offered_auditor or ""), self.start_auditing)
        else:
            self.start_auditing(self.auditor)

    def start_auditing(self, auditor: str | None) -> None:
        """Every change from now on is recorded under this name; only now can any screen write."""
        from audit.tui.screens.case import CaseScreen
        from audit.tui.screens.cases import CasesScreen
        from audit.tui.screens.rounds import RoundsScreen

        store = self.opened_store()
        self.auditor = auditor
        self.sub_title = f"auditing as {for_terminal(auditor)}"  # a title is never markup; control characters shown
        self.push_screen(RoundsScreen(store))
        if not self.start_round:
            return
        try:
            round_row = store.round(self.start_round)  # the name given on the command line, looked up once
            store.round_framework(round_row)
            self.push_screen(CasesScreen(store, round_row))
            if self.start_case:
                self.push_screen(CaseScreen(store, round_row, self.start_case))
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), title="Cannot open", severity="error", timeout=10, markup=False)

    def opened_store(self) -> AuditStore:
        """The store, opened on mount: every screen is pushed after that."""
        assert self.store is not None, "the store is opened on mount"
        return self.store

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    # -- following the database ------------------------------------------
    def data_version(self) -> int:
        """SQLite's counter on this connection: it moves only when another connection commits."""
        return self.opened_store().db.execute("PRAGMA data_version").fetchone()[0]

    def follow_database(self) -> None:
        """One PRAGMA per tick; when another process has committed, the screen in view refreshes."""
        if self.store is None:
            return
        try:
            version = self.data_version()
        except sqlite3.Error:  # closing down, or the file went away: the next tick asks again
            return
        if version == self._data_version:
            return
        self._data_version = version
        for screen in self.screens_in_view():
            screen.post_message(DatabaseChanged())

    def screens_in_view(self) -> list[Screen]:
        """The active screen and, under a dialog, the screen the dialog sits on."""
        shown: list[Screen] = []
        for screen in reversed(self.screen_stack):
            shown.append(screen)
            if not isinstance(screen, ModalScreen):
                break
        return shown

    # -- command palette: every screen -----------------------------------
    def current_round(self) -> Round | None:
        for screen in reversed(self.screen_stack):
            round_row = getattr(screen, "round_row", None)
            if round_row:
                return round_row
        return None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.auditor is None:
            return
        yield SystemCommand("Rounds", "Go to the list of audit rounds", self.action_rounds)
        round_row = self.current_round()
        if round_row:
            assert self.store is not None  # a round is shown only once the database is open
            yield SystemCommand("Cases", "The cases of this round", self.action_cases)
            yield SystemCommand("Summary", "The inspectorate's tables for this round", self.action_summary)
            try:
                label = judgement_label(self.store.framework_for(round_row))
            except CaseauditError:
                label = "Judgement"
            yield SystemCommand(f"{label} ratings", "Judgement-rated standards with advisory caps", self.action_domain_one)
            yield SystemCommand(
                "Merge conflicts", "Answers a merged copy disagrees on: keep ours or take theirs", self.action_conflicts
            )
            yield SystemCommand(
                "Agreement",
                "The blind second marking: agreement, kappa and disagreements to settle",
                self.action_agreement,
            )

    def action_rounds(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def action_cases(self) -> None:
        from audit.tui.screens.cases import CasesScreen

        round_row = self.current_round()
        if round_row is None:  # these commands are offered only on a round's screens
            return
        self.action_rounds()
        self.push_screen(CasesScreen(self.opened_store(), round_row))

    def action_summary(self) -> None:
        from audit.tui.screens.summary import SummaryScreen

        round_row = self.current_round()
        if round_row is not None:
            self.push_screen(SummaryScreen(self.opened_store(), round_row))

    def action_domain_one(self) -> None:
        from audit.tui.screens.domain_one import DomainOneScreen

        round_row = self.current_round()
        if round_row is not None:
            self.push_screen(DomainOneScreen(self.opened_store(), round_row))

    def action_conflicts(self) -> None:
        from audit.tui.screens.conflicts import ConflictsScreen

        round_row = self.current_round()
        if round_row is not None:
            self.push_screen(ConflictsScreen(self.opened_store(), round_row))

    def action_agreement(self) -> None:
        """The disagreements screen of the round in view; from a moderation round, a polite refusal:
        its marker must not see the first marking."""
        from audit.tui.screens.disagreements import DisagreementsScreen, moderation_refusal

        round_row = self.current_round()
        if round_row is None:
            return
        store = self.opened_store()
        try:
            round_row = store.round_by_id(round_row.id)  # as stored now: a moderation link is never stale
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), title="Cannot open", severity="error", timeout=8, markup=False)
            return
        refusal = moderation_refusal(store, round_row)
        if refusal is not None:
            self.notify(lines_for_terminal(refusal), title="Blind second marking", severity="warning", timeout=10, markup=False)
            return
        self.push_screen(DisagreementsScreen(store, round_row))


def build_app(
    db_path: str | Path, *, round_name: str | None = None, case_ref: str | None = None, auditor: str | None = None
) -> CaseAuditApp:
    """The app `caseaudit` and `caseaudit open` run, after checking the database and the starting point."""
    with AuditStore.open(db_path) as store:
        if round_name:
            round_row = store.round(round_name)
            store.round_framework(round_row)
            if case_ref:
                store.case(round_row, case_ref)
    return CaseAuditApp(db_path, round_name=round_name, case_ref=case_ref, auditor=auditor)


def run_app(
    db_path: str | Path, *, round_name: str | None = None, case_ref: str | None = None, auditor: str | None = None
) -> int:
    # Check the database and the starting point before taking over the terminal.
    build_app(db_path, round_name=round_name, case_ref=case_ref, auditor=auditor).run()
    return 0


__all__ = ["CaseAuditApp", "DatabaseChanged", "build_app", "run_app"]
