"""The real app driven with Textual's pilot at a fixed size; the database is checked after."""

from __future__ import annotations

import json

import pytest

from audit.core.summary import to_json
from audit.store import AuditStore
from audit.store.figures import summarise
from audit.tui.app import CaseAuditApp
from audit.tui.screens.case import CaseScreen
from audit.tui.screens.cases import CasesScreen
from audit.tui.screens.domain_one import DomainOneScreen
from audit.tui.screens.rounds import RoundsScreen
from audit.tui.screens.summary import SummaryScreen
from framework.model import DataItem

SIZE = (100, 32)


@pytest.fixture
def one_case_db(tmp_path):
    path = tmp_path / "tui.db"
    with AuditStore.open(path) as store:
        round_row = store.create_round("Dip sample", "Test PDU", "hmip-probation-pdu-2021")
        store.upsert_case(round_row, "T100001", {"sentence_type": "Licence", "rosh_level": "High"})
        store.upsert_case(round_row, "T100002", {"sentence_type": "Community order", "rosh_level": "Low"})
    return path


def answers(path, case_ref="T100001"):
    with AuditStore.open(path) as store:
        case = store.case(store.round("Dip sample"), case_ref)
        return store.answers_for_case(case["id"])


def screen_text(app) -> str:
    """The text on the screen, read from Textual's own SVG screenshot."""
    import html
    import re

    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def type_text(pilot, text):
    for char in text:
        await pilot.press("space" if char == " " else char)


async def test_walk_a_complete_case_with_keys_only(one_case_db, framework):
    app = CaseAuditApp(one_case_db, round_name="Dip sample", case_ref="T100001")
    presses = 0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CaseScreen)
        # court work: the whole standard Not applicable in one step
        await pilot.press("m")
        await type_text(pilot, "no psr")
        await pilot.press("enter")
        await pilot.pause()
        presses += 1 + len("no psr") + 1
        while screen.first_unanswered(0) is not None:
            question = screen.focused_question
            if isinstance(question, DataItem):
                await pilot.press("x")
                await type_text(pilot, "nr")
                await pilot.press("enter")
                presses += 4
            else:
                await pilot.press("y" if hash(question.id) % 3 else "n")
                presses += 1
            await pilot.pause()
        assert "77/77" in str(app.screen.query_one("#case-heading").render())
    stored = answers(one_case_db)
    assert set(stored) == set(framework.question_ids)
    assert all(
        stored[q]["value"] == "Not applicable" and stored[q]["reason"] == "no psr"
        for q in framework.question_ids
        if q.startswith("2.1")
    )
    assert stored["2.2.3.da"]["reason"] == "nr"
    questions = len(framework.question_ids)
    # one key per question, plus the reasons, plus a handful of extra keys
    assert presses <= questions + len("no psr") + 3 * 3 + 2 + 5


async def test_not_applicable_reason_offers_reasons_used_before(one_case_db):
    with AuditStore.open(one_case_db) as store:
        store.record_answer(store.round("Dip sample"), "T100002", "2.4.3b", "Not applicable", reason="No victim identified")
    app = CaseAuditApp(one_case_db, round_name="Dip sample", case_ref="T100001")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        options = app.screen.query_one("#suggestions")
        assert options.option_count == 1
        await pilot.press("tab", "enter")
        await pilot.pause()
    assert answers(one_case_db)["2.1.1a"]["reason"] == "No victim identified"


async def test_escape_cancels_not_applicable(one_case_db):
    app = CaseAuditApp(one_case_db, round_name="Dip sample", case_ref="T100001")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("x", "escape")
        await pilot.pause()
    assert answers(one_case_db) == {}


