"""Several auditors on one database: the TUI never silently undoes another auditor's answer, follows what
others commit, records every change under the auditor's own name, and survives a round changed elsewhere.

Another auditor is played by a second connection to the same file (what `caseaudit answer` does)."""

from __future__ import annotations

import time

import pytest

from audit.cli import main
from audit.core.summary import case_supervision_ratings
from audit.store import AuditStore
from audit.store.figures import summarise
from audit.tui.app import CaseAuditApp
from audit.tui.dialogs import AuditorDialog, ConfirmDialog
from audit.tui.screens.case import CaseScreen
from audit.tui.screens.cases import CasesScreen
from audit.tui.screens.domain_one import DomainOneScreen
from audit.tui.screens.rounds import RoundsScreen
from audit.tui.screens.summary import SummaryScreen
from framework import Rating

SIZE = (120, 40)
ROUND = "Dip sample"
CASE = "T100001"


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    monkeypatch.delenv("CASEAUDIT_ASK_AUDITOR", raising=False)
    path = tmp_path / "shared.db"
    with AuditStore.open(path) as store:
        round_row = store.create_round(ROUND, "Test PDU", "hmip-probation-pdu-2021", created_by="lead")
        store.upsert_case(round_row, CASE, {"sentence_type": "Licence", "rosh_level": "High"}, changed_by="lead")
        store.upsert_case(round_row, "T100002", {"sentence_type": "Community order", "rosh_level": "Low"}, changed_by="lead")
        store.record_answer(round_row, CASE, "2.2.1a", "Yes", auditor="spo.a")
    return path


def other_auditor(path, question_id, value, *, who="spo.b", case_ref=CASE, reason=None, note=None) -> str:
    """Another auditor's command-line write on its own connection; returns its event id."""
    with AuditStore.open(path) as store:
        round_row = store.round(ROUND)
        store.record_answer(round_row, case_ref, question_id, value, reason=reason, note=note, auditor=who)
        return store._one(
            "SELECT event_id FROM answers WHERE case_id = ? AND question_id = ?",
            [store.case(round_row, case_ref)["id"], question_id],
        )["event_id"]


def stored(path, question_id, case_ref=CASE) -> dict | None:
    with AuditStore.open(path) as store:
        case = store.case(store.round(ROUND), case_ref)
        return store._one("SELECT * FROM answers WHERE case_id = ? AND question_id = ?", [case["id"], question_id])


def history(path, question_id, case_ref=CASE) -> list[dict]:
    with AuditStore.open(path) as store:
        return [h for h in store.answer_history(store.round(ROUND), case_ref) if h["question_id"] == question_id]


