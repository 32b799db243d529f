"""A case's history: one line per change (answers, notes and case attributes), newest first, in local time."""

from __future__ import annotations

import datetime as _dt

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from audit.core.answers import format_answer_text
from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.store import AuditStore, Round
from audit.tui.screens.base import AuditScreen
from audit.tui.widgets.line_table import Column, LineTable

HISTORY_LIMIT = 500  # the newest changes shown; `caseaudit history --case` prints them all


def local_time(stamp: str | None) -> str:
    """A stored UTC time as this computer's local time, to the minute: '2026-07-01 10:00'."""
    if not stamp:
        return ""
    try:
        return _dt.datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp[:16]


def answer_change_words(row: dict) -> str:
    """'Yes -> N/A: no PSR', or 'note' when only the note changed."""
    old = format_answer_text(row["old_value"], row.get("old_reason")) if row["old_value"] else "-"
    new = format_answer_text(row["new_value"], row.get("new_reason")) if row["new_value"] else "-"
    if old == new and (row.get("old_note") or "") != (row.get("new_note") or ""):
        return f"{new} (note)" if row["new_value"] else "note"
    return f"{old} -> {new}"


def history_lines(store: AuditStore, round_row: Round, case_ref: str) -> list[dict]:
    """Every change to the case, newest first: when (local), who, what, the change, the note or reason."""
    lines = []
    for row in store.answer_history(round_row, case_ref):
        note = row.get("new_note") or ""
        if not note and row.get("old_note"):
            note = "(note removed)"
        lines.append(
            {
                "at": row["changed_at"],
                "when": local_time(row["changed_at"]),
                "who": row["auditor"],
                "source": row["source"],
                "what": row["question_id"],
                "change": answer_change_words(row),
                "note": note,
            }
        )
    for row in store.attribute_history(round_row, case_ref):
        lines.append(
            {
                "at": row["changed_at"],
                "when": local_time(row["changed_at"]),
                "who": row["changed_by"],
                "source": row["source"],
                "what": row["attribute"],
                "change": f"{row['old_value'] or '-'} -> {row['new_value'] or '-'}",
                "note": row.get("reason") or "",
            }
        )
    # newest first; changes made in the same instant keep the order they were recorded in, newest first too
    order = {id(line): n for n, line in enumerate(lines)}
    lines.sort(key=lambda line: (line["at"] or "", order[id(line)]), reverse=True)
    return lines[:HISTORY_LIMIT]


class HistoryScreen(AuditScreen):
    """One line per change; the highlighted change is shown in full below (notes are never cut)."""

    BINDINGS = [Binding("escape,h,q", "back", "Back", id="history.back")]

    def __init__(self, store: AuditStore, round_row: Round, case_ref: str):
        super().__init__()
        self.store = store
        self.round_row = round_row
        self.case_ref = case_ref
        self.lines: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield LineTable(
            [Column("When (local)", 16), Column("Who", 10), Column("Question", 8), Column("Change", 20), Column("Note", None)],
            id="history",
        )
        yield Static("", id="history-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"History of case {for_terminal(self.case_ref)}"
        self.lines = history_lines(self.store, self.round_row, self.case_ref)
        table = self.query_one("#history", LineTable)
        table.set_rows(
            [(n, (line["when"], line["who"], line["what"], line["change"], line["note"])) for n, line in enumerate(self.lines)]
        )
        table.focus()
        if self.lines:
            table.move_cursor(0)
        else:
            self.query_one("#history-detail", Static).update("No changes recorded for this case yet.")

    @on(LineTable.Highlighted, "#history")
    def show_detail(self, event: LineTable.Highlighted) -> None:
        line = self.lines[event.index]
        text = for_terminal(f"{line['when']}  {line['who']} ({line['source']})  {line['what']}: {line['change']}")
        if line["note"]:
            text += "\n" + lines_for_terminal(line["note"])  # its line breaks kept; other control characters as escapes
        self.query_one("#history-detail", Static).update(text)

    def action_back(self) -> None:
        self.dismiss()