async def test_clear_jump_note_and_resume(one_case_db):
    app = CaseAuditApp(one_case_db, round_name="Dip sample", case_ref="T100001")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("4")
        assert screen.focused_question.id == "2.4.1a"
        await pilot.press("y", "y", "n")
        await pilot.pause()
        assert screen.focused_question.id == "2.4.1d"
        await pilot.press("k")
        await pilot.press("backspace")
        await pilot.pause()
        await pilot.press("e")
        await type_text(pilot, "seen file")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("j", "1")
        assert screen.focused_question.id == "2.1.1a"
    stored = answers(one_case_db)
    assert stored["2.4.1a"]["value"] == "Yes" and stored["2.4.1b"]["value"] == "Yes"
    assert stored["2.4.1c"]["value"] is None and stored["2.4.1c"]["note"] == "seen file"
    # reopening lands on the first unanswered question
    app = CaseAuditApp(one_case_db, round_name="Dip sample", case_ref="T100001")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.focused_question.id == "2.1.1a"
    with AuditStore.open(one_case_db) as store:
        round_row = store.round("Dip sample")
        for qid in [q for q in store.framework_for(round_row).question_ids][:10]:
            store.record_answer(round_row, "T100001", qid, "Yes")
    app = CaseAuditApp(one_case_db, round_name="Dip sample", case_ref="T100001")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.focused_question.id == "2.2.1"  # the 11th question


async def test_inconsistent_judgement_warns_but_saves(one_case_db):
    app = CaseAuditApp(one_case_db, round_name="Dip sample", case_ref="T100001")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.press("n", "n", "n", "y")  # 2.2.1a-c No, then key question 2.2.1 Yes
        await pilot.pause()
        await pilot.press("k")  # back onto 2.2.1
        await pilot.pause()
        warning = str(app.screen.query_one("#warning").render())
        assert "Check 2.2.1" in warning and "not a block" in warning
    assert answers(one_case_db)["2.2.1"]["value"] == "Yes"


async def test_empty_database_offers_the_demo(tmp_path):
    app = CaseAuditApp(tmp_path / "empty.db")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RoundsScreen)
        assert "load the demo" in str(app.screen.query_one("#rounds-empty").render())
        await pilot.press("d")
        await pilot.pause()
        assert app.screen.query_one("#rounds").row_count == 2
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, CasesScreen)
        assert app.screen.query_one("#cases").row_count in (33, 42)


async def test_create_round_and_add_case(tmp_path):
    path = tmp_path / "new.db"
    app = CaseAuditApp(path)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        await type_text(pilot, "Autumn")
        await pilot.press("tab")
        await type_text(pilot, "Test PDU")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, CasesScreen)
        await pilot.press("a")
        await pilot.pause()
        await type_text(pilot, "John")
        await pilot.pause()
        assert "does not match" in str(app.screen.query_one("#case_ref-error").render())
        for _ in range(4):
            await pilot.press("backspace")
        await type_text(pilot, "X123456")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one("#cases").row_count == 1
    with AuditStore.open(path) as store:
        assert store.case(store.round("Autumn"), "X123456")["case_ref"] == "X123456"


async def test_cases_filter_as_you_type(demo_db):
    app = CaseAuditApp(demo_db, round_name="Newham 2022")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#cases")
        assert table.row_count == 33
        await pilot.press("slash")
        await type_text(pilot, "licence")
        await pilot.pause()
        assert table.row_count == 7
        assert "7 of 33" in str(app.screen.query_one("#cases-count").render())


async def test_domain_one_override_needs_a_reason(demo_db):
    app = CaseAuditApp(demo_db, round_name="Newham 2022")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, DomainOneScreen)
        assert "Advisory cap 'Inadequate'" in str(app.screen.query_one("#domain1-detail").render())
        await pilot.press("g")  # Good for 1.1: above the cap
        await pilot.pause()
        await pilot.press("enter")  # a blank reason is refused
        await pilot.pause()
        await type_text(pilot, "strong partnerships")
        await pilot.press("enter")
        await pilot.pause()
    with AuditStore.open(demo_db) as store:
        rating = store.domain_ratings(store.round("Newham 2022"))["1.1"]
    assert rating["rating"] == "Good" and rating["override_reason"] == "strong partnerships"


