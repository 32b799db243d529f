"""A fast read-only table drawn with Textual's line API.

Textual's DataTable re-renders every visible cell whenever one cell changes (its
caches are keyed by a table-wide update count). The case screen changes one row
per key press, and the cases screen shows thousands of rows, so this table
renders each row once into a cached Strip: changing a row repaints that line
only, moving the cursor repaints two lines, and only visible rows are ever drawn.

The rows are any sequence, kept as given: the cases screen of a 250,000-case round
passes a view that makes a row's cells only when the row is drawn, and says how to
find a key's row, so filtering as you type never copies a quarter of a million rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import attrs
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from audit.core.safe_text import for_terminal

Cell = Text | str  # a str is shown as written (never markup); control characters in either are shown as escapes


@attrs.frozen
class Column:
    label: str
    width: int | None  # None: takes the rest of the width


class _Part(Sequence):
    """One part of every row (its key, or its cells), read from the rows as asked for."""

    def __init__(self, rows: Sequence[tuple[Hashable, Sequence[Cell]]], part: int):
        self._rows, self._part = rows, part

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [row[self._part] for row in self._rows[index]]
        return self._rows[index][self._part]


class LineTable(ScrollView, can_focus=True):
    """Rows of cells under a fixed header; one row has the cursor."""

    COMPONENT_CLASSES = {"line-table--header", "line-table--cursor"}
    DEFAULT_CSS = """
    LineTable { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    LineTable > .line-table--header { text-style: bold; background: $panel; }
    LineTable > .line-table--cursor { background: $block-cursor-blurred-background; }
    LineTable:focus > .line-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "to_row(0)", "First", show=False),
        Binding("end", "to_row(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, table: LineTable, index: int, key: Hashable | None):
            super().__init__()
            self.table, self.index, self.key = table, index, key

        @property
        def control(self) -> LineTable:
            return self.table

    class Selected(Highlighted):
        pass

    def __init__(self, columns: Sequence[Column], *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.columns = tuple(columns)
        self._rows: Sequence[tuple[Hashable, Sequence[Cell]]] = []
        self._find: Callable[[Hashable], int | None] | None = None
        self._index: dict[Hashable, int] | None = None
        self._strips: dict[tuple[int, bool], Strip] = {}
        self._strip_width = 0
        self.cursor_row = 0

    # -- data ------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def _keys(self) -> Sequence[Hashable]:
        return _Part(self._rows, 0)

    @property
    def _cells(self) -> Sequence[Sequence[Cell]]:
        return _Part(self._rows, 1)

    @property
    def cursor_key(self) -> Hashable | None:
        return self._rows[self.cursor_row][0] if self._rows else None

    def _row_of(self, key: Hashable) -> int | None:
        if self._find is not None:
            return self._find(key)
        if self._index is None:  # made on first use, once per set of rows
            self._index = {row[0]: i for i, row in enumerate(self._rows)}
        return self._index.get(key)

    def has_row(self, key: Hashable) -> bool:
        return self._row_of(key) is not None

    def get_row_index(self, key: Hashable) -> int:
        index = self._row_of(key)
        if index is None:
            raise KeyError(key)
        return index

    def set_rows(
        self, rows: Sequence[tuple[Hashable, Sequence[Cell]]], *, find: Callable[[Hashable], int | None] | None = None
    ) -> None:
        """Replace every row: (key, cells) pairs, in any sequence (kept, not copied). ``find``: the row of
        a key, or None (default: a dictionary of the keys, made when first asked)."""
        self._rows = rows
        self._find = find
        self._index = None
        self._strips.clear()
        self.cursor_row = max(0, min(self.cursor_row, len(rows) - 1))
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self.refresh()

    def update_row(self, key: Hashable, cells: Sequence[Cell]) -> None:
        """Change one row: only its line is repainted (rows given as a list)."""
        index = self.get_row_index(key)
        if not isinstance(self._rows, list):
            self._rows = list(self._rows)
        self._rows[index] = (key, tuple(cells))
        self._forget(index)
        self.refresh_line(index + 1)

    def _forget(self, index: int) -> None:
        self._strips.pop((index, False), None)
        self._strips.pop((index, True), None)

    # -- cursor ------------------------------------------------------------
    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        if not self._rows:
            return
        row = max(0, min(row, len(self._rows) - 1))
        old, self.cursor_row = self.cursor_row, row
        if old != row:
            self.refresh_line(old + 1)
        self.refresh_line(row + 1)
        if scroll:
            self._scroll_to_cursor()
        self.post_message(self.Highlighted(self, row, self._rows[row][0]))

    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_offset.y)
        visible = self._visible_rows()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * self._visible_rows())

    def action_to_row(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self._rows) - 1)

    def action_select(self) -> None:
        if self._rows:
            self.post_message(self.Selected(self, self.cursor_row, self._rows[self.cursor_row][0]))

    def on_click(self, event: events.Click) -> None:
        row = round(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= row < len(self._rows):
            self.move_cursor(row, scroll=False)
            if event.chain >= 2:
                self.action_select()

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._rows) + 1)
        self._strips.clear()
        self._scroll_to_cursor()

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()

    # -- drawing -----------------------------------------------------------
    def _widths(self, total: int) -> list[int]:
        fixed = sum(c.width or 0 for c in self.columns) + len(self.columns) - 1
        return [c.width if c.width is not None else max(8, total - fixed) for c in self.columns]

    def _shown(self, cell: Cell) -> Text:
        """A cell as drawn: a str literally, and any control character (an escape sequence from
        stored text) shown as a visible escape rather than sent to the terminal."""
        if not isinstance(cell, Text):
            return Text(for_terminal(cell))
        if for_terminal(cell.plain) == cell.plain:
            return cell.copy()
        # rebuilt piece by piece so each keeps its style
        return Text.assemble(
            *((for_terminal(s.text), s.style or "") for s in cell.render(self.app.console, end="")), style=cell.style
        )  # an unstyled piece: "" appends it unstyled, as None does

    def _line(self, cells: Sequence[Cell], width: int, style: Style) -> Strip:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for n, (cell, cell_width) in enumerate(zip(cells, self._widths(width), strict=False)):
            piece = self._shown(cell)
            piece.truncate(cell_width, overflow="ellipsis", pad=True)
            if n:
                text.append(" ")
            text.append_text(piece)
        segments = [Segment(s.text, style + s.style if s.style else style) for s in text.render(self.app.console)]
        return Strip(segments).crop_extend(0, width, style)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._strip_width:
            self._strips.clear()
            self._strip_width = width
        base = self.rich_style
        if y == 0:
            header_style = base + self.get_component_rich_style("line-table--header")
            return self._line([c.label for c in self.columns], width, header_style)
        row = round(self.scroll_offset.y) + y - 1
        if row >= len(self._rows):
            return Strip.blank(width, base)
        is_cursor = row == self.cursor_row
        strip = self._strips.get((row, is_cursor))
        if strip is None:
            style = base + self.get_component_rich_style("line-table--cursor") if is_cursor else base
            strip = self._line(self._rows[row][1], width, style)
            self._strips[(row, is_cursor)] = strip
        return strip
