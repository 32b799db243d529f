"""The line-API table used by the case and cases screens: cursor, paging, clicks, single-row updates."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from audit.tui.widgets.line_table import Column, LineTable


class TableApp(App):
    def __init__(self, rows: int):
        super().__init__()
        self.rows = rows
        self.highlighted: list[int] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield LineTable([Column("Ref", 8), Column("Text", None)], id="t")

    def on_mount(self) -> None:
        table = self.query_one(LineTable)
        table.set_rows([(f"R{n:04d}", (f"R{n:04d}", Text(f"row {n}"))) for n in range(self.rows)])
        table.focus()

    def on_line_table_highlighted(self, message: LineTable.Highlighted) -> None:
        self.highlighted.append(message.index)

    def on_line_table_selected(self, message: LineTable.Selected) -> None:
        self.selected.append(message.key)


async def test_keys_move_the_cursor_and_scroll_and_enter_selects():
    app = TableApp(500)
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(LineTable)
        await pilot.press("down", "down")
        assert table.cursor_row == 2 and table.cursor_key == "R0002"
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == 499
        assert table.scroll_offset.y >= 499 - table.size.height + 1  # the cursor row is on screen
        await pilot.press("pageup")
        assert table.cursor_row == 499 - (table.size.height - 1)
        await pilot.press("home", "enter")
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_offset.y == 0
        assert app.selected == ["R0000"]
        assert app.highlighted[-1] == 0


async def test_click_moves_the_cursor_and_update_row_changes_only_that_row():
    app = TableApp(30)
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(LineTable)
        await pilot.click(LineTable, offset=(2, 4))  # line 0 is the header: line 4 is row 3
        assert table.cursor_row == 3
        table.update_row("R0005", ("R0005", Text("changed")))
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(8)]
        assert lines[0].startswith("Ref")
        assert "changed" in lines[6] and "row 4" in lines[5] and "row 6" in lines[7]
        assert table.get_row_index("R0005") == 5 and table.has_row("R0029") and not table.has_row("R0030")