def notices(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def until(pilot, condition, timeout: float = 3.0) -> bool:
    """Pause until the condition holds (at most ``timeout`` seconds); True if it did."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.05)
    return True


async def type_text(pilot, text):
    for char in text:
        await pilot.press("space" if char == " " else char)


def cell(screen: CaseScreen, question_id: str) -> str:
    return str(screen.table._cells[screen.table.get_row_index(question_id)][1])


async def open_case_on_stale_screen(app, pilot) -> CaseScreen:
    """The case at 2.2.1a showing spo.a's Yes, with the screen not yet caught up with what others commit
    (every screen has that window, however short; pausing the follow timer holds it open)."""
    await pilot.pause()
    app.follow_timer.pause()
    screen = app.screen
    assert isinstance(screen, CaseScreen)
    await pilot.press("2")
    assert screen.focused_question.id == "2.2.1a"
    assert cell(screen, "2.2.1a").startswith("Yes")
    return screen


STALE_ACTIONS = {
    "answer": ["y"],
    "not applicable": ["x", "n", "r", "enter"],
    "clear": ["backspace"],
    "note": ["e", "s", "e", "e", "n", "enter"],
}


# ------------------------------------------------------------------ compare-and-set
@pytest.mark.parametrize("action", list(STALE_ACTIONS))
async def test_a_stale_screen_never_overwrites_a_newer_answer(db, action):
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case_on_stale_screen(app, pilot)
        theirs = other_auditor(db, "2.2.1a", "No")
        await pilot.press(*STALE_ACTIONS[action])
        await pilot.pause()
        # nothing written; the line shows their answer and the screen asks
        assert isinstance(app.screen, ConfirmDialog)
        question = str(app.screen.query_one("#question").render())
        assert "spo.b set 2.2.1a to No at " in question and "(since this screen showed Yes)" in question
        assert cell(screen, "2.2.1a").startswith("No")
        assert stored(db, "2.2.1a")["event_id"] == theirs
        await pilot.press("n")  # keep theirs
        await pilot.pause()
        assert app.screen is screen
    row = stored(db, "2.2.1a")
    assert row["value"] == "No" and row["auditor"] == "spo.b" and row["event_id"] == theirs and row["note"] is None
    assert [(h["old_value"], h["new_value"], h["auditor"]) for h in history(db, "2.2.1a")] == [
        (None, "Yes", "spo.a"),
        ("Yes", "No", "spo.b"),
    ]


async def test_a_note_on_a_stale_screen_keeps_the_other_auditors_answer(db):
    """Issue 10, item 5: the note used to re-send the cached Yes, recording `No -> Yes [note]`."""
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case_on_stale_screen(app, pilot)
        theirs = other_auditor(db, "2.2.1a", "No")
        await pilot.press("e")
        await type_text(pilot, "seen the OASys")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "Save your note on it?" in str(app.screen.query_one("#question").render())
        await pilot.press("y")
        await pilot.pause()
        assert cell(screen, "2.2.1a").startswith("No +note")
    row = stored(db, "2.2.1a")
    assert (row["value"], row["note"]) == ("No", "seen the OASys")
    events = history(db, "2.2.1a")
    assert not any(h["old_value"] == "No" and h["new_value"] == "Yes" for h in events)
    last = events[-1]
    assert (last["old_value"], last["new_value"], last["new_note"], last["auditor"]) == ("No", "No", "seen the OASys", "alice")
    assert last["based_on"] == theirs


async def test_confirming_after_a_stale_answer_writes_over_theirs(db):
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case_on_stale_screen(app, pilot)
        theirs = other_auditor(db, "2.2.1a", "No")
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = str(app.screen.query_one("#question").render())
        assert question.startswith("spo.b set 2.2.1a to No at ") and question.endswith(
            "(since this screen showed Yes). Replace it with Yes?"
        )
        await pilot.press("y")
        await pilot.pause()
        assert app.screen is screen and cell(screen, "2.2.1a").startswith("Yes")
    row = stored(db, "2.2.1a")
    assert (row["value"], row["auditor"]) == ("Yes", "alice")
    last = history(db, "2.2.1a")[-1]
    assert (last["old_value"], last["new_value"], last["based_on"], last["source"]) == ("No", "Yes", theirs, "tui")


async def test_nothing_to_ask_when_the_other_auditor_gave_the_same_answer(db):
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case_on_stale_screen(app, pilot)
        theirs = other_auditor(db, "2.2.1a", "No")
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and cell(screen, "2.2.1a").startswith("No")
        assert "already as you wanted" in notices(app)
    assert stored(db, "2.2.1a")["event_id"] == theirs


async def test_a_third_change_while_the_confirm_is_open_is_asked_about_in_turn(db):
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_case_on_stale_screen(app, pilot)
        other_auditor(db, "2.2.1a", "No")
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        app.follow_timer.resume()  # the screen under the confirm follows the database
        third = other_auditor(db, "2.2.1a", "Not applicable", who="spo.c", reason="transferred in")
        assert await until(pilot, lambda: cell(screen, "2.2.1a").startswith("N/A"))
        await pilot.press("y")  # "replace spo.b's No": spo.c's answer is not what the confirm named
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = str(app.screen.query_one("#question").render())
        assert "spo.c set 2.2.1a to N/A: transferred in at " in question and "(since this screen showed No)" in question
        await pilot.press("y")
        await pilot.pause()
    last = history(db, "2.2.1a")[-1]
    assert (last["old_value"], last["new_value"], last["auditor"], last["based_on"]) == ("Not applicable", "Yes", "alice", third)


async def test_a_note_is_based_on_the_answer_seen_when_it_was_begun(db):
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("2", "e")
        await type_text(pilot, "risk to staff")
        other_auditor(db, "2.2.1a", "No")  # while the note is being typed; the line behind follows
        assert await until(pilot, lambda: cell(screen, "2.2.1a").startswith("No"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)  # the note was begun on Yes
        assert "spo.b set 2.2.1a to No" in str(app.screen.query_one("#question").render())
        await pilot.press("n")
        await pilot.pause()
    row = stored(db, "2.2.1a")
    assert (row["value"], row["note"], row["auditor"]) == ("No", None, "spo.b")


async def test_marking_a_standard_not_applicable_asks_about_answers_given_meanwhile(db):
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await open_case_on_stale_screen(app, pilot)
        other_auditor(db, "2.2.1b", "Yes")
        await pilot.press("m")
        await type_text(pilot, "no plan due")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = str(app.screen.query_one("#question").render())
        assert "spo.b set 2.2.1b to Yes" in question and "since this screen showed no answer" in question
        assert "spo.a" not in question  # 2.2.1a is as the screen showed it
        await pilot.press("n")
        await pilot.pause()
    assert stored(db, "2.2.1b")["value"] == "Yes"
    assert stored(db, "2.2.1a")["value"] == "Not applicable" and stored(db, "2.2.1")["value"] == "Not applicable"


async def test_a_stale_domain_one_rating_asks_before_replacing(demo_db, monkeypatch):
    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    app = CaseAuditApp(demo_db, round_name="Newham 2022", auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, DomainOneScreen)
        app.follow_timer.pause()
        with AuditStore.open(demo_db) as store:
            round_row = store.round("Newham 2022")
            ratings = case_supervision_ratings(summarise(store, store.round("Newham 2022")))
            assert store.domain_ratings(round_row)["1.1"]["rating"] == "Requires improvement"  # as the demo round has it
            theirs = store.rate_standard(
                round_row, "1.1", Rating.GOOD, case_ratings=ratings, override_reason="partnerships improving", rater="spo.b"
            )["event_id"]
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = str(app.screen.query_one("#question").render())
        assert (
            "spo.b rated 1.1 'Good' at " in question
            and "(since this screen showed 'Requires improvement')" in question
            and question.endswith("Replace it with 'Inadequate'?")
        )
        await pilot.press("y")
        await pilot.pause()
    with AuditStore.open(demo_db) as store:
        round_row = store.round("Newham 2022")
        assert store.domain_ratings(round_row)["1.1"]["rating"] == "Inadequate"
        last = [h for h in store.rating_history(round_row) if h["standard_id"] == "1.1"][-1]
    assert (last["old_rating"], last["new_rating"], last["rater"], last["based_on"]) == ("Good", "Inadequate", "alice", theirs)


async def test_evidence_on_a_stale_domain_one_screen_keeps_the_other_raters_rating(demo_db, monkeypatch):
    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    app = CaseAuditApp(demo_db, round_name="Newham 2022", auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("o")
        await pilot.pause()
        app.follow_timer.pause()
        with AuditStore.open(demo_db) as store:
            round_row = store.round("Newham 2022")
            ratings = case_supervision_ratings(summarise(store, store.round("Newham 2022")))
            store.rate_standard(round_row, "1.1", Rating.INADEQUATE, case_ratings=ratings, rater="spo.b")
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#text").value = "minutes of the partnership board"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = str(app.screen.query_one("#question").render())
        assert "spo.b rated 1.1 'Inadequate' at " in question and question.endswith("Save your evidence on their rating?")
        await pilot.press("y")
        await pilot.pause()
    with AuditStore.open(demo_db) as store:
        rating = store.domain_ratings(store.round("Newham 2022"))["1.1"]
    assert (rating["rating"], rating["evidence"], rating["rater"]) == ("Inadequate", "minutes of the partnership board", "alice")


# ------------------------------------------------------------------ screens follow the database
async def test_the_case_screen_shows_another_auditors_answer_within_a_second(db):
    app = CaseAuditApp(db, round_name=ROUND, case_ref=CASE, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        redrawn = []
        original = screen.table.update_row
        screen.table.update_row = lambda key, cells: (redrawn.append(key), original(key, cells))
        other_auditor(db, "2.2.1a", "No")
        assert await until(pilot, lambda: cell(screen, "2.2.1a").startswith("No"))  # polled every 0.5 s
        assert set(redrawn) == {"2.2.1a", "2.2.1"}  # the answer's line and its key question's, nothing else
        # and a write from this screen is now based on their answer: no question asked
        await pilot.press("2", "y")
        await pilot.pause()
        assert app.screen is screen
    row = stored(db, "2.2.1a")
    assert (row["value"], row["auditor"]) == ("Yes", "alice")


async def test_the_cases_screen_follows_other_auditors(db):
    app = CaseAuditApp(db, round_name=ROUND, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CasesScreen)
        table = screen.query_one("#cases")

        def progress(ref):
            return table._cells[table.get_row_index(ref)][4]

        assert progress("T100002") == "0/77"
        other_auditor(db, "2.1.1a", "Yes", case_ref="T100002")
        other_auditor(db, "2.1.1b", "No", case_ref="T100002")
        assert await until(pilot, lambda: progress("T100002") == "2/77")
        assert progress(CASE) == "1/77"


async def test_the_rounds_screen_follows_other_processes(db):
    app = CaseAuditApp(db, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#rounds")
        assert table.row_count == 1
        with AuditStore.open(db) as store:
            store.create_round("Autumn dip sample", "Test PDU", "hmip-probation-pdu-2021", created_by="lead")
        assert await until(pilot, lambda: table.row_count == 2)
        assert app.screen.focused is table


async def test_summary_and_domain_one_screens_follow_other_auditors(demo_db, monkeypatch):
    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    app = CaseAuditApp(demo_db, round_name="Newham 2022", auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        before = screen.summary.key_question("2.5.3").counts.yes
        with AuditStore.open(demo_db) as store:
            round_row = store.round("Newham 2022")
            case = next(c for c in store.cases(round_row) if store.answers_for_case(c["id"])["2.5.3"]["value"] == "No")
            store.record_answer(round_row, case["case_ref"], "2.5.3", "Yes", auditor="spo.b")
        assert await until(pilot, lambda: screen.summary.key_question("2.5.3").counts.yes == before + 1)
        await pilot.press("o")
        await pilot.pause()
        domain = app.screen
        assert isinstance(domain, DomainOneScreen)
        with AuditStore.open(demo_db) as store:
            round_row = store.round("Newham 2022")
            ratings = case_supervision_ratings(summarise(store, store.round("Newham 2022")))
            store.rate_standard(round_row, "1.3", Rating.INADEQUATE, case_ratings=ratings, rater="spo.b", evidence="no premises")
        table = domain.query_one("#domain1")
        assert await until(pilot, lambda: table.get_row("1.3")[1] == "Inadequate" and table.get_row("1.3")[3] == "no premises")


# ------------------------------------------------------------------ who did it
def launch(monkeypatch, *argv) -> CaseAuditApp:
    """`caseaudit ARGV` as the command line builds the app, stopped just before it takes the terminal."""
    built: list[CaseAuditApp] = []
    monkeypatch.setattr(CaseAuditApp, "run", lambda self, *args, **kwargs: built.append(self))
    monkeypatch.setattr("audit.cli.app._in_a_terminal", lambda: True)  # as if typed in a terminal (CI has no TTY)
    assert main([str(a) for a in argv]) == 0
    return built[0]


async def test_auditor_flag_records_every_tui_change_under_that_name(db, monkeypatch):
    app = launch(monkeypatch, "--db", db, "--auditor", "alice", "open", "--round", ROUND)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, CasesScreen)
        assert "auditing as alice" in app.screen.query_one("Header").screen_sub_title
        await pilot.press("a")  # add a case
        await pilot.pause()
        await type_text(pilot, "X123456")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")  # open T100001: answer, note
        await pilot.pause()
        assert isinstance(app.screen, CaseScreen)
        await pilot.press("1", "y", "k", "e")
        await type_text(pilot, "checked")
        await pilot.press("enter", "escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("o", "i")  # rate 1.1 Inadequate
        await pilot.pause()
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, RoundsScreen)
        await pilot.press("r")
        await type_text(pilot, "Dip sample renamed")  # the old name is selected: typing replaces it
        await pilot.press("enter")
        await pilot.pause()
    with AuditStore.open(db) as store:
        round_row = store.round(ROUND + " renamed")
        tui = [h for h in store.answer_history(round_row) if h["source"] == "tui"]
        assert [(h["question_id"], h["new_value"], h["new_note"]) for h in tui] == [
            ("2.1.1a", "Yes", None),
            ("2.1.1a", "Yes", "checked"),
        ]
        assert {h["auditor"] for h in tui} == {"alice"}
        added = list(
            store.db.query(
                "SELECT DISTINCT changed_by FROM attribute_history h JOIN cases c ON c.id = h.case_id "
                "WHERE c.case_ref = 'X123456'"
            )
        )
        store.case(round_row, "X123456")
        assert added in ([], [{"changed_by": "alice"}])  # a case added without attributes has no attribute events
        assert store.domain_ratings(round_row)["1.1"]["rater"] == "alice"
        assert [(e["event"], e["done_by"]) for e in store.round_events(round_row)] == [("renamed", "alice")]


async def test_case_added_with_attributes_is_recorded_under_the_auditor(db, monkeypatch):
    app = launch(monkeypatch, "--db", db, "--auditor", "alice", "open", "--round", ROUND)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("a")
        await pilot.pause()
        dialog = app.screen
        await type_text(pilot, "X123456")
        dialog.query_one("#team").value = "North"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    with AuditStore.open(db) as store:
        rows = list(
            store.db.query(
                "SELECT attribute, new_value, changed_by, source FROM attribute_history h "
                "JOIN cases c ON c.id = h.case_id WHERE c.case_ref = 'X123456'"
            )
        )
    assert rows == [{"attribute": "team", "new_value": "North", "changed_by": "alice", "source": "tui"}]


async def test_caseaudit_auditor_environment_names_the_tui_auditor(db, monkeypatch):
    monkeypatch.setenv("CASEAUDIT_AUDITOR", "bob")
    app = launch(monkeypatch, "--db", db, "open", "--round", ROUND, "--case", CASE)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.sub_title == "auditing as bob"
        assert "auditing as bob" in app.screen.query_one("Header").screen_sub_title
        await pilot.press("1", "n")
        await pilot.pause()
    assert stored(db, "2.1.1a")["auditor"] == "bob"
    assert history(db, "2.1.1a")[-1]["auditor"] == "bob"


async def test_asked_auditor_comes_first_and_is_recorded(db, monkeypatch):
    monkeypatch.setenv("CASEAUDIT_ASK_AUDITOR", "1")
    monkeypatch.setenv("CASEAUDIT_AUDITOR", "server")
    app = launch(monkeypatch, "--db", db, "open", "--round", ROUND)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AuditorDialog)
        assert not any(isinstance(s, (RoundsScreen, CasesScreen)) for s in app.screen_stack)  # nothing can write yet
        box = app.screen.query_one("#auditor")
        assert box.value == "server"  # offered, not taken
        for _ in "server":
            await pilot.press("backspace")
        await pilot.press("space", "enter")  # blank: refused
        await pilot.pause()
        assert isinstance(app.screen, AuditorDialog)
        assert "Type your name" in str(app.screen.query_one("#error").render())
        await type_text(pilot, "carol  ")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, CasesScreen)
        assert "auditing as carol" in app.screen.query_one("Header").screen_sub_title
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("1", "y")
        await pilot.pause()
    assert history(db, "2.1.1a")[-1]["auditor"] == "carol"


async def test_asked_auditor_confirms_a_name_given_on_the_command_line(db, monkeypatch):
    monkeypatch.setenv("CASEAUDIT_ASK_AUDITOR", "1")
    app = launch(monkeypatch, "--db", db, "--auditor", "dave", "open", "--round", ROUND, "--case", CASE)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AuditorDialog)
        assert app.auditor is None
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CaseScreen) and app.auditor == "dave"
        await pilot.press("1", "y")
        await pilot.pause()
    assert history(db, "2.1.1a")[-1]["auditor"] == "dave"


# ------------------------------------------------------------------ finalised and missing rounds
async def test_renaming_a_finalised_round_shows_the_refusal(db, monkeypatch):
    with AuditStore.open(db) as store:
        store.finalise_round(store.round(ROUND), by="lead")
    app = CaseAuditApp(db, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await type_text(pilot, " 2")
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, RoundsScreen)
        assert "finalised" in notices(app)
    with AuditStore.open(db) as store:
        assert store.round(ROUND).name == ROUND


async def test_adding_a_case_to_a_round_finalised_meanwhile_is_refused(db):
    app = CaseAuditApp(db, round_name=ROUND, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("a")
        await pilot.pause()
        with AuditStore.open(db) as store:
            store.finalise_round(store.round(ROUND), by="lead")
        await type_text(pilot, "X123456")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, CasesScreen)
        assert "finalised" in notices(app)
    with AuditStore.open(db) as store:
        assert [c["case_ref"] for c in store.cases(store.round(ROUND))] == [CASE, "T100002"]


def pin_to_missing_framework(path):
    with AuditStore.open(path) as store:
        store.db.execute("UPDATE rounds SET framework_version = '99.0' WHERE name = ?", [ROUND])
        store.db.conn.commit()


async def test_a_round_whose_framework_is_missing_is_listed_and_not_opened(db):
    pin_to_missing_framework(db)
    app = CaseAuditApp(db, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#rounds")
        assert "(not available)" in str(table.get_row_at(0)[2])
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, RoundsScreen)
        assert "which this caseaudit does not have" in notices(app)


def test_opening_a_round_whose_framework_is_missing_is_one_message(db, cli, monkeypatch):
    pin_to_missing_framework(db)
    monkeypatch.setattr("audit.cli.app._in_a_terminal", lambda: True)  # as if typed in a terminal (CI has no TTY)
    result = cli("--db", db, "open", "--round", ROUND)
    assert result.code == 2
    assert "which this caseaudit does not have" in result.err and "Traceback" not in result.err


# ------------------------------------------------------------------ workers never take the app down
async def test_summary_survives_its_round_renamed_elsewhere(db):
    app = CaseAuditApp(db, round_name=ROUND, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        app.follow_timer.pause()  # only `r` refreshes
        with AuditStore.open(db) as store:
            store.rename_round(store.round(ROUND), "Spring dip sample", by="lead")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and app.screen is screen
        assert screen.title == "Summary: Spring dip sample"
        await pilot.press("o")  # domain 1 too finds the round by its id
        await pilot.pause()
        assert (
            isinstance(app.screen, DomainOneScreen)
            and app.screen.title == "Domain 1 Organisational delivery ratings: Spring dip sample"
        )


async def test_a_failing_worker_is_a_message_not_the_end_of_the_app(db, monkeypatch):
    import audit.tui.screens.summary as screens

    app = CaseAuditApp(db, round_name=ROUND, auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()

        def broken(*args, **kwargs):
            raise OSError("disk I/O error")

        monkeypatch.setattr(screens, "summarise", broken)
        await pilot.press("r")
        await app.workers.wait_for_complete()
        assert await until(pilot, lambda: "disk I/O error" in notices(app))
        assert app.is_running and isinstance(app.screen, SummaryScreen)


# ------------------------------------------------------------------ merge conflicts
@pytest.fixture
def conflict_db(demo_db, tmp_path, monkeypatch):
    """Newham 2022 with one open conflict on 2.4.1: ours Yes (spo.a), theirs No (spo.b, from a laptop copy)."""
    from audit.store import backup_database
    from audit.store.merge import merge_database

    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    with AuditStore.open(demo_db) as store:
        round_row = store.round("Newham 2022")
        ref = store.cases(round_row)[0]["case_ref"]
        store.record_answer(round_row, ref, "2.4.1", None, auditor="lead")
    laptop = tmp_path / "laptop-b.db"
    backup_database(demo_db, laptop)
    with AuditStore.open(laptop) as store:
        store.record_answer(store.round("Newham 2022"), ref, "2.4.1", "No", auditor="spo.b")
    with AuditStore.open(demo_db) as store:
        store.record_answer(store.round("Newham 2022"), ref, "2.4.1", "Yes", auditor="spo.a")
        merge_database(store, laptop)
        assert len(store.conflicts(store.round("Newham 2022"))) == 1
    return demo_db, ref


def open_conflicts(path) -> list[dict]:
    with AuditStore.open(path) as store:
        return store.conflicts(store.round("Newham 2022"), open_only=False)


async def test_resolving_a_conflict_that_changed_meanwhile_asks_and_records_the_auditor(conflict_db):
    path, ref = conflict_db
    app = CaseAuditApp(path, round_name="Newham 2022", auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        app.follow_timer.pause()
        table = screen.query_one("#conflicts")
        assert str(table.get_row_at(0)[3]).startswith("Yes (spo.a)")
        with AuditStore.open(path) as store:  # another auditor changes our side
            store.record_answer(
                store.round("Newham 2022"), ref, "2.4.1", "Not applicable", reason="no risk work due", auditor="spo.c"
            )
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert str(table.get_row_at(0)[3]).startswith("N/A: no risk work due (spo.c)")  # now shown
        assert (
            "the shown value is now N/A: no risk work due (spo.c) (this screen showed Yes (spo.a)). Keep the shown value?"
            in str(app.screen.query_one("#question").render())
        )
        await pilot.press("n")
        await pilot.pause()
        assert open_conflicts(path)[0]["resolved_at"] is None  # nothing settled on a value the screen did not show
        await pilot.press("o")  # the screen shows what is stored: settled at once
        await pilot.pause()
        assert app.screen is screen
    conflict = open_conflicts(path)[0]
    assert (conflict["kept"], conflict["resolved_by"]) == ("ours", "alice")
    with AuditStore.open(path) as store:
        row = store.answer(store.case(store.round("Newham 2022"), ref)["id"], "2.4.1")
    assert (row["value"], row["reason"]) == ("Not applicable", "no risk work due")


async def test_the_conflicts_screen_follows_other_auditors(conflict_db):
    path, ref = conflict_db
    app = CaseAuditApp(path, round_name="Newham 2022", auditor="alice")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("c")
        await pilot.pause()
        table = app.screen.query_one("#conflicts")
        assert table.row_count == 1
        with AuditStore.open(path) as store:
            round_row = store.round("Newham 2022")
            store.resolve_conflict(round_row, store.conflicts(round_row)[0]["id"], "theirs", by="qa.lead")
        assert await until(pilot, lambda: table.row_count == 0)
