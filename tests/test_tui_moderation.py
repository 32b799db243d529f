"""The moderation flow in the TUI: second marking blind, the Agreement screen, settling a disagreement."""

from __future__ import annotations

import pytest

from audit.store import AuditStore
from audit.tui.app import CaseAuditApp
from audit.tui.screens.case import CaseScreen
from audit.tui.screens.cases import CasesScreen
from audit.tui.screens.summary import SummaryScreen

SIZE = (120, 40)
FIRST = {  # round R, as the first marker answered it
    ("A111111", "2.1.1a"): "Yes",
    ("A111111", "2.1.1b"): "Yes",
    ("A111111", "2.1.1c"): "Yes",
    ("B222222", "2.1.1a"): "No",
}


def screen_text(app) -> str:
    import html
    import re

    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def until(pilot, condition, timeout: float = 3.0) -> bool:
    waited = 0.0
    while not condition():
        if waited >= timeout:
            return False
        await pilot.pause(0.05)
        waited += 0.05
    return True


async def type_text(pilot, text):
    for char in text:
        await pilot.press("space" if char == " " else char)


@pytest.fixture
def moderated(tmp_path):
    """Round R (three cases, first-marked) and its blind moderation round of A111111 and B222222, unmarked."""
    path = tmp_path / "moderation.db"
    with AuditStore.open(path) as store:
        r = store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021", created_by="first-marker")
        for ref in ("A111111", "B222222", "C333333"):
            store.upsert_case(r, ref, {"sentence_type": "Licence"})
        for (ref, q), value in FIRST.items():
            store.record_answer(r, ref, q, value, auditor="first-marker")
        store.create_moderation_round(r, ["A111111", "B222222"], created_by="qa-lead")
    return path


def answer_of(path, round_name, ref, question):
    with AuditStore.open(path) as store:
        row = store.answer(store.case(store.round(round_name), ref)["id"], question)
        return None if row is None else row["value"]


async def second_mark_in_the_tui(path):
    """The second marker answers case A111111 of the moderation round in the TUI: 2.1.1a as R has it,
    2.1.1b and 2.1.1c differently; they never see R's answers."""
    app = CaseAuditApp(path, round_name="R moderation", case_ref="A111111", auditor="second-marker")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CaseScreen) and screen.round_row.name == "R moderation"
        assert screen.answers == {} and screen.answered_count() == 0  # blind: R's answers are not shown
        assert screen.focused_question.id == "2.1.1a"
        await pilot.press("y", "n", "n")
        await pilot.pause()
    assert [answer_of(path, "R moderation", "A111111", q) for q in ("2.1.1a", "2.1.1b", "2.1.1c")] == ["Yes", "No", "No"]


async def test_second_mark_in_the_tui_then_settle_a_disagreement_with_the_second_answer(moderated):
    await second_mark_in_the_tui(moderated)
    app = CaseAuditApp(moderated, round_name="R", auditor="qa-lead")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, CasesScreen)
        await pilot.press("g")
        screen = app.screen
        assert type(screen).__name__ == "DisagreementsScreen"
        assert await until(pilot, lambda: len(screen.lines) == 2)
        assert list(screen.lines) == ["A111111|2.1.1b", "A111111|2.1.1c"]
        line = screen.lines["A111111|2.1.1b"]
        assert (line.first, line.second, line.settled) == ("Yes", "No", None)
        text = screen_text(app)
        # three answers both gave, one agreed: 33%; kappa as `caseaudit agreement` gives it
        assert "Overall agreement 33% (1 of 3" in text and "kappa 0.00 (slight)" in text
        assert "not settled" in text
        await pilot.press("s")  # the cursor is on the first row: A111111 2.1.1b
        await pilot.pause()
        await type_text(pilot, "missed the review")
        await pilot.press("enter")
        assert await until(pilot, lambda: screen.lines["A111111|2.1.1b"].settled == "No")
        assert screen.lines["A111111|2.1.1b"].settled_by == "qa-lead"
        assert screen.lines["A111111|2.1.1c"].settled is None  # still listed, still open
        assert "No (qa-lead)" in screen_text(app)
    assert answer_of(moderated, "R", "A111111", "2.1.1b") == "No"
    with AuditStore.open(moderated) as store:
        last = store.answer_history(store.round("R"), "A111111")[-1]
        assert (last["question_id"], last["old_value"], last["new_value"]) == ("2.1.1b", "Yes", "No")
        assert (last["source"], last["auditor"], last["new_note"]) == ("moderation", "qa-lead", "missed the review")
        assert store.check() == []


