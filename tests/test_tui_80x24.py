"""The QA lead's and the SPO's day in an 80 x 24 terminal: every screen fits, Back is always in the footer,
what you create is under the cursor, and the history, summary and cases screens show what matters."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from audit.core.judgement_checks import judgement_checks_of_case
from audit.store import AuditStore
from audit.tui.app import CaseAuditApp
from audit.tui.screens.case import CaseScreen
from audit.tui.screens.cases import CasesScreen
from audit.tui.screens.rounds import RoundsScreen
from audit.tui.screens.summary import SummaryScreen

SIZE = (80, 24)
NEWHAM = "Newham 2022"


def screen_lines(app) -> list[str]:
    """The screen as plain text, one string per terminal line (dialogs drawn over their screen)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def type_text(pilot, text):
    for char in text:
        await pilot.press("space" if char == " " else char)


# ------------------------------------------------------------------ summary
async def test_summary_starts_on_the_figures_and_a_breakdown_is_one_key_away_and_in_view(demo_db):
    app = CaseAuditApp(demo_db, round_name=NEWHAM)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        scroll = screen.query_one("#summary-scroll")
        assert app.focused is scroll
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroll.scroll_y > 0  # PageDown scrolls the figures
        await pilot.press("b")
        await pilot.pause()
        team = next(letter for letter, key in app.screen.by_letter.items() if key == "team")
        await pilot.press(team)  # one key chooses it
        await settle(app, pilot)
        assert screen.query_one("#breakdown").value == "team"
        assert app.focused is scroll and scroll.scroll_y == 0  # scrolled back up to it
        text = "\n".join(screen_lines(app))
        assert "Team: percentage 'Yes' (relevant cases)" in text and "2.2.1" in text


# ------------------------------------------------------------------ fitting 80 columns
async def test_rounds_cases_and_case_screens_show_every_column_and_back(demo_db):
    app = CaseAuditApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, RoundsScreen)
        lines = screen_lines(app)
        header = next(line for line in lines if "Round" in line and "Unit" in line)
        for column in ("Round", "Unit", "Framework", "Cases", "Complete"):
            assert column in header, header
        assert any("Newham 2022" in line and "33" in line and "100%" in line for line in lines), lines
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, CasesScreen)
        lines = screen_lines(app)
        header = next(line for line in lines if line.startswith("Case "))
        for column in ("Case", "Sentence type", "RoSH", "Practiti", "Done", "Check", "Status"):
            assert column in header, header
        assert any(line.rstrip().endswith("complete") and "Post-sentence supervision" in line for line in lines), lines
        assert "esc Back" in lines[-1], lines[-1]
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, CaseScreen)
        lines = screen_lines(app)
        header = next(line for line in lines if line.startswith("Id "))
        for column in ("Id", "Answer", "Question"):
            assert column in header
        assert "esc Back" in lines[-1], lines[-1]


