"""Issue 11 in the TUI: stored text never becomes markup, a link, an action or an escape sequence.

Round and unit names, case attributes, notes, reasons, auditors' names, evidence, conflict values and
merged file names are typed by people (or merged from another copy). Each screen must show them exactly
as typed, control characters as visible escapes (``\\x1b``), and none may style the screen, make a link,
run an action when clicked, or stop the screen with a MarkupError."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.segment import Segment
from textual.content import Content
from textual.widgets import DataTable, OptionList, Static
from textual.widgets._data_table import default_cell_formatter
from textual.widgets._header import HeaderTitle

from audit.core.safe_text import for_terminal, for_tui_markdown
from audit.store import AuditStore
from audit.tui.app import CaseAuditApp
from audit.tui.dialogs import ConfirmDialog, TextDialog
from audit.tui.screens.case import CaseScreen
from audit.tui.screens.cases import CasesScreen
from audit.tui.screens.conflicts import ConflictsScreen
from audit.tui.screens.domain_one import DomainOneScreen
from audit.tui.screens.history import HistoryScreen
from audit.tui.screens.rounds import RoundsScreen
from audit.tui.screens.summary import SummaryScreen
from framework import Rating

SIZE = (120, 40)
CASE = "T100001"

# Each holds markup that would act (quit, link), style (Textual's own [$accent] and [ b] too, which
# rich.markup.escape leaves live), or fail to parse (a closing tag alone), and an escape sequence.
# The round and unit names parse as markup, so the screens they head get as far as drawing the rest.
ROUND = "R[@click=app.quit]Q[/] \x1b[2J"
UNIT = "U[link=https://evil.example]L[/link] [$accent]A"
PRACTITIONER = "P[b]B[/b]\x1b[31m"
TEAM = "T[$accent]A[/] [ b]S[/ b]\x07"
NOTE = "[@click=app.quit]QUIT[/] [link=https://evil.example]N[/link] \x1b[2J"
REASON = "why[/] [b] \x1b]8;;https://evil.example\x1b\\x"
AUDITOR = "spo[i]b[/i]\x1b[1A"  # as an older copy may hold it
# the app's own auditor is checked (one printable line), but markup in it must still show as typed
APP_AUDITOR = "spo[i]b[/i] [@click=app.quit]q[/]"
EVIDENCE = "E[@click=app.quit]V[/] [ b]W[/ b] \u202e"
OVERRIDE = "O[link=https://evil.example]R[/link] ["
FROM_FILE = "laptop[b]-\x1b[2J.db"


def shown(value: str) -> str:
    """How a stored value must read on screen: as typed, control characters as escapes."""
    return for_terminal(value)


@pytest.fixture
def hostile_db(tmp_path, monkeypatch):
    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    monkeypatch.delenv("CASEAUDIT_ASK_AUDITOR", raising=False)
    path = tmp_path / "hostile.db"
    with AuditStore.open(path) as store:
        round_row = store.create_round(ROUND, UNIT, "hmip-probation-pdu-2021", created_by=AUDITOR)
        store.upsert_case(
            round_row,
            CASE,
            {"sentence_type": "Licence", "rosh_level": "High", "practitioner": PRACTITIONER, "team": TEAM},
            changed_by=AUDITOR,
        )
        store.record_answer(round_row, CASE, "2.2.1a", "Yes", note=NOTE, auditor=AUDITOR)
        store.record_answer(round_row, CASE, "2.2.1b", "Not applicable", reason=REASON, auditor=AUDITOR)
    return path


# ------------------------------------------------------------------ reading what is drawn
def content_of(widget) -> Content:
    """What a Static (or Label) draws, as Textual parses it (a MarkupError here is a screen that fails)."""
    return widget.visual if isinstance(widget.visual, Content) else Content.from_rich_text(widget.render())


def assert_plain_content(content: Content, *values: str) -> None:
    """The values appear as typed, and nothing in the text carries an action, a link or markup's styles."""
    plain = content.plain
    for value in values:
        assert shown(value) in plain, (shown(value), plain)
    assert "\x1b" not in plain and "\x07" not in plain
    for span in content.spans:
        style = span.style
        meta = getattr(style, "meta", None) or {}
        assert "@click" not in meta, span
        assert not getattr(style, "link", None), span


