"""The conflicts screen: values two merged copies disagree on, settled one at a time."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from audit.core.events import KEPT_WORDS
from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.errors import CaseauditError
from audit.store import write_lock
from audit.tui.dialogs import ConfirmDialog
from audit.tui.messages import DatabaseChanged
from audit.tui.screens.base import PlainCell, RoundScreen, cursor_key


# ------------------------------------------------------------------ merge conflicts
class ConflictsScreen(RoundScreen):
    """Answers two merged copies disagree on: keep the value shown or take the other, one at a time."""

    shown: dict[str, tuple] = {}

    BINDINGS = [
        Binding("o", "keep('ours')", "Keep shown", id="conflicts.ours"),
        Binding("t", "keep('theirs')", "Take other", id="conflicts.theirs"),
        Binding("escape", "back", "Back", id="conflicts.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="conflicts-count", markup=False)
        yield DataTable(id="conflicts", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{for_terminal(self.round_row.name)}: merge conflicts"
        table = self.query_one("#conflicts", DataTable)
        for label, key, width in (
            ("#", "id", 4),
            ("Case", "case", 10),
            ("Question", "subject", 9),
            ("Shown", "ours", 18),
            ("Other", "theirs", 18),
            ("Found merging", "from", 12),
        ):
            table.add_column(label, key=key, width=width)
        self.reload()
        table.focus()

    @on(DatabaseChanged)
    def reload(self) -> None:
        from audit.core.answers import format_answer_text

        table = self.query_one("#conflicts", DataTable)
        current = cursor_key(table)
        table.clear()
        self.round_row = self.current_round_row()
        self.title = f"{for_terminal(self.round_row.name)}: merge conflicts"
        conflicts = self.store.conflicts(self.round_row)
        self.shown = {str(k["id"]): self.state_of(k) for k in conflicts}
        for k in conflicts:
            if k["kind"] == "answer":
                ours = format_answer_text(k["our_value"], k["our_reason"]) or "(blank)"
                theirs = format_answer_text(k["their_value"], k["their_reason"]) or "(blank)"
            else:
                ours, theirs = k["our_value"] or "(none)", k["their_value"] or "(none)"
            table.add_row(
                str(k["id"]),
                PlainCell(k["case_ref"] or "judgement"),
                PlainCell(k["subject"]),
                PlainCell(f"{ours} ({k['our_by']})"),
                PlainCell(f"{theirs} ({k['their_by']})"),
                PlainCell(k["from_file"]),
                key=str(k["id"]),
            )
        if current is not None and current in self.shown:
            table.move_cursor(row=list(self.shown).index(current), animate=False)
        self.query_one("#conflicts-count", Static).update(
            f"{len(conflicts)} open conflict(s). o keeps the value shown, t takes the other (either may come from either copy); the choice is recorded."
            if conflicts
            else "No open conflicts in this round."
        )

    @staticmethod
    def describe_change(key: str, shown: tuple | None, now: tuple) -> str:
        from audit.core.answers import format_answer_text

        def side(state: tuple | None, offset: int) -> str:
            if state is None:
                return "nothing"
            value, reason, by = state[offset], state[offset + 1], state[offset + 3 if offset == 0 else offset + 2]
            return f"{format_answer_text(value, reason) or '(blank)'} ({by})"

        parts = []
        if shown is None or shown[:4] != now[:4]:
            parts.append(f"the shown value is now {side(now, 0)} (this screen showed {side(shown, 0)})")
        if shown is None or shown[4:7] != now[4:7]:
            parts.append(f"the other value is now {side(now, 4)} (this screen showed {side(shown, 4)})")
        return f"Conflict #{key} changed since this screen showed it: {'; '.join(parts) or 'its details changed'}."

    @staticmethod
    def state_of(conflict: dict) -> tuple:
        """What the screen shows of a conflict: both sides and who gave them."""
        return tuple(
            conflict.get(k)
            for k in ("our_value", "our_reason", "our_note", "our_by", "their_value", "their_reason", "their_by", "resolved_at")
        )

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
            assert now is not None  # moved on: the conflict as it is now was read
            self.reload()
            if now["resolved_at"]:
                self.notify(
                    f"Conflict #{key} was resolved by {for_terminal(now['resolved_by'])} ({KEPT_WORDS.get(now['kept'], for_terminal(now['kept']))}) "
                    "since this screen showed it",
                    title="Not resolved",
                    severity="warning",
                    timeout=8,
                    markup=False,
                )
                return

            def decided(go_on: bool | None) -> None:
                if go_on:  # as the confirm named it: a later change is asked about in turn
                    self.resolve(key, keep, self.state_of(now))

            self.app.push_screen(
                ConfirmDialog(
                    f"{self.describe_change(key, shown, self.state_of(now))} {'Keep the shown value' if keep == 'ours' else 'Take the other value'}?"
                ),
                decided,
            )
            return
        self.notify(f"Conflict #{key}: {KEPT_WORDS[keep]}", markup=False)
        self.reload()