async def test_keep_the_first_answer_without_a_reason_from_the_summary(moderated):
    await second_mark_in_the_tui(moderated)
    app = CaseAuditApp(moderated, round_name="R", auditor="qa-lead")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("g")
        screen = app.screen
        assert await until(pilot, lambda: len(getattr(screen, "lines", {})) == 2)
        await pilot.press("down", "f")
        await pilot.pause()
        await pilot.press("enter")  # no reason: the reason is optional
        assert await until(pilot, lambda: screen.lines["A111111|2.1.1c"].settled == "Yes")
        await pilot.press("s", "escape")  # Escape in the reason dialog settles nothing
        await pilot.pause()
    assert answer_of(moderated, "R", "A111111", "2.1.1c") == "Yes"
    assert answer_of(moderated, "R", "A111111", "2.1.1b") == "Yes"
    with AuditStore.open(moderated) as store:
        moderations = [h for h in store.answer_history(store.round("R")) if h["source"] == "moderation"]
    assert [(h["question_id"], h["old_value"], h["new_value"], h["auditor"], h["new_note"]) for h in moderations] == [
        ("2.1.1c", "Yes", "Yes", "qa-lead", None)
    ]


async def test_agreement_follows_the_database(moderated):
    await second_mark_in_the_tui(moderated)
    app = CaseAuditApp(moderated, round_name="R", auditor="qa-lead")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")
        screen = app.screen
        assert await until(pilot, lambda: len(getattr(screen, "lines", {})) == 2)
        with AuditStore.open(moderated) as other:  # another process settles, and the second marker marks B222222
            from audit.store.moderation import settle

            settle(other, other.round("R"), "A111111", "2.1.1c", "second", auditor="elsewhere")
            other.record_answer(other.round("R moderation"), "B222222", "2.1.1a", "Yes", auditor="second-marker")
        assert await until(pilot, lambda: len(screen.lines) == 3)
        assert screen.lines["A111111|2.1.1c"].settled_by == "elsewhere"
        assert screen.lines["B222222|2.1.1a"].settled is None
        assert screen.app.screen is screen  # the app is still up and on this screen


async def test_agreement_from_a_moderation_round_is_refused_and_shows_no_first_answers(moderated):
    from audit.tui.screens.disagreements import DisagreementsScreen

    await second_mark_in_the_tui(moderated)
    app = CaseAuditApp(moderated, round_name="R moderation", auditor="second-marker")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        cases = app.screen
        assert isinstance(cases, CasesScreen)
        await pilot.press("g")
        await pilot.pause()
        assert app.screen is cases  # refused politely: no screen opened
        told = " ".join(str(n.message) for n in app._notifications)
        assert "is a moderation round" in told and "Open it from round 'R'" in told
        # even pushed directly on the moderation round, the screen shows no answer of either marker
        with AuditStore.open(moderated) as store:
            m = store.round("R moderation")
        screen = DisagreementsScreen(app.opened_store(), m)
        app.push_screen(screen)
        await pilot.pause(0.3)
        assert await until(pilot, lambda: "is a moderation round" in screen_text(app))
        assert screen.lines == {} and screen.found is None
        assert screen.query_one("#disagreements").row_count == 0
        await pilot.press("s")
        await pilot.pause()
    assert answer_of(moderated, "R", "A111111", "2.1.1b") == "Yes"


async def test_a_round_without_moderation_says_so(tmp_path):
    path = tmp_path / "plain.db"
    with AuditStore.open(path) as store:
        r = store.create_round("Plain", "Testshire PDU", "hmip-probation-pdu-2021")
        store.upsert_case(r, "A111111", {"sentence_type": "Licence"})
    app = CaseAuditApp(path, round_name="Plain", auditor="qa-lead")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")
        assert await until(pilot, lambda: "has no moderation round" in screen_text(app))
        assert type(app.screen).__name__ == "DisagreementsScreen"


async def test_the_command_palette_offers_agreement(moderated):
    app = CaseAuditApp(moderated, round_name="R", auditor="qa-lead")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Agreement" in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Agreement")
        command.callback()
        await pilot.pause()
        assert type(app.screen).__name__ == "DisagreementsScreen"


async def test_an_answer_changed_since_shown_is_not_settled_and_the_app_stays_up(moderated):
    await second_mark_in_the_tui(moderated)
    app = CaseAuditApp(moderated, round_name="R", auditor="qa-lead")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")
        screen = app.screen
        assert await until(pilot, lambda: len(getattr(screen, "lines", {})) == 2)
        app.follow_timer.pause()  # the screen still shows the second answer as No
        with AuditStore.open(moderated) as other:  # the second marker thinks again meanwhile
            other.record_answer(other.round("R moderation"), "A111111", "2.1.1b", "Not applicable", reason="x", auditor="m2")
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        told = " ".join(str(n.message) for n in app._notifications)
        assert "changed since this screen showed it" in told
        assert await until(pilot, lambda: screen.lines["A111111|2.1.1b"].second == "Not applicable")
        assert app.screen is screen
    assert answer_of(moderated, "R", "A111111", "2.1.1b") == "Yes"  # nothing settled


async def test_the_agreement_screen_says_answers_given_since_the_moderation_began_are_not_compared(moderated):
    with AuditStore.open(moderated) as store:
        store.record_answer(store.round("R"), "B222222", "2.1.1b", "No", auditor="first-marker")  # after moderation began
    app = CaseAuditApp(moderated, round_name="R", auditor="qa-lead")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")
        assert await until(pilot, lambda: "1 answer(s) given since are not compared" in screen_text(app)), screen_text(app)
