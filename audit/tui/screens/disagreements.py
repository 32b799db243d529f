"""The disagreements screen: where a round's blind second marking disagrees with the first, settled one at a time.

Shown for an original round only: a moderation round's markers never see the first marking here (the
screen, opened on a moderation round, says which round to open instead and shows no answers)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from audit.core.moderation import kappa_text
from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.errors import CaseauditError
from audit.store import AuditStore, Round, write_lock
from audit.store.moderation import DisagreementLine, Disagreements, disagreements, settle
from audit.tui.dialogs import TextDialog
from audit.tui.messages import DatabaseChanged
from audit.tui.screens.base import PlainCell, RoundScreen, cursor_key


def moderation_refusal(store: AuditStore, round_row: Round) -> str | None:
    """Why the agreement is not shown from this round (a moderation round: the marking is blind), or None."""
    if round_row.moderates is None:
        return None
    try:
        original = repr(store.round_by_id(round_row.moderates).name)
    except CaseauditError:
        original = "the round it moderates"
    return (
        f"{round_row.name!r} is a moderation round: its marking is blind, so the agreement is not shown here. "
        f"Open it from round {original}."
    )


class DisagreementsLoaded(Message):
    def __init__(self, round_row: Round, found: Disagreements | None, message: str | None):
        super().__init__()
        self.round_row = round_row
        self.found = found
        self.message = message


class DisagreementsScreen(RoundScreen):
    """A round's moderation: the agreement and kappa, and every disagreement, settled with either marker's answer."""

    BINDINGS = [
        Binding("f", "settle('first')", "Keep first", id="disagreements.first", tooltip="Keep the first marker's answer"),
        Binding("s", "settle('second')", "Take second", id="disagreements.second", tooltip="Take the second marker's answer"),
        Binding("r", "refresh", "Refresh", id="disagreements.refresh"),
        Binding("escape", "back", "Back", id="disagreements.back"),
    ]

    def __init__(self, store: AuditStore, round_row: Round):
        super().__init__(store, round_row)
        self.found: Disagreements | None = None
        self.lines: dict[str, DisagreementLine] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading the moderation...", id="agreement", markup=False)
        yield DataTable(id="disagreements", cursor_type="row")
        yield Static("", id="disagreement-question", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{for_terminal(self.round_row.name)}: agreement"
        table = self.query_one("#disagreements", DataTable)
        for label, key, width in (
            ("Case", "case", 9),
            ("Question", "question", 8),
            ("Text", "text", 40),
            ("First marker", "first", 14),
            ("Second marker", "second", 14),
            ("Settled", "settled", 24),
        ):
            table.add_column(label, key=key, width=width)
        table.focus()

    def on_screen_resume(self) -> None:
        self.load()

    @on(DatabaseChanged)
    def database_changed(self) -> None:
        self.load()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="disagreements", exit_on_error=False)
    def load(self) -> None:
        """Read the moderation on a worker thread with its own connection; post it back."""
        with self.store.reopen() as store:
            round_row = self.current_round_row(store)
            refusal = moderation_refusal(store, round_row)
            if refusal is not None:
                self.post_message(DisagreementsLoaded(round_row, None, refusal))
                return
            if not store.moderation_rounds(round_row):
                message = (
                    f"Round {round_row.name!r} has no moderation round, so there is no agreement to show. "
                    f"Make one with: caseaudit moderate --round {round_row.name!r} --cases N"
                )
                self.post_message(DisagreementsLoaded(round_row, None, message))
                return
            self.post_message(DisagreementsLoaded(round_row, disagreements(store, round_row, newest_if_several=True), None))

    @on(DisagreementsLoaded)
    def loaded(self, message: DisagreementsLoaded) -> None:
        self.round_row = message.round_row
        self.found = message.found
        table = self.query_one("#disagreements", DataTable)
        current = cursor_key(table)
        table.clear()
        self.lines = {}
        header = self.query_one("#agreement", Static)
        if message.found is None:
            self.title = f"{for_terminal(self.round_row.name)}: agreement"
            header.update(for_terminal(message.message or ""))
            self.show_question()
            return
        found = message.found
        moderation = found.moderation
        overall = moderation.agreement.overall
        kappa = kappa_text(overall.kappa)
        self.title = (
            f"{for_terminal(self.round_row.name)}: agreement with {for_terminal(moderation.moderation.name)}, kappa {kappa}"
        )
        if overall.compared:
            figures = f"Overall agreement {overall.percent}% ({overall.agreed} of {overall.compared} answers both markers gave)"
        else:
            figures = "Overall agreement: no answer given by both markers yet"
        since = ""
        if moderation.answers_since:  # the first marking is R as it was when the moderation began
            as_of = moderation.first_marking_as_of[:16].replace("T", " ")
            since = f" First marking as of {as_of} UTC: {moderation.answers_since} answer(s) given since are not compared."
        header.update(
            f"Second marking: {for_terminal(moderation.moderation.name)}. {figures}; Cohen's kappa {kappa}.{since} "
            f"{len(found.lines)} disagreement(s), {found.open} to settle: f keeps the first marker's answer, "
            "s takes the second's (recorded as a moderation under your name)."
        )
        framework = self.store.framework_for(self.round_row)
        for line in found.lines:
            self.lines[line.key] = line
            table.add_row(
                PlainCell(line.case_ref),
                PlainCell(line.question),
                PlainCell(framework.question(line.question).text),
                PlainCell(line.first),
                PlainCell(line.second),
                PlainCell(f"{line.settled} ({line.settled_by})" if line.settled is not None else "not settled"),
                key=line.key,
            )
        if current is not None and current in self.lines:
            table.move_cursor(row=list(self.lines).index(current), animate=False)
        self.show_question()

    @on(DataTable.RowHighlighted, "#disagreements")
    def show_question(self) -> None:
        key = cursor_key(self.query_one("#disagreements", DataTable))
        line = self.lines.get(key) if key is not None else None
        detail = self.query_one("#disagreement-question", Static)
        if line is None:
            detail.update("")
            return
        text = self.store.framework_for(self.round_row).question(line.question).text
        detail.update(f"{line.case_ref} {line.question}: {text}\nFirst marker: {line.first}    Second marker: {line.second}")

    def action_settle(self, keep: str) -> None:
        key = cursor_key(self.query_one("#disagreements", DataTable))
        line = self.lines.get(key) if key is not None else None
        if line is None or self.found is None:
            return
        shown = line
        moderation_name = self.found.moderation.moderation.name
        marker = "first" if keep == "first" else "second"
        value = shown.first if keep == "first" else shown.second

        def reasoned(reason: str | None) -> None:
            if reason is not None:  # Escape: nothing is settled
                self.settle(shown, keep, reason, moderation_name)

        self.app.push_screen(
            TextDialog(
                f"Case {shown.case_ref} {shown.question}: keep the {marker} marker's answer ({value}). Reason (optional):",
                required=False,
            ),
            reasoned,
        )

    def settle(self, shown: DisagreementLine, keep: str, reason: str, moderation_name: str) -> None:
        """Settle one disagreement as this screen showed it; if either marker's answer changed meanwhile,
        nothing is settled and the screen shows it again."""
        try:
            with write_lock(self.store.db):  # the check and the settling in one transaction
                original = self.current_round_row()
                now = next((d for d in disagreements(self.store, original, moderation_name).lines if d.key == shown.key), None)
                moved_on = now is None or (now.first, now.second) != (shown.first, shown.second)
                if not moved_on:
                    settle(
                        self.store,
                        original,
                        shown.case_ref,
                        shown.question,
                        keep,
                        reason=reason or None,
                        moderation_name=moderation_name,
                        auditor=self.auditor,
                    )
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), title="Not settled", severity="error", timeout=8, markup=False)
            self.load()
            return
        if moved_on:
            self.notify(
                f"Case {for_terminal(shown.case_ref)} {for_terminal(shown.question)} changed since this screen showed it; "
                "nothing was settled. Look again.",
                title="Not settled",
                severity="warning",
                timeout=8,
                markup=False,
            )
        else:
            self.notify(
                f"Case {for_terminal(shown.case_ref)} {for_terminal(shown.question)}: kept the {keep} marker's answer",
                markup=False,
            )
        self.load()