def assert_plain_text(text, *values: str) -> None:
    """The same for a rich Text (a table cell)."""
    plain = text.plain
    for value in values:
        assert shown(value) in plain, (shown(value), plain)
    assert "\x1b" not in plain and "\x07" not in plain
    for span in text.spans:
        assert "@click" not in str(span.style) and "link" not in str(span.style), span


def rendered_segments(renderable, width: int = 400) -> list[Segment]:
    console = Console(width=width, file=io.StringIO(), color_system="truecolor", legacy_windows=False)
    return list(console.render(renderable, console.options.update(width=width)))


def assert_plain_renderable(renderable, *values: str) -> None:
    """A Rich renderable (the summary's tables): the values as typed, no links, no actions, no escapes."""
    segments = rendered_segments(renderable)
    text = "".join(s.text for s in segments if not s.control)
    squeezed = "".join(text.split())  # a narrow column wraps a value; compare without white space
    for value in values:
        assert "".join(shown(value).split()) in squeezed, (shown(value), text)
    assert "\x1b" not in text and "\x07" not in text
    for segment in segments:
        style = segment.style
        if style is not None:
            assert not style.link and "@click" not in (style.meta or {}), segment


def cell_text(table: DataTable, row: int, column: int):
    """A DataTable cell as the table draws it (a str cell is read as Rich markup)."""
    from rich.protocol import rich_cast

    return rich_cast(default_cell_formatter(table.get_row_at(row)[column]))


def header_text(app) -> Content:
    return content_of(app.screen.query_one(HeaderTitle))


def notices(app) -> list[Content]:
    """Each notification as its toast draws it."""
    return [Content.from_markup(n.message) if n.markup else Content(n.message) for n in app._notifications]


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


# ------------------------------------------------------------------ the tests
async def test_rounds_screen_and_header_show_names_as_typed(hostile_db):
    app = CaseAuditApp(hostile_db, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, RoundsScreen)
        table = app.screen.query_one("#rounds", DataTable)
        assert_plain_text(cell_text(table, 0, 0), ROUND)
        assert_plain_text(cell_text(table, 0, 1), UNIT)
        assert_plain_content(header_text(app), APP_AUDITOR)
        await pilot.click("#rounds", offset=(3, 1))  # on the round's name: no action in it
        await pilot.pause()
        assert app.is_running


async def test_cases_screen_shows_round_unit_and_practitioner_as_typed(hostile_db):
    app = CaseAuditApp(hostile_db, round_name=ROUND, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CasesScreen)
        table = screen.query_one("#cases")
        line = table.render_line(1).text  # the first case's line as drawn
        assert shown(PRACTITIONER)[:9] + "…" in line and "\x1b" not in line, line  # its column is 10 wide
        assert_plain_content(header_text(app), ROUND, UNIT)


async def test_case_screen_detail_pane_shows_notes_and_reasons_as_typed(hostile_db):
    app = CaseAuditApp(hostile_db, round_name=ROUND, case_ref=CASE, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CaseScreen)
        screen.move_to(screen.questions.index(screen.framework.question("2.2.1a")))
        await pilot.pause()
        detail = screen.query_one("#question-text", Static)
        assert_plain_content(content_of(detail), NOTE)
        # clicking along the note's line runs nothing: the app is still there
        note_row = str(content_of(detail).plain).split("\n").index(f"Note: {shown(NOTE)}")
        for x in range(0, 30):
            await pilot.click("#question-text", offset=(x, note_row))
        await pilot.pause()
        assert app.is_running and app.screen is screen
        screen.move_to(screen.questions.index(screen.framework.question("2.2.1b")))
        await pilot.pause()
        assert_plain_content(content_of(detail), REASON)
        line = screen.table.render_line(screen.table.cursor_row + 1 - round(screen.table.scroll_offset.y)).text
        assert "\x1b" not in line
        assert_plain_content(header_text(app), ROUND)