@pytest.mark.parametrize("round_name", ["Newham 2022", "Lewisham and Bromley 2022"])
async def test_summary_screen_equals_summary_json(demo_db, cli, round_name):
    expected = json.loads(cli("--db", demo_db, "summary", "--round", round_name, "--format", "json").out)
    app = CaseAuditApp(demo_db, round_name=round_name)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert to_json(screen.summary) == expected
        shown = screen_text(app)
        assert f"Score {expected['score']}/{expected['max_score']}" in shown
        assert f"Overall rating: {expected['overall_rating']}" in shown


async def test_summary_updates_when_answers_change(demo_db):
    app = CaseAuditApp(demo_db, round_name="Newham 2022")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        before = app.screen.summary.key_question("2.5.3").counts.yes
        with AuditStore.open(demo_db) as store:
            round_row = store.round("Newham 2022")
            case = next(c for c in store.cases(round_row) if store.answers_for_case(c["id"])["2.5.3"]["value"] == "No")
            store.record_answer(round_row, case["case_ref"], "2.5.3", "Yes")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.summary.key_question("2.5.3").counts.yes == before + 1
    with AuditStore.open(demo_db) as store:
        assert summarise(store, store.round("Newham 2022")).key_question("2.5.3").counts.yes == before + 1


async def test_summary_breakdown_and_saving_the_report(demo_db, tmp_path, monkeypatch):
    import asyncio

    from textual.widgets import Select

    monkeypatch.setenv("CASEAUDIT_REPORT_DIR", str(tmp_path / "reports"))
    app = CaseAuditApp(demo_db, round_name="Newham 2022")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        await pilot.press("b")  # the list of breakdowns, each chosen with one key
        await pilot.pause()
        await pilot.press(next(letter for letter, key in app.screen.by_letter.items() if key == "resettlement"))
        await pilot.pause()
        assert screen.query_one("#breakdown", Select).value == "resettlement"
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = screen_text(app)
        assert "Licence / post-release" in shown and "Community" in shown
        # the breakdown agrees with a filtered summary: 2.2.2 for licence cases is 0 of 10 in the demo round
        licence = next(
            g
            for b in screen.report.breakdowns
            if b.grouping.key == "resettlement"
            for g in b.groups
            if g.label.startswith("Licence")
        )
        with AuditStore.open(demo_db) as store:
            filtered = summarise(
                store,
                store.round("Newham 2022"),
                where="c.sentence_type IN ('Licence', 'Post-sentence supervision', 'Pre-release')",
            )
        assert licence.counts["2.2.2"].yes == filtered.key_question("2.2.2").counts.yes
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("h")
        await app.workers.wait_for_complete()
        target = tmp_path / "reports" / "newham-2022-report.html"
        for _ in range(200):  # the delivery runs on Textual's own thread
            if target.exists() and target.read_bytes().endswith(b"</html>"):
                break
            await asyncio.sleep(0.02)
        await pilot.pause()
    assert target.stat().st_mode & 0o777 == 0o600
    assert 'data-score="6" data-max-score="24"' in target.read_text(encoding="utf-8")


async def test_a_new_round_defaults_to_the_pdu_framework_and_offers_the_users_own(tmp_path, monkeypatch):
    """The new-round dialog lists shipped and user-added frameworks, and starts on PDU-2021 (not the last listed)."""
    from framework import DEFAULT_FRAMEWORK_ID, available_frameworks

    user = tmp_path / "frameworks"
    user.mkdir()
    source = next(f for f in available_frameworks() if f.id == DEFAULT_FRAMEWORK_ID).source
    text = open(source, encoding="utf-8").read().replace(f'id = "{DEFAULT_FRAMEWORK_ID}"', 'id = "zz-local-oversight"', 1)
    (user / "zz-local-oversight-v1.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("CASEAUDIT_FRAMEWORKS_DIR", str(user))
    path = tmp_path / "new.db"
    app = CaseAuditApp(path)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        options = [value for _, value in app.screen.frameworks]
        assert any(value.startswith("zz-local-oversight@") for value in options)
        await type_text(pilot, "Autumn")
        await pilot.press("tab")
        await type_text(pilot, "Test PDU")
        await pilot.press("enter")
        await pilot.pause()
    with AuditStore.open(path) as store:
        assert store.round("Autumn").framework_id == DEFAULT_FRAMEWORK_ID
