"""What every screen shares: the round it shows, plain cells, band colours."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import on
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from audit.core.safe_text import for_terminal, lines_for_terminal
from audit.errors import CaseauditError
from audit.store import AuditStore, Round
from framework import Rating

BAND_STYLE = {
    Rating.OUTSTANDING: "bold bright_green",
    Rating.GOOD: "green",
    Rating.REQUIRES_IMPROVEMENT: "yellow",
    Rating.INADEQUATE: "bold red",
    Rating.NOT_APPLICABLE: "dim",
}


def relabel_binding(node, key: str, description: str) -> None:
    """Give this screen's binding of ``key`` a description taken from the round's framework."""
    bindings = node._bindings.key_to_bindings
    bindings[key] = [dataclasses.replace(b, description=description) for b in bindings.get(key, [])]


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
        return Text(self.text, no_wrap=True, overflow="ellipsis")  # a narrowed column ends in "…"

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

    def __init__(self, store: AuditStore, round_row: Round):
        super().__init__()
        self.store = store
        self.round_id = round_row.id  # what the screen is about; ``round_row`` is the round as last read, for display
        self.round_row = round_row

    def current_round_row(self, store: AuditStore | None = None) -> Round:
        """The round as stored now, looked up by its id: a rename elsewhere does not lose it."""
        return (store or self.store).round_by_id(self.round_id)

    def action_back(self) -> None:
        self.dismiss()
