"""The case screen: walk a case's questions from the keyboard; every answer committed as given."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Static

from audit.core.answers import format_answer_text
from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.core.summary import case_standards
from audit.errors import CaseauditError, StaleAnswer
from audit.store import AuditStore, Round
from audit.tui.dialogs import ConfirmDialog, GuidanceDialog, TextDialog
from audit.tui.messages import DatabaseChanged
from audit.tui.screens.base import AuditScreen
from audit.tui.stale import answer_change, answer_words
from audit.tui.widgets.line_table import Column, LineTable
from framework import Answer
from framework.model import DataItem, KeyQuestion, Question
from framework.rules import judgement_disagrees

ANSWER_STYLE = {"Yes": "bold green", "No": "bold red", "Not applicable": "yellow"}

SAVED, STALE, FAILED = "saved", "stale", "failed"  # what became of one write


class _Shown(enum.Enum):
    SHOWN = "shown"


SHOWN = _Shown.SHOWN  # a write based on the answers row as the screen shows it now
Seen = dict | None | Literal[_Shown.SHOWN]


def answer_rows(store: AuditStore, case_id: int) -> dict[str, dict]:
    """Every answers row of the case by question id, cleared ones too: a cleared row still holds
    the event id a write from this screen is based on."""
    return {row["question_id"]: row for row in store.db.query("SELECT * FROM answers WHERE case_id = ?", [case_id])}


class RoundProgress(Message):
    def __init__(self, answered: int, cases: int, writes: int):
        super().__init__()
        self.answered, self.cases, self.writes = answered, cases, writes


class CaseScreen(AuditScreen):
    """The round's case-rated standards; under each key question its prompts first, the judgement last.

    Keys 1 to 9 jump to the framework's own case-rated standards, in its order (bound per screen)."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="case.back"),  # first: the footer shows it at any width
        Binding("y", "answer('Yes')", "Yes", id="case.yes", tooltip="Answer Yes and move to the next unanswered question"),
        Binding("n", "answer('No')", "No", id="case.no", tooltip="Answer No and move on"),
        Binding("x", "not_applicable", "N/A", id="case.na", tooltip="Not applicable: asks for a reason"),
        Binding("backspace,delete", "clear", "Clear", id="case.clear"),
        Binding("e", "edit_note", "Note", id="case.note"),
        Binding(
            "m", "standard_not_applicable", "Std N/A", id="case.standard_na", tooltip="Mark the whole standard Not applicable"
        ),
        Binding("question_mark", "guidance", "Guidance", id="case.guidance"),
        Binding("k", "move(-1)", "Up", show=False, id="case.up"),
        Binding("j", "move(1)", "Down", show=False, id="case.down"),
        Binding("h", "history", "History", id="case.history"),
    ]

    def __init__(self, store: AuditStore, round_row: Round, case_ref: str):
        super().__init__()
        self.store = store
        self.round_id = round_row.id  # what the screen is about; ``round_row`` is the round as last read, for display
        self.round_row = round_row
        self.framework = store.framework_for(round_row)
        self.case = store.case(round_row, case_ref)
        self.questions = list(self.framework.iter_questions())
        # the nth case-rated standard of this framework gets key n (up to 9), shown in the footer
        self.jump_standards = case_standards(self.framework)[:9]
        for n, standard in enumerate(self.jump_standards, 1):
            self._bindings.key_to_bindings[str(n)] = [Binding(str(n), f"jump_to({n})", standard.id, id=f"case.jump{n}")]
        # every answers row as this screen last read it (cleared rows too): what each write is based on
        self.answers = answer_rows(store, self.case["id"])
        self.round_answered = 0
        self.round_expected = 0
        self._writes = 0  # this screen's own writes, so a slower read of the round's progress is not shown over them

    # -- layout ----------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="case-heading", markup=False)
        yield LineTable([Column("Id", 10), Column("Answer", 16), Column("Question", None)], id="questions")
        with Vertical(id="detail"):
            # these quote stored text (reasons, notes, names): never markup
            yield Static("", id="question-text", markup=False)
            yield Static("", id="warning", classes="warning", markup=False)
            yield Static("", id="saved", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{for_terminal(self.round_row.name)}: case {for_terminal(self.case['case_ref'])}"
        table = self.table
        self._labels = {q.id: self._question_label(q) for q in self.questions}
        table.set_rows([(q.id, (q.id, self._answer_cell(q.id), self._labels[q.id])) for q in self.questions])
        answered, cases = self.store.sample_progress(self.round_id)  # reserves and swapped-out cases not counted
        self.round_answered = answered
        self.round_expected = cases * len(self.questions)
        table.focus()
        first = self.first_unanswered(0)
        # a case fully answered opens on its first question, with that question's detail shown
        self.move_to(0 if first is None else first)
        self.refresh_status()

    def _question_label(self, question) -> Text:
        standard = self.framework.standard_of(question.id)
        if isinstance(question, KeyQuestion):
            return Text(f"[{standard.id}] KEY QUESTION: {question.text}", style="bold")
        prefix = "data item: " if isinstance(question, DataItem) else ""
        return Text(f"[{standard.id}]   {prefix}{question.text}")

    def _answer_cell(self, question_id: str) -> Text:
        row = self.answers.get(question_id)
        value = row["value"] if row else None
        question = self.framework.question(question_id)
        if value is None:
            text = Text("-", style="dim")
        elif value == Answer.NOT_APPLICABLE:
            label = question.not_applicable_label if isinstance(question, DataItem) else "N/A"
            text = Text(label, style=ANSWER_STYLE[value])
        else:
            assert row is not None  # an answer shown is an answers row
            text = Text(format_answer_text(value, row["reason"]), style=ANSWER_STYLE[value])
        if row and row.get("note"):
            text.append(" +note", style="italic")
        if isinstance(question, KeyQuestion) and self.disagrees(question):
            text.append(" !check", style="bold magenta")
        return text

    # -- state helpers ---------------------------------------------------
    @property
    def table(self) -> LineTable:
        return self.query_one("#questions", LineTable)

    @property
    def focused_question(self) -> Question:
        return self.questions[self.table.cursor_row]

    def value_of(self, question_id: str) -> str | None:
        row = self.answers.get(question_id)
        return row["value"] if row else None

    def first_unanswered(self, start: int) -> int | None:
        n = len(self.questions)
        for offset in range(n):
            index = (start + offset) % n
            if self.value_of(self.questions[index].id) is None:
                return index
        return None

    def move_to(self, index: int | None) -> None:
        if index is not None:
            self.table.move_cursor(index)

    def disagrees(self, key_question: KeyQuestion) -> bool:
        return judgement_disagrees(self.value_of(key_question.id), [self.value_of(p.id) for p in key_question.prompts])

    def answered_count(self) -> int:
        return sum(1 for q in self.questions if self.value_of(q.id) is not None)

    def refresh_status(self) -> None:
        answered = self.answered_count()
        round_pct = (self.round_answered / self.round_expected * 100) if self.round_expected else 0
        case = self.case
        self.query_one("#case-heading", Static).update(
            layout=False,
            content=f"{for_terminal(case['case_ref'])} {for_terminal(case['sentence_type'] or '')}, RoSH {for_terminal(case['rosh_level'] or '-')} | "
            f"case {answered}/{len(self.questions)} | round {round_pct:.0f}%",
        )
        self.show_detail()

    def show_detail(self) -> None:
        if not self.is_mounted or self.table.row_count == 0:
            return
        question = self.focused_question
        row = self.answers.get(question.id)
        standard = self.framework.standard_of(question.id)
        lines = [f"{standard.id} {standard.name}  |  {question.kind} {question.id}", question.text]
        if row and row.get("reason"):
            lines.append(f"Not applicable because: {for_terminal(row['reason'])}")
        if row and row.get("note"):
            lines.append(f"Note: {for_terminal(row['note'])}")
        self.query_one("#question-text", Static).update("\n".join(lines), layout=False)
        key_question = question if isinstance(question, KeyQuestion) else self.framework.key_question(question.key_question_id)
        warning = ""
        if self.disagrees(key_question):
            warning = (
                f"Check {key_question.id}: the judgement '{self.value_of(key_question.id)}' disagrees with every relevant prompt. "
                "It is a holistic judgement, so this is a warning, not a block."
            )
        self.query_one("#warning", Static).update(warning, layout=False)

    @on(LineTable.Highlighted, "#questions")
    def highlighted(self) -> None:
        self.show_detail()

    # -- following the database --------------------------------------------
    @on(DatabaseChanged)
    def database_changed(self) -> None:
        """Another auditor committed: show what is stored now, redrawing only the lines that changed."""
        try:
            self.round_row = self.store.round_by_id(self.round_id)
            self.case = self.store.case(self.round_row, self.case["case_ref"])
        except CaseauditError:
            return
        stored = answer_rows(self.store, self.case["id"])
        for question_id in set(stored) | set(self.answers):
            if stored.get(question_id) != self.answers.get(question_id):
                self.show_stored(question_id, stored.get(question_id))
        self.title = f"{for_terminal(self.round_row.name)}: case {for_terminal(self.case['case_ref'])}"
        self.count_round_progress(self._writes)
        self.refresh_status()

    @work(thread=True, exclusive=True, group="round-progress", exit_on_error=False)
    def count_round_progress(self, writes: int) -> None:
        with self.store.reopen() as store:
            answered, cases = store.sample_progress(self.round_id)
        self.post_message(RoundProgress(answered, cases, writes))

    @on(RoundProgress)
    def round_progress(self, message: RoundProgress) -> None:
        if message.writes == self._writes:  # else this screen wrote meanwhile: the next change recounts
            self.round_answered = message.answered
            self.round_expected = message.cases * len(self.questions)
            self.refresh_status()

    def show_stored(self, question_id: str, row: dict | None) -> None:
        """Show one stored answers row (None: none stored) on its line and its key question's."""
        before = self.value_of(question_id)
        if row is None:
            self.answers.pop(question_id, None)
        else:
            self.answers[question_id] = row
        self.round_answered += (self.value_of(question_id) is not None) - (before is not None)
        self.update_row(question_id)
        question = self.framework.question(question_id)
        key_question_id = question.id if isinstance(question, KeyQuestion) else question.key_question_id
        if key_question_id != question_id:
            self.update_row(key_question_id)

    def stored_row(self, question_id: str) -> dict | None:
        """The answers row as stored now, cleared or not (None: there has never been one)."""
        rows = self.store.db.query("SELECT * FROM answers WHERE case_id = ? AND question_id = ?", [self.case["id"], question_id])
        return next(iter(rows), None)

    # -- writing ---------------------------------------------------------
    def write(
        self,
        question_id: str,
        save: Callable[[str | None], object],
        *,
        ask: str | None,
        retry: Callable[[dict | None], object],
        seen: Seen = SHOWN,
        wanted: Callable[[dict | None], bool] = lambda row: False,
    ) -> str:
        """Run one store write based on the answers row the person saw (compare-and-set): by default the
        row shown now; a dialog's write passes the row shown when the dialog opened.

        If another auditor changed it meanwhile nothing is written: the line shows their answer and,
        when ``ask`` is given ("Replace it with Yes?"), a confirm asks whether to write again over it.
        Confirming writes based on the answer the confirm named (``retry(theirs)``), so a third change
        made while the confirm was open is asked about in turn, never silently replaced. If what is
        stored is already what this write wanted (``wanted(row)``), there is nothing to ask."""
        if seen is SHOWN:
            seen = self.answers.get(question_id)
        try:
            save((seen or {}).get("event_id"))
        except StaleAnswer as stale:
            theirs = stale.current
            self.show_stored(question_id, theirs)
            self.refresh_status()
            change = answer_change(question_id, seen, theirs)
            self.query_one("#saved", Static).update(f"Not saved: {for_terminal(change)}", layout=False)
            if wanted(theirs):
                self.notify(f"{for_terminal(change)}: already as you wanted", timeout=4, markup=False)
            elif ask:

                def decided(replace: bool | None) -> None:
                    if replace:
                        retry(theirs)
                    else:
                        self.notify(
                            f"Kept {for_terminal((theirs or {}).get('auditor') or 'their')} answer to {question_id}",
                            timeout=4,
                            markup=False,
                        )

                self.app.push_screen(ConfirmDialog(f"{change}. {ask}"), decided)
            return STALE
        except CaseauditError as error:
            self.notify(lines_for_terminal(str(error)), title="Not saved", severity="error", timeout=8, markup=False)
            return FAILED
        self._writes += 1
        self.show_stored(question_id, self.stored_row(question_id))
        return SAVED

    def commit(
        self,
        question_id: str,
        value: Answer | None,
        *,
        reason: str | None = None,
        advance: bool = True,
        ask: bool = True,
        seen: Seen = SHOWN,
    ) -> str:
        """The same store call `caseaudit answer` makes, based on the answer shown; the row changes only
        after COMMIT returns. Returns SAVED, STALE (someone else changed it: nothing written) or FAILED."""

        def save(based_on: str | None) -> None:
            self.store.record_answer(
                self.round_row,
                self.case["case_ref"],
                question_id,
                value,
                reason=reason,
                auditor=self.auditor,
                source="tui",
                based_on=based_on,
            )

        wanted = format_answer_text(value, reason) if value is not None else None
        question = (f"Replace it with {wanted}?" if wanted else "Clear it?") if ask else None
        reason_kept = (reason or "").strip() or None if value is Answer.NOT_APPLICABLE else None
        outcome = self.write(
            question_id,
            save,
            ask=question,
            seen=seen,
            retry=lambda theirs: self.commit(question_id, value, reason=reason, advance=advance, seen=theirs),
            wanted=lambda row: ((row or {}).get("value"), (row or {}).get("reason")) == (value and value.value, reason_kept),
        )
        if outcome != SAVED:
            return outcome
        after = self.answers.get(question_id)
        shown = answer_words(after) if self.value_of(question_id) else "cleared"
        self.query_one("#saved", Static).update(f"Saved {question_id}: {for_terminal(shown)}", layout=False)
        if advance and self.value_of(question_id) is not None:
            self.move_to(self.first_unanswered(self.table.cursor_row + 1))
        self.refresh_status()
        return SAVED

    def save_note(self, question_id: str, note: str, *, seen: Seen = SHOWN) -> str:
        """Change only the note: the answer stays exactly as stored, whoever gave it."""

        def save(based_on: str | None) -> None:
            self.store.record_note(
                self.round_row,
                self.case["case_ref"],
                question_id,
                note,
                auditor=self.auditor,
                source="tui",
                based_on=based_on,
            )

        outcome = self.write(
            question_id,
            save,
            ask="Save your note on it?" if note else "Remove the note anyway?",
            seen=seen,
            retry=lambda theirs: self.save_note(question_id, note, seen=theirs),
            wanted=lambda row: ((row or {}).get("note") or "") == (note or "").strip(),
        )
        if outcome == SAVED:
            self.query_one("#saved", Static).update(
                f"Saved the note on {question_id}" if note else f"Removed the note on {question_id}", layout=False
            )
            self.refresh_status()
        return outcome

    def update_row(self, question_id: str) -> None:
        self.table.update_row(question_id, (question_id, self._answer_cell(question_id), self._labels[question_id]))

    def action_answer(self, value: str) -> None:
        self.commit(self.focused_question.id, Answer(value))

    def action_clear(self) -> None:
        self.commit(self.focused_question.id, None, advance=False)

    def action_not_applicable(self) -> None:
        question = self.focused_question
        seen = self.answers.get(question.id)  # what the person saw when asked for the reason

        def done(reason: str | None) -> None:
            if reason:
                self.commit(question.id, Answer.NOT_APPLICABLE, reason=reason, seen=seen)

        self.app.push_screen(
            TextDialog(
                f"Why is {question.id} not applicable?", placeholder="Reason", suggestions=self.store.na_reasons(self.round_row)
            ),
            done,
        )

    def action_standard_not_applicable(self) -> None:
        standard = self.framework.standard_of(self.focused_question.id)
        ids = [
            question_id
            for kq in standard.key_questions
            for question_id in (*(p.id for p in kq.prompts), *(d.id for d in kq.data_items), kq.id)
        ]
        shown = {question_id: self.answers.get(question_id) for question_id in ids}  # as seen when asked why

        def done(reason: str | None) -> None:
            if not reason:
                return
            changed: list[tuple[str, str, dict | None]] = []  # answered by someone else since this screen showed them
            for question_id in ids:
                outcome = self.commit(
                    question_id, Answer.NOT_APPLICABLE, reason=reason, advance=False, ask=False, seen=shown[question_id]
                )
                if outcome == FAILED:
                    return
                if outcome == STALE:
                    theirs = self.answers.get(question_id)
                    changed.append((question_id, answer_change(question_id, shown[question_id], theirs), theirs))
            self.move_to(self.first_unanswered(self.questions.index(self.framework.question(ids[-1])) + 1))
            marked = len(ids) - len(changed)
            self.notify(f"{standard.id} {standard.name}: {marked} of {len(ids)} questions marked Not applicable", markup=False)
            if changed:
                self.confirm_standard_over_changes(changed, reason)

        self.app.push_screen(
            TextDialog(
                f"Mark all of {standard.id} {standard.name} Not applicable. Why?",
                placeholder="e.g. No pre-sentence report prepared",
                suggestions=self.store.na_reasons(self.round_row),
            ),
            done,
        )

    def confirm_standard_over_changes(self, changed: list[tuple[str, str, dict | None]], reason: str) -> None:
        """Some questions of the standard were answered elsewhere meanwhile: ask before marking those too."""
        listed = "; ".join(words for _, words, _ in changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")

        def decided(replace: bool | None) -> None:
            if not replace:
                self.notify(f"Kept the other answers to {', '.join(q for q, _, _ in changed)}", timeout=4, markup=False)
                return
            for question_id, _, theirs in changed:  # based on the answers the confirm named
                if self.commit(question_id, Answer.NOT_APPLICABLE, reason=reason, advance=False, ask=False, seen=theirs) == STALE:
                    self.notify(f"{question_id} changed again; it was left as it is", severity="warning", timeout=8, markup=False)

        self.app.push_screen(
            ConfirmDialog(f"{listed}. Mark {'it' if len(changed) == 1 else 'them'} Not applicable too?"), decided
        )

    def action_edit_note(self) -> None:
        question = self.focused_question
        row = self.answers.get(question.id)

        def done(note: str | None) -> None:
            if note is not None:
                self.save_note(question.id, note, seen=row)

        self.app.push_screen(TextDialog(f"Note on {question.id}", value=(row or {}).get("note") or "", required=False), done)

    def action_move(self, step: int) -> None:
        self.move_to(max(0, min(len(self.questions) - 1, self.table.cursor_row + step)))

    def action_jump_to(self, n: int) -> None:
        """Jump to the framework's nth case-rated standard."""
        if 1 <= n <= len(self.jump_standards):
            self.action_jump(self.jump_standards[n - 1].id)

    def action_jump(self, standard_id: str) -> None:
        for index, question in enumerate(self.questions):
            if self.framework.standard_of(question.id).id == standard_id:
                self.move_to(index)
                return

    def action_guidance(self) -> None:
        question = self.focused_question
        key_question = question if isinstance(question, KeyQuestion) else self.framework.key_question(question.key_question_id)
        standard = self.framework.standard(key_question.standard_id)
        parts = [f"# {question.id}", question.text, ""]
        if question.guidance:
            parts += [question.guidance, ""]
        parts += [
            f"## Key question {key_question.id}",
            key_question.text,
            "",
            key_question.guidance or "",
            "",
            f"## Standard {standard.id} {standard.name}",
            standard.headline,
            "",
            "Yes / No / Not applicable (with a reason). Only Yes and No count in the percentage.",
        ]
        self.app.push_screen(GuidanceDialog("\n".join(parts)))

    def action_history(self) -> None:
        from audit.tui.screens.history import HistoryScreen

        self.app.push_screen(HistoryScreen(self.store, self.round_row, self.case["case_ref"]))

    def action_back(self) -> None:
        self.dismiss(self.answered_count())