async def test_a_reason_used_before_is_offered_and_saved_as_typed(hostile_db):
    app = CaseAuditApp(hostile_db, round_name=ROUND, case_ref=CASE, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        screen.move_to(screen.questions.index(screen.framework.question("2.2.1c")))
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        options = dialog.query_one("#suggestions", OptionList)
        prompt = options.get_option_at_index(0).prompt
        drawn = options._get_visual(options.get_option_at_index(0))  # as the list draws it
        assert shown(REASON) in str(drawn) or shown(REASON) in getattr(drawn, "plain", ""), (prompt, drawn)
        options.focus()
        options.highlighted = 0
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        assert_plain_content(content_of(screen.query_one("#saved", Static)), REASON)
    with AuditStore.open(hostile_db) as store:
        case = store.case(store.round(ROUND), CASE)
        assert store.answers_for_case(case["id"])["2.2.1c"]["reason"] == REASON.strip()  # stored as typed, not as shown


async def test_a_stale_write_names_the_other_auditor_as_typed(hostile_db):
    app = CaseAuditApp(hostile_db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.follow_timer.pause()
        screen = app.screen
        screen.move_to(screen.questions.index(screen.framework.question("2.2.1a")))
        with AuditStore.open(hostile_db) as store:
            store.record_answer(store.round(ROUND), CASE, "2.2.1a", "Not applicable", reason=REASON, auditor=AUDITOR)
        await pilot.press("n")
        await pilot.pause()
        assert_plain_content(content_of(screen.query_one("#saved", Static)), AUDITOR, REASON)
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog)
        assert_plain_content(content_of(confirm.query_one("#question")), AUDITOR, REASON)
        await pilot.press("n")  # keep theirs: the notification names them
        await pilot.pause()
        assert any(shown(AUDITOR) in c.plain for c in notices(app))
        for content in notices(app):
            assert_plain_content(content)


async def test_history_view_shows_stored_text_as_words_not_markdown(hostile_db):
    link_reason = "see https://evil.example/x [link](https://evil.example) <b>b</b> | *e* \x1b[2J"
    with AuditStore.open(hostile_db) as store:
        store.record_answer(store.round(ROUND), CASE, "2.2.1c", "Not applicable", reason=link_reason, auditor=AUDITOR)
    app = CaseAuditApp(hostile_db, round_name=ROUND, case_ref=CASE, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        await pilot.pause()
        await pilot.pause()
        history = app.screen
        assert isinstance(history, HistoryScreen)
        table = history.query_one("#history")
        line = table.render_line(1).text  # the newest change, one line as drawn
        assert "\x1b" not in line and "N/A: " in line, line
        table.move_cursor(0)
        await pilot.pause()
        detail = content_of(history.query_one("#history-detail"))  # the highlighted change in full
        assert_plain_content(detail, AUDITOR)
        assert f"N/A: {shown(link_reason)}" in detail.plain, detail.plain


async def test_summary_screen_shows_unit_and_team_names_as_typed(hostile_db):
    app = CaseAuditApp(hostile_db, round_name=ROUND, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert_plain_renderable(screen.render_summary(screen.summary), UNIT)
        await screen.build_breakdowns().wait()
        await pilot.pause()
        assert_plain_renderable(screen.render_breakdown(screen.report, "team"), TEAM)
        assert_plain_content(header_text(app), ROUND)


async def test_domain_one_screen_shows_evidence_and_override_reason_as_typed(hostile_db):
    with AuditStore.open(hostile_db) as store:
        round_row = store.round(ROUND)
        capped = {s.id: Rating.INADEQUATE for s in store.framework_for(round_row).standards}  # so an override is kept
        store.rate_standard(
            round_row, "1.1", Rating.OUTSTANDING, case_ratings=capped, evidence=EVIDENCE, override_reason=OVERRIDE, rater=AUDITOR
        )
    app = CaseAuditApp(hostile_db, round_name=ROUND, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DomainOneScreen)
        table = screen.query_one("#domain1", DataTable)
        assert_plain_text(cell_text(table, 0, 3), EVIDENCE)
        assert_plain_content(content_of(screen.query_one("#domain1-detail", Static)), OVERRIDE)
        assert_plain_content(header_text(app), ROUND)


async def test_conflicts_screen_shows_merged_values_and_file_names_as_typed(demo_db, tmp_path, monkeypatch):
    from audit.store import backup_database
    from audit.store.merge import merge_database

    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    with AuditStore.open(demo_db) as store:
        round_row = store.round("Newham 2022")
        ref = store.cases(round_row)[0]["case_ref"]
        store.record_answer(round_row, ref, "2.4.1", None, auditor="lead")
    laptop = tmp_path / FROM_FILE
    backup_database(demo_db, laptop)
    with AuditStore.open(laptop) as store:
        store.record_answer(store.round("Newham 2022"), ref, "2.4.1", "Not applicable", reason=REASON, auditor=AUDITOR)
    with AuditStore.open(demo_db) as store:
        store.record_answer(store.round("Newham 2022"), ref, "2.4.1", "Yes", auditor="spo.a")
        merge_database(store, laptop)
    app = CaseAuditApp(demo_db, round_name="Newham 2022", auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ConflictsScreen)
        table = screen.query_one("#conflicts", DataTable)
        assert_plain_text(cell_text(table, 0, 4), REASON, AUDITOR)
        assert_plain_text(cell_text(table, 0, 5), FROM_FILE)


async def test_an_error_quoting_a_round_name_is_shown_as_typed(hostile_db):
    missing = "gone[/] [@click=app.quit]x[/] \x1b[2J"
    app = CaseAuditApp(hostile_db, round_name=missing, auditor=APP_AUDITOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.is_running
        contents = notices(app)
        assert any(repr(missing) in c.plain or shown(repr(missing)) in c.plain for c in contents), [c.plain for c in contents]
        for content in contents:
            assert_plain_content(content)


def test_tui_markdown_escape_leaves_words_only():
    from markdown_it import MarkdownIt

    parser = MarkdownIt("gfm-like")  # what Textual's Markdown widget parses with
    for value in (
        NOTE,
        REASON,
        "see https://evil.example/x www.evil.example a@b.example",
        "# h\n- item\n1. one",
        "<script>x</script> &amp; | a | b |",
        "*e* _u_ `c` ~~s~~ \\",
    ):
        tokens = parser.parseInline(for_tui_markdown(value))[0].children
        assert [t.type for t in tokens] == ["text"], tokens
        assert tokens[0].content == for_terminal(" ".join(value.split("\n")).strip())


async def test_clicking_a_note_written_as_an_action_runs_nothing(hostile_db):
    clickable = "[@click=app.quit]QUIT QUIT QUIT QUIT[/]"  # parses as markup: drawn as markup, a click would quit
    with AuditStore.open(hostile_db) as store:
        store.record_answer(store.round(ROUND), CASE, "2.2.1a", "Yes", note=clickable, auditor="alice")
    app = CaseAuditApp(hostile_db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        screen.move_to(screen.questions.index(screen.framework.question("2.2.1a")))
        await pilot.pause()
        detail = screen.query_one("#question-text", Static)
        note_row = next(n for n, line in enumerate(content_of(detail).plain.split("\n")) if line.startswith("Note: "))
        for x in range(0, 40, 2):
            await pilot.click("#question-text", offset=(x, note_row))
            await pilot.hover("#question-text", offset=(x + 1, note_row))
        await pilot.pause()
        assert app.is_running and app.screen is screen
        assert_plain_content(content_of(detail), clickable)


async def test_editing_a_note_draws_its_escape_sequences_visibly_and_keeps_it_exact(hostile_db):
    from textual.widgets import Input

    app = CaseAuditApp(hostile_db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        screen.move_to(screen.questions.index(screen.framework.question("2.2.1a")))
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        assert_plain_content(content_of(dialog.query_one(".dialog-title")), "Note on 2.2.1a")
        field = dialog.query_one("#text", Input)
        field.cursor_position = 0
        await pilot.pause()
        drawn = field.render_line(0).text
        assert "\x1b" not in drawn and "␛[2J" in drawn, drawn
        await pilot.press("enter")  # saved unedited: the note is exactly as it was
        await settle(app, pilot)
    with AuditStore.open(hostile_db) as store:
        case = store.case(store.round(ROUND), CASE)
        assert store.answers_for_case(case["id"])["2.2.1a"]["note"] == NOTE