# ------------------------------------------------------------------ the cursor on what you made
async def test_a_new_round_and_a_new_case_are_under_the_cursor(demo_db):
    app = CaseAuditApp(demo_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        await type_text(pilot, "Autumn")
        await pilot.press("tab")
        await type_text(pilot, "Test PDU")
        await pilot.press("enter")
        await settle(app, pilot)
        table = app.screen.query_one("#rounds")
        with AuditStore.open(demo_db) as store:
            autumn = store.round("Autumn")
        assert table.row_count == 3
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == autumn.id

    app = CaseAuditApp(demo_db, round_name=NEWHAM)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        await type_text(pilot, "N100151")  # sorts between the demo's cases
        await pilot.press("enter")
        await settle(app, pilot)
        table = app.screen.query_one("#cases")
        assert table.row_count == 34
        assert table.cursor_key == "N100151"


async def test_the_add_case_form_fits_keeps_its_labels_and_tabs_only_through_its_fields(demo_db):
    app = CaseAuditApp(demo_db, round_name=NEWHAM)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        dialog = app.screen
        await type_text(pilot, "X12")
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        for label in ("Case reference", "Sentence type", "Start date", "RoSH level", "Practitioner grade", "Team"):
            assert label in text, label  # labels stay beside their fields while you type
        screen_region = app.screen.region
        controls = [w for w in dialog.query("Input, Select, Button")]
        assert len(controls) == 15  # the reference, 12 attributes, Add and Cancel
        for widget in controls:
            assert screen_region.contains_region(widget.region), widget  # all on screen, none scrolled away
        seen = []
        for _ in range(len(controls)):
            await pilot.press("tab")
            await pilot.pause()
            seen.append(app.focused)
        assert set(seen) == set(controls)  # every Tab lands on a visible field or button, nothing else


# ------------------------------------------------------------------ history and detail
async def test_history_is_one_line_per_change_with_notes_in_local_time(one_round_db, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    try:
        # a summer time, stored in UTC: shown an hour later in London
        monkeypatch.setattr("audit.store.audit_store.now", lambda: "2026-07-01T09:00:00.000000+00:00")
        with AuditStore.open(one_round_db) as store:
            round_row = store.round("Dip")
            store.record_answer(round_row, "T100001", "2.2.1a", "Yes", auditor="spo.a")
            store.record_note(round_row, "T100001", "2.2.1a", "OASys unsigned", auditor="spo.b")
            store.record_answer(round_row, "T100001", "2.2.1b", "Not applicable", reason="no victim", auditor="spo.a")
        app = CaseAuditApp(one_round_db, round_name="Dip", case_ref="T100001")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("h")
            await pilot.pause()
            table = app.screen.query_one("#history")
            assert table.row_count == 4  # the three answer changes and the case's sentence type
            lines = screen_lines(app)
            changes = [line for line in lines if line.startswith("2026-07-01 10:00")]
            assert len(changes) == 3, lines
            assert "spo.a" in changes[0] and "N/A: no victim" in changes[0]  # newest first
            assert any("spo.b" in line and "OASys unsigned" in line for line in changes), changes
            assert any("N/A: no victim" in line for line in changes), changes
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, CaseScreen)
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_a_fully_answered_case_opens_with_its_first_questions_detail(demo_db, framework):
    app = CaseAuditApp(demo_db, round_name=NEWHAM, case_ref="N100101")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        first = framework.question_ids[0]
        assert screen.focused_question.id == first
        detail = str(screen.query_one("#question-text").render())
        assert first in detail and framework.question(first).text[:30] in detail


# ------------------------------------------------------------------ judgement checks on the cases screen
async def test_the_cases_screen_flags_cases_whose_judgement_contradicts_every_prompt(demo_db, framework):
    with AuditStore.open(demo_db) as store:
        round_row = store.round(NEWHAM)
        expected = {}
        for case in store.cases(round_row):
            values = {q: a["value"] for q, a in store.answers_for_case(case["id"]).items()}
            if found := judgement_checks_of_case(framework, case["case_ref"], values):
                expected[case["case_ref"]] = len(found)
    assert expected
    app = CaseAuditApp(demo_db, round_name=NEWHAM)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        table = screen.query_one("#cases")
        flags = {values[0]: str(values[5]) for values in table._cells}  # Case ... Check columns, as drawn
        assert {ref: flag for ref, flag in flags.items() if flag} == {ref: f"!{n}" for ref, n in expected.items()}
        assert f"{len(expected)} with a judgement to check" in str(screen.query_one("#cases-count").render())


@pytest.fixture
def one_round_db(tmp_path):
    path = tmp_path / "tui.db"
    with AuditStore.open(path) as store:
        round_row = store.create_round("Dip", "Test PDU", "hmip-probation-pdu-2021")
        store.upsert_case(round_row, "T100001", {"sentence_type": "Licence"})
    return path
