"""Many auditors, one truth: merges that never overwrite silently, refuse what the pinned
framework does not define, carry case attributes, and finalising that cannot be raced."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import pytest

import audit.sheets.case_sheet
from audit.errors import DuplicateCase, RoundFinalised, StaleAnswer
from audit.store import AuditStore
from tests.test_reliability import NEWHAM, answer_of, first_case, two_copies  # noqa: F401  (fixture)
from tests.test_sheets import db_state

FIXTURES = Path(__file__).parent / "fixtures"


def open_conflicts(db: Path, name: str = NEWHAM) -> list[dict]:
    with AuditStore.open(db) as store:
        return store.conflicts(store.round(name))


def check_passes(cli, *dbs: Path) -> None:
    for db in dbs:
        result = cli("--db", db, "check")
        assert result.code == 0, result


def answer_apart(cli, ours: Path, theirs: Path, question: str, first: tuple[str, str], second: tuple[str, str]) -> str:
    """spo.b answers ``first`` (copy, value) then spo.a ``second``, each in its own copy; returns the case."""
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    for (copy, value), auditor in ((first, "spo.b"), (second, "spo.a")):
        assert (
            cli(
                "--db",
                {"ours": ours, "theirs": theirs}[copy],
                "--auditor",
                auditor,
                "answer",
                "--round",
                NEWHAM,
                ref,
                question,
                value,
            ).code
            == 0
        )
    return ref


# ------------------------------------------------------------------ 1. merges in both directions
def test_merging_back_and_forth_never_overwrites_either_answer(cli, two_copies):
    ours, theirs = two_copies
    ref = answer_apart(cli, ours, theirs, "2.4.1", ("theirs", "No"), ("ours", "Yes"))
    assert "1 conflict(s)" in cli("--db", ours, "merge", theirs).out
    back = cli("--db", theirs, "merge", ours)
    assert back.code == 0 and "1 conflict(s)" in back.out, back
    # both copies show the same answer and list the other one as an open conflict
    assert answer_of(ours, ref, "2.4.1") == answer_of(theirs, ref, "2.4.1") == "Yes"
    (mine,), (their,) = open_conflicts(ours), open_conflicts(theirs)
    assert (mine["their_value"], mine["their_by"]) == (their["their_value"], their["their_by"]) == ("No", "spo.b")
    # nothing more to exchange in either direction
    assert "Nothing new" in cli("--db", ours, "merge", theirs).out
    assert "Nothing new" in cli("--db", theirs, "merge", ours).out
    # the lead settles it in one copy; the decision travels to the other
    settled = cli("--db", theirs, "--auditor", "qa.lead", "resolve", "--round", NEWHAM, str(their["id"]), "theirs")
    assert settled.code == 0
    assert answer_of(theirs, ref, "2.4.1") == "No"
    result = cli("--db", ours, "merge", theirs)
    assert "1 conflict(s) settled" in result.out, result
    assert answer_of(ours, ref, "2.4.1") == "No" and open_conflicts(ours) == []
    assert "took the other value (qa.lead)" in cli("--db", ours, "conflicts", "--round", NEWHAM, "--all").out
    check_passes(cli, ours, theirs)


def test_the_other_order_overwrites_nothing_either(cli, two_copies):
    ours, theirs = two_copies
    ref = answer_apart(cli, ours, theirs, "2.6.1", ("ours", "Yes"), ("theirs", "No"))
    cli("--db", theirs, "merge", ours)
    cli("--db", ours, "merge", theirs)
    assert answer_of(ours, ref, "2.6.1") == answer_of(theirs, ref, "2.6.1") == "No"  # the later answer shows
    assert [k["their_value"] for k in open_conflicts(ours)] == [k["their_value"] for k in open_conflicts(theirs)] == ["Yes"]
    history = cli("--db", ours, "history", "--round", NEWHAM, "--case", ref).out
    assert "spo.a" in history and "spo.b" in history  # both answers are in the record
    check_passes(cli, ours, theirs)


def test_answering_over_an_open_conflict_shows_the_new_answer_and_keeps_the_conflict(cli, two_copies):
    ours, theirs = two_copies
    ref = answer_apart(cli, ours, theirs, "2.4.1", ("theirs", "No"), ("ours", "Yes"))
    cli("--db", ours, "merge", theirs)
    cli("--db", ours, "--auditor", "spo.a", "answer", "--round", NEWHAM, ref, "2.4.1", "N/A: case transferred")
    assert answer_of(ours, ref, "2.4.1") == "Not applicable"
    assert [k["their_value"] for k in open_conflicts(ours)] == ["No"]
    cli("--db", theirs, "merge", ours)
    assert answer_of(theirs, ref, "2.4.1") == "Not applicable"
    assert [k["their_value"] for k in open_conflicts(theirs)] == ["No"]


# ------------------------------------------------------------------ 2 and 3. what the framework does not define
def test_merge_refuses_answers_to_questions_the_pinned_framework_lacks(cli, two_copies):
    ours, theirs = two_copies
    with AuditStore.open(theirs) as store:
        ref = first_case(store)
    conn = sqlite3.connect(theirs)
    conn.execute(
        "INSERT INTO answers (case_id, question_id, round_id, value, auditor, answered_at, event_id)"
        " SELECT id, '2.9.9', round_id, 'Yes', 'intruder', '2026-01-01', 'e-foreign' FROM cases WHERE case_ref = ?",
        [ref],
    )
    conn.commit()
    conn.close()
    before = db_state(ours)
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert f"round 'Newham 2022', case {ref}, question 2.9.9: not a question of hmip-probation-pdu-2021" in result.err
    assert "nothing was merged" in result.err
    assert db_state(ours) == before


def test_merge_refuses_a_round_pinned_to_a_framework_this_build_lacks(cli, two_copies, tmp_path):
    ours, theirs = two_copies
    conn = sqlite3.connect(theirs)
    conn.execute(
        "INSERT INTO rounds (id, name, unit, framework_id, framework_version, created_at, created_by)"
        " VALUES ('r-future', 'Future', 'PDU', 'hmip-probation-pdu-2031', '1', '2031-01-01', 'x')"
    )
    conn.commit()
    conn.close()
    before = db_state(ours)
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 2 and "round 'Future' is pinned to framework hmip-probation-pdu-2031 version 1" in result.err
    assert db_state(ours) == before
    # a database already holding such a round (written by a newer caseaudit) still lists its rounds
    listing = cli("--db", theirs, "rounds")
    assert listing.code == 0 and "Future" in listing.out and "framework not available" in listing.out
    opened = cli("--db", theirs, "summary", "--round", "Future")
    assert opened.code == 2 and "Traceback" not in opened.err


# ------------------------------------------------------------------ 4. case attributes travel
def test_merge_takes_the_other_copys_changed_attributes_and_lists_clashes(cli, two_copies):
    ours, theirs = two_copies
    with AuditStore.open(theirs) as store:
        round_row = store.round(NEWHAM)
        refs = [c["case_ref"] for c in store.cases(round_row)[:2]]
        store.upsert_case(round_row, refs[0], {"team": "Team Z", "rosh_level": "Very high"}, changed_by="spo.b")
        store.upsert_case(round_row, refs[1], {"team": "Team B"}, changed_by="spo.b")
    with AuditStore.open(ours) as store:
        store.upsert_case(store.round(NEWHAM), refs[1], {"team": "Team A"}, changed_by="spo.a")
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 0 and "Nothing new" not in result.out
    assert "3 case attribute(s) taken" in result.out or "2 case attribute(s) taken" in result.out, result.out
    assert "1 conflict(s)" in result.out
    with AuditStore.open(ours) as store:
        cases = {c["case_ref"]: c for c in store.cases(store.round(NEWHAM))}
        (clash,) = store.conflicts(store.round(NEWHAM))
    assert (cases[refs[0]]["team"], cases[refs[0]]["rosh_level"]) == ("Team Z", "Very high")
    assert clash["kind"] == "attribute" and clash["subject"] == "team" and clash["case_ref"] == refs[1]
    assert {clash["their_value"], cases[refs[1]]["team"]} == {"Team A", "Team B"}
    history = cli("--db", ours, "history", "--round", NEWHAM, "--case", refs[0]).out
    assert "spo.b" in history and "team" in history and "Team Z" in history
    cli("--db", theirs, "merge", ours)
    with AuditStore.open(theirs) as store:
        assert store.case(store.round(NEWHAM), refs[1])["team"] == cases[refs[1]]["team"]
    check_passes(cli, ours, theirs)


# ------------------------------------------------------------------ 7. finalising cannot be raced
def test_a_round_finalised_while_a_sheet_is_read_takes_nothing(cli, demo_db, monkeypatch):
    parse = audit.sheets.case_sheet.parse_sheet

    def parse_then_finalise(*args, **kwargs):
        sheet = parse(*args, **kwargs)
        with AuditStore.open(demo_db) as other:  # another auditor finalises meanwhile
            other.finalise_round(other.round(NEWHAM), by="qa.lead")
        return sheet

    monkeypatch.setattr(audit.sheets.case_sheet, "parse_sheet", parse_then_finalise)
    before_answers = answer_count(demo_db)
    result = cli("--db", demo_db, "import", FIXTURES / "two-cases.csv", "--round", NEWHAM)
    assert result.code == 2 and "was finalised" in result.err
    assert answer_count(demo_db) == before_answers
    with AuditStore.open(demo_db) as store:
        assert not [c for c in store.cases(store.round(NEWHAM)) if c["case_ref"] == "A100001"]


def answer_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM answer_history").fetchone()[0]
    finally:
        conn.close()


def test_a_case_added_from_a_screen_drawn_before_finalising_is_refused(demo_db):
    with AuditStore.open(demo_db) as screen, AuditStore.open(demo_db) as lead:
        round_row = screen.round(NEWHAM)  # what the add-case screen holds
        lead.finalise_round(lead.round(NEWHAM), by="qa.lead")
        with pytest.raises(RoundFinalised):
            screen.upsert_case(round_row, "Z100001", {"team": "North"}, must_be_new=True)
        assert not list(screen.db.query("SELECT 1 FROM cases WHERE case_ref = 'Z100001'"))


def test_a_case_someone_else_added_meanwhile_is_not_added_twice(demo_db):
    with AuditStore.open(demo_db) as one, AuditStore.open(demo_db) as two:
        round_row = one.round(NEWHAM)
        two.upsert_case(two.round(NEWHAM), "Z100001", {"team": "North"}, changed_by="spo.two")
        with pytest.raises(DuplicateCase):
            one.upsert_case(round_row, "z100001", {"team": "South"}, changed_by="spo.one", must_be_new=True)
        assert one.case(round_row, "Z100001")["team"] == "North"


def test_a_finalised_round_keeps_its_name_and_renames_are_recorded(cli, demo_db):
    assert cli("--db", demo_db, "finalise", "--round", NEWHAM).code == 0
    with AuditStore.open(demo_db) as store:
        with pytest.raises(RoundFinalised):
            store.rename_round(store.round(NEWHAM), "Renamed")
        store.reopen_round(store.round(NEWHAM), "rename it", by="qa.lead")
        store.rename_round(store.round(NEWHAM), "Newham self-assessment", by="qa.lead")
    history = cli("--db", demo_db, "history", "--round", "Newham self-assessment").out
    assert re.search(r"qa\.lead\s+round renamed: Newham 2022 -> Newham self-assessment", history), history


def test_finalising_and_answering_at_once_never_writes_into_a_finalised_round(demo_db):
    """Answers racing a finalise either land before it or are refused: none after."""
    with AuditStore.open(demo_db) as store:
        ref = first_case(store)
    errors: list[Exception] = []

    def answer_many() -> None:
        with AuditStore.open(demo_db) as writer:
            round_row = writer.round(NEWHAM)
            for n in range(60):
                try:
                    writer.record_answer(round_row, ref, "2.1.1", ["Yes", "No"][n % 2], auditor="spo.fast")
                except RoundFinalised:
                    return
                except Exception as error:  # pragma: no cover - reported below
                    errors.append(error)
                    return

    thread = threading.Thread(target=answer_many)
    thread.start()
    with AuditStore.open(demo_db) as lead:
        finalised = lead.finalise_round(lead.round(NEWHAM), by="qa.lead")
    thread.join()
    assert errors == []
    with AuditStore.open(demo_db) as store:
        late = list(
            store.db.query(
                "SELECT 1 FROM answer_history h JOIN cases c ON c.id = h.case_id WHERE c.case_ref = ? AND h.changed_at > ?",
                [ref, finalised.finalised_at],
            )
        )
    assert late == []


# ------------------------------------------------------------------ compare-and-set, at the store
def test_a_write_based_on_a_stale_answer_is_refused_and_says_who_changed_it(demo_db):
    with AuditStore.open(demo_db) as one, AuditStore.open(demo_db) as two:
        round_row = one.round(NEWHAM)
        ref = first_case(one)
        case = one.case(round_row, ref)
        seen = next(
            iter(one.db.query("SELECT event_id, value FROM answers WHERE case_id = ? AND question_id = '2.2.1a'", [case["id"]]))
        )
        theirs, mine = ("No", "Yes") if seen["value"] != "No" else ("Yes", "No")
        assert two.record_answer(two.round(NEWHAM), ref, "2.2.1a", theirs, auditor="spo.two")
        with pytest.raises(StaleAnswer) as stale:
            one.record_note(round_row, ref, "2.2.1a", "looked again", auditor="spo.one", based_on=seen["event_id"])
        assert stale.value.current["value"] == theirs and stale.value.current["auditor"] == "spo.two"
        with pytest.raises(StaleAnswer):
            one.record_answer(round_row, ref, "2.2.1a", mine, auditor="spo.one", based_on=seen["event_id"])
        with pytest.raises(StaleAnswer):
            one.record_answer(round_row, ref, "2.2.1a", None, auditor="spo.one", based_on=seen["event_id"])
        assert one.answer(case["id"], "2.2.1a")["value"] == theirs
        # a note based on what is there now changes only the note
        now = one.answer(case["id"], "2.2.1a")
        assert one.record_note(round_row, ref, "2.2.1a", "looked again", auditor="spo.one", based_on=now["event_id"])
        after = one.answer(case["id"], "2.2.1a")
        assert (after["value"], after["note"], after["auditor"]) == (theirs, "looked again", "spo.one")


# ------------------------------------------------------------------ conflicts left by an older caseaudit
def test_conflicts_left_open_by_schema_3_stay_open_and_copies_converge(cli, tmp_path):
    import shutil

    ours, theirs = tmp_path / "a.db", tmp_path / "b.db"
    shutil.copy(FIXTURES / "legacy-schema-3-with-conflicts.db", ours)
    shutil.copy(FIXTURES / "legacy-schema-3-their-copy.db", theirs)
    with AuditStore.open(ours) as store:
        round_row = store.round("Legacy")
        by_subject = {k["subject"]: k for k in store.conflicts(round_row, open_only=False)}
        case = store.case(round_row, "A100001")
        shown = store.answer(case["id"], "2.3.1")["value"]
    # 2.3.1 is still in conflict, both answers listed; 2.4.1 stays settled as the lead settled it
    assert {shown, by_subject["2.3.1"]["their_value"]} == {"Yes", "No"} and by_subject["2.3.1"]["resolved_at"] is None
    assert by_subject["2.4.1"]["kept"] == "theirs" and by_subject["2.4.1"]["resolved_by"] == "qa.lead"
    assert answer_of(ours, "A100001", "2.4.1", "Legacy") == "No"
    check_passes(cli, ours, theirs)
    assert "Nothing new" in cli("--db", ours, "merge", theirs).out
    cli("--db", theirs, "merge", ours)
    for question in ("2.3.1", "2.4.1"):
        assert answer_of(ours, "A100001", question, "Legacy") == answer_of(theirs, "A100001", question, "Legacy")
    assert [k["their_value"] for k in open_conflicts(theirs, "Legacy")] == [
        k["their_value"] for k in open_conflicts(ours, "Legacy")
    ]
    assert len(open_conflicts(ours, "Legacy")) == 1
    check_passes(cli, ours, theirs)


# ------------------------------------------------------------------ who did it, on the command line
def test_every_change_from_the_command_line_is_under_the_auditor_named(cli, two_copies, monkeypatch):
    import getpass

    monkeypatch.delenv("CASEAUDIT_AUDITOR", raising=False)
    login = getpass.getuser()
    ours, theirs = two_copies
    ref = answer_apart(cli, ours, theirs, "2.4.1", ("theirs", "No"), ("ours", "Yes"))
    cli("--db", ours, "--auditor", "spo.a", "import", FIXTURES / "two-cases.csv", "--round", NEWHAM)
    assert cli("--db", ours, "--auditor", "qa.lead", "merge", theirs).code == 0
    (conflict,) = open_conflicts(ours)
    cli("--db", ours, "--auditor", "qa.lead", "resolve", "--round", NEWHAM, str(conflict["id"]), "ours")
    cli("--db", ours, "--auditor", "qa.lead", "finalise", "--round", NEWHAM)
    cli("--db", ours, "--auditor", "qa.lead", "reopen", "--round", NEWHAM, "--reason", "late evidence")
    monkeypatch.setenv("CASEAUDIT_AUDITOR", "spo.env")
    cli("--db", ours, "answer", "--round", NEWHAM, ref, "2.6.1", "Yes")
    conn = sqlite3.connect(ours)
    try:
        stamp = conn.execute("SELECT min(changed_at) FROM answer_history WHERE auditor = 'spo.b'").fetchone()[0]
        names = {
            row[0]
            for row in conn.execute(
                "SELECT auditor FROM answer_history WHERE changed_at >= ? UNION SELECT changed_by FROM attribute_history"
                " WHERE changed_at >= ? UNION SELECT done_by FROM round_events WHERE done_at >= ?"
                " UNION SELECT resolved_by FROM conflicts WHERE resolved_by IS NOT NULL",
                [stamp, stamp, stamp],
            )
        }
    finally:
        conn.close()
    assert names == {"spo.a", "spo.b", "qa.lead", "spo.env"}, names
    assert login not in names or login in {"spo.a", "spo.b", "qa.lead", "spo.env"}


def test_answering_with_the_other_sides_value_settles_the_conflict_in_every_copy(cli, two_copies):
    ours, theirs = two_copies
    ref = answer_apart(cli, ours, theirs, "2.4.1", ("theirs", "No"), ("ours", "Yes"))
    cli("--db", ours, "merge", theirs)
    assert len(open_conflicts(ours)) == 1
    cli("--db", ours, "--auditor", "spo.a", "answer", "--round", NEWHAM, ref, "2.4.1", "No")  # agrees with spo.b now
    assert open_conflicts(ours) == []
    cli("--db", theirs, "merge", ours)
    assert open_conflicts(theirs) == [] and answer_of(theirs, ref, "2.4.1") == "No"
    check_passes(cli, ours, theirs)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("UPDATE answer_history SET case_id = 99999 WHERE id = (SELECT max(id) FROM answer_history)", "belongs to no case"),
        (
            "INSERT INTO round_events (event_id, round_id, event, reason, done_by, done_at)"
            " VALUES ('e-x', 'no-such-round', 'merged', NULL, 'x', '2026-01-01')",
            "belongs to no round",
        ),
        (
            "UPDATE answer_history SET based_on = event_id || ' ' || coalesce(based_on, '') WHERE id = (SELECT max(id) FROM answer_history)",
            "not earlier than itself",
        ),
        ("UPDATE answer_history SET generation = 'high' WHERE id = (SELECT max(id) FROM answer_history)", "malformed"),
    ],
)
def test_merge_refuses_a_copy_whose_records_point_nowhere(cli, two_copies, damage, message):
    ours, theirs = two_copies
    with AuditStore.open(theirs) as store:
        ref = first_case(store)
        store.record_answer(store.round(NEWHAM), ref, "2.4.1", "No", auditor="spo.b")
    conn = sqlite3.connect(theirs)
    conn.execute("PRAGMA foreign_keys = OFF")
    for trigger in ("answer_history_no_update", "round_events_no_update"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute(damage)
    conn.commit()
    conn.close()
    before = db_state(ours)
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 2 and message in result.err and "nothing was merged" in result.err, result
    assert len(result.err.strip().splitlines()) == 1
    assert db_state(ours) == before


@pytest.mark.parametrize("name", ["", "   ", "evil\x1b[31m", "two\nlines", "x" * 101])
def test_an_auditor_name_that_cannot_be_recorded_is_refused(cli, demo_db, monkeypatch, name):
    before = db_state(demo_db)
    result = cli("--db", demo_db, "--auditor", name, "answer", "--round", NEWHAM, "X000001", "2.1.1", "Yes")
    assert result.code == 2 and "--auditor" in result.err and len(result.err.strip().splitlines()) == 1
    if name.strip():
        monkeypatch.setenv("CASEAUDIT_AUDITOR", name)
        from_env = cli("--db", demo_db, "answer", "--round", NEWHAM, "X000001", "2.1.1", "Yes")
        assert from_env.code == 2 and "CASEAUDIT_AUDITOR" in from_env.err
        from audit.errors import InvalidValue
        from audit.tui.app import CaseAuditApp

        with pytest.raises(InvalidValue):
            CaseAuditApp(demo_db)
    assert db_state(demo_db) == before


# ------------------------------------------------------------------ found by attacking the merge
@pytest.mark.parametrize(
    "damage, message",
    [
        (
            "UPDATE answer_history SET generation = 9223372036854775807 WHERE id = (SELECT max(id) FROM answer_history)",
            "malformed",
        ),
        ("UPDATE answer_history SET event_id = 'evil id' WHERE id = (SELECT max(id) FROM answer_history)", "malformed"),
        ("UPDATE answer_history SET based_on = 'nowhere' WHERE id = (SELECT max(id) FROM answer_history)", "neither copy holds"),
        (
            "UPDATE cases SET case_ref = lower(case_ref) WHERE id = (SELECT min(id) FROM cases)",
            "not written as caseaudit writes it",
        ),
        ("UPDATE cases SET rosh_level = 'Galactic' WHERE id = (SELECT min(id) FROM cases)", "rosh_level 'Galactic'"),
        (
            "INSERT INTO round_events (event_id, round_id, event, reason, done_by, done_at)"
            " VALUES ('e-y', (SELECT id FROM rounds LIMIT 1), 'vanished', NULL, 'x', '2026-01-01')",
            "unknown kind",
        ),
        ("UPDATE answer_history SET auditor = '' WHERE id = (SELECT max(id) FROM answer_history)", "has no auditor"),
    ],
)
def test_merge_refuses_forged_or_malformed_records(cli, two_copies, damage, message):
    ours, theirs = two_copies
    with AuditStore.open(theirs) as store:
        store.record_answer(store.round(NEWHAM), first_case(store), "2.4.1", "No", auditor="spo.b")
    conn = sqlite3.connect(theirs)
    conn.execute("PRAGMA foreign_keys = OFF")
    for table in ("answer_history", "round_events"):
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute(damage)
    conn.commit()
    conn.close()
    before = db_state(ours)
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 2 and message in result.err and "nothing was merged" in result.err, result
    assert len(result.err.strip().splitlines()) == 1
    assert db_state(ours) == before


def test_an_event_id_reused_for_a_different_answer_is_refused(cli, two_copies):
    ours, theirs = two_copies
    ref = answer_apart(cli, ours, theirs, "2.4.1", ("theirs", "No"), ("ours", "Yes"))
    with AuditStore.open(ours) as store:
        mine = store.answer(store.case(store.round(NEWHAM), ref)["id"], "2.4.1")["event_id"]
    conn = sqlite3.connect(theirs)
    conn.execute("DROP TRIGGER answer_history_no_update")
    conn.execute("UPDATE answer_history SET event_id = ? WHERE id = (SELECT max(id) FROM answer_history)", [mine])
    conn.execute("UPDATE answers SET event_id = ? WHERE question_id = '2.4.1' AND value = 'No'", [mine])
    conn.commit()
    conn.close()
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 2 and "is a different change there than here" in result.err, result


def test_settling_one_conflict_leaves_a_third_copys_answer_open(cli, two_copies, tmp_path):
    ours, theirs = two_copies
    third = tmp_path / "laptop-c.db"
    assert cli("--db", theirs, "backup", third).code == 0
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    for db, auditor, value in ((ours, "alice", "Yes"), (theirs, "bob", "No"), (third, "carol", "N/A: no PSR")):
        cli("--db", db, "--auditor", auditor, "answer", "--round", NEWHAM, ref, "2.4.1", value)
    cli("--db", ours, "merge", theirs)
    cli("--db", ours, "merge", third)
    assert len(open_conflicts(ours)) == 2
    shown = answer_of(ours, ref, "2.4.1")
    first = open_conflicts(ours)[0]
    assert cli("--db", ours, "--auditor", "lead", "resolve", "--round", NEWHAM, str(first["id"]), "ours").code == 0
    (left,) = open_conflicts(ours)  # the other value was not decided by the lead: still open
    assert left["id"] != first["id"] and answer_of(ours, ref, "2.4.1") == shown
    check_passes(cli, ours)


def test_a_conflict_settled_by_answering_is_kept_as_settled_and_numbers_are_never_reused(cli, two_copies):
    ours, theirs = two_copies
    ref = answer_apart(cli, ours, theirs, "2.4.1", ("theirs", "No"), ("ours", "Yes"))
    cli("--db", ours, "merge", theirs)
    (conflict,) = open_conflicts(ours)
    cli("--db", ours, "--auditor", "lead", "answer", "--round", NEWHAM, ref, "2.4.1", "No")
    listing = cli("--db", ours, "conflicts", "--round", NEWHAM, "--all").out
    assert f"#{conflict['id']}" in listing and "resolved: took the other value (lead)" in listing
    answer_apart(cli, ours, theirs, "2.6.1", ("theirs", "No"), ("ours", "Yes"))
    cli("--db", ours, "merge", theirs)
    (newer,) = open_conflicts(ours)
    assert newer["id"] != conflict["id"] and newer["subject"] == "2.6.1"


def test_finalising_reopening_and_renaming_travel_with_a_merge(cli, two_copies):
    ours, theirs = two_copies
    with AuditStore.open(theirs) as store:
        store.rename_round(store.round(NEWHAM), "Newham self-assessment", by="qa.lead")
        store.finalise_round(store.round("Newham self-assessment"), by="qa.lead")
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 0 and "finalised here too" in result.out and "renamed here too" in result.out, result
    with AuditStore.open(ours) as store:
        round_row = store.round("Newham self-assessment")
        assert round_row.finalised_by == "qa.lead"
    refused = cli("--db", ours, "answer", "--round", "Newham self-assessment", "X", "2.1.1", "Yes")
    assert refused.code == 2
    with AuditStore.open(theirs) as store:
        store.reopen_round(store.round("Newham self-assessment"), "late evidence", by="qa.lead")
        store.record_answer(store.round("Newham self-assessment"), first_case(store, "Newham self-assessment"), "2.6.1", "Yes")
    reopened = cli("--db", ours, "merge", theirs)
    assert reopened.code == 0 and "open here too" in reopened.out, reopened
    with AuditStore.open(ours) as store:
        assert store.round("Newham self-assessment").finalised_at is None
    check_passes(cli, ours, theirs)


def test_the_young_adult_flag_follows_the_age_shown_after_a_merge(cli, tmp_path):
    """Found by attacking: one copy set age 30 (flag re-derived No), the other age 22 (flag stayed Yes, no
    event); merged, both showed age 22 with the flag No."""
    sheet = tmp_path / "s.csv"
    sheet.write_text("case_ref,age\nA100001,20\n", encoding="utf-8")
    ours, theirs = tmp_path / "a.db", tmp_path / "b.db"
    assert cli("--db", ours, "import", sheet, "--round", "R", "--unit", "U").code == 0
    assert cli("--db", ours, "backup", theirs).code == 0
    for db, age in ((ours, "30"), (theirs, "22")):
        sheet.write_text(f"case_ref,age\nA100001,{age}\n", encoding="utf-8")
        assert cli("--db", db, "import", sheet, "--round", "R").code == 0
    cli("--db", ours, "merge", theirs)
    cli("--db", theirs, "merge", ours)
    for db in (ours, theirs):
        with AuditStore.open(db) as store:
            case = store.case(store.round("R"), "A100001")
        assert case["young_adult"] == ("Yes" if 18 <= int(case["age"]) <= 25 else "No"), (db, case["age"], case["young_adult"])


def test_resolving_a_conflict_again_says_how_it_was_resolved_in_the_same_words(cli, two_copies):
    ours, theirs = two_copies
    answer_apart(cli, ours, theirs, "2.4.1", ("theirs", "No"), ("ours", "Yes"))
    cli("--db", ours, "merge", theirs)
    (conflict,) = open_conflicts(ours)
    assert cli("--db", ours, "--auditor", "lead", "resolve", "--round", NEWHAM, str(conflict["id"]), "other").code == 0
    again = cli("--db", ours, "resolve", "--round", NEWHAM, str(conflict["id"]), "shown")
    assert again.code == 2 and "already resolved by lead (took the other value)" in again.err, again


# ------------------------------------------------------------------ round names and finalising, merged in either order
def fresh_copies(tmp_path, *names: str) -> list[Path]:
    """Copies of one empty database, as laptops handed a backup would hold."""
    import shutil

    base = tmp_path / "base.db"
    AuditStore.open(base).close()
    copies = [tmp_path / name for name in names]
    for copy in copies:
        shutil.copy(base, copy)
    return copies


def round_names(db: Path) -> dict[str, str]:
    with AuditStore.open(db) as store:
        return {r["id"]: r["name"] for r in store.db.query("SELECT id, name FROM rounds")}


def test_rounds_named_alike_but_for_case_are_told_apart_by_a_merge_and_the_copies_agree(cli, tmp_path):
    s1, s2 = fresh_copies(tmp_path, "s1.db", "s2.db")
    with AuditStore.open(s1) as store:
        store.create_round("Spring", "U", "hmip-probation-pdu-2021")
    with AuditStore.open(s2) as store:
        store.create_round("spring", "U", "hmip-probation-pdu-2021")
    merged = cli("--db", s1, "--auditor", "ann", "merge", s2)
    assert merged.code == 0 and "is called 'spring (merged from s2.db)'" in merged.out, merged
    assert cli("--db", s2, "merge", s1).code == 0
    names = round_names(s1)
    assert names == round_names(s2) and sorted(names.values()) == ["Spring", "spring (merged from s2.db)"]
    assert cli("--db", s1, "summary", "--round", "SPRING").code == 0


@pytest.mark.parametrize("first", ["renamed copy merges first", "other copy merges first"])
def test_a_rename_merged_onto_a_name_differing_only_in_case_is_renamed_and_recorded_and_copies_agree(cli, tmp_path, first):
    """One copy renames R to 'Autumn', the other makes a round 'autumn': after merging both ways, in either
    order, both copies hold the same names, no two differing only in case, and every change of name is a
    recorded round event."""
    (a,), b = fresh_copies(tmp_path, "a.db"), tmp_path / "b.db"
    with AuditStore.open(a) as store:
        store.create_round("R", "U", "hmip-probation-pdu-2021")
    shutil_copy(a, b)
    with AuditStore.open(a) as store:
        store.rename_round(store.round("R"), "Autumn", by="ann")
    with AuditStore.open(b) as store:
        store.create_round("autumn", "U", "hmip-probation-pdu-2021", created_by="bob")
    order = [(a, b), (b, a), (a, b)] if first == "renamed copy merges first" else [(b, a), (a, b), (b, a)]
    for into, other in order:
        result = cli("--db", into, "merge", other)
        assert result.code == 0, result
    names = round_names(a)
    assert names == round_names(b), (names, round_names(b))
    folded = [n.casefold() for n in names.values()]
    assert len(folded) == len(set(folded)) == 2 and "autumn" in folded, names
    for db in (a, b):
        with AuditStore.open(db) as store:
            for round_id, name in names.items():
                if name not in ("R", "autumn"):  # the name each was made with
                    renames = list(
                        store.db.query("SELECT * FROM round_events WHERE round_id = ? AND event = 'renamed'", [round_id])
                    )
                    assert any(e["reason"].endswith(f" -> {name}") for e in renames), (name, renames)
    check_passes(cli, a, b)


def shutil_copy(source: Path, target: Path) -> None:
    import shutil

    with AuditStore.open(source) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(source, target)


@pytest.mark.parametrize("change", ["answer", "swap", "new case"])
def test_a_round_finalised_in_one_copy_and_changed_in_the_other_merges_in_neither_order(cli, tmp_path, change):
    """f1 finalises R; f2, not knowing, changes R. Merging f2 into f1 is refused (R is finalised there); merging
    f1 into f2 must be refused too, or f2's R would be finalised with changes the finaliser never saw: one line
    naming the round and the file, nothing changed. After reopening in f1 and merging f2 in, both merge."""
    (f1,) = fresh_copies(tmp_path, "f1.db")
    sheet = tmp_path / "sample.csv"
    sheet.write_text(
        "case_ref,gender,sentence_type,stratum,reserve,draw_order\n"
        "A111111,Female,Licence,female,No,1\nB222222,Female,Licence,female,Yes,2\n",
        encoding="utf-8",
    )
    assert cli("--db", f1, "import", sheet, "--round", "R", "--unit", "U").code == 0
    f2 = tmp_path / "f2.db"
    shutil_copy(f1, f2)
    assert cli("--db", f1, "--auditor", "lead", "finalise", "--round", "R").code == 0
    if change == "answer":
        assert cli("--db", f2, "answer", "--round", "R", "A111111", "2.1.1", "Yes").code == 0
    elif change == "swap":
        assert cli("--db", f2, "swap", "--round", "R", "A111111", "--reason", "in custody").code == 0
    else:
        with AuditStore.open(f2) as store:
            store.upsert_case(store.round("R"), "C333333", {})
    for into, other in ((f1, f2), (f2, f1)):
        before = db_state(into)
        refused = cli("--db", into, "merge", other)
        assert refused.code == 2 and refused.err.count("\n") == 1, refused
        assert "round 'R'" in refused.err and other.name in refused.err and "nothing was merged" in refused.err, refused
        assert db_state(into) == before
    assert cli("--db", f1, "--auditor", "lead", "reopen", "--round", "R", "--reason", "late work").code == 0
    assert cli("--db", f1, "merge", f2).code == 0
    assert cli("--db", f2, "merge", f1).code == 0
    with AuditStore.open(f2) as store:
        assert store.round("R").finalised_at is None


def test_a_merge_records_one_merged_event_for_each_round_it_changed(cli, two_copies):
    """Who merged what into a round is a round event: once per merge and round, whatever the merge brought."""
    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    assert cli("--db", theirs, "--auditor", "spo.b", "answer", "--round", NEWHAM, ref, "2.4.1", "No").code == 0
    assert cli("--db", ours, "--auditor", "qa.lead", "merge", theirs).code == 0
    with AuditStore.open(ours) as store:
        merged = [e for e in store.round_events(store.round(NEWHAM)) if e["event"] == "merged"]
        others = [r["name"] for r in store.rounds() if r["name"] != NEWHAM]
        untouched = [e for name in others for e in store.round_events(store.round(name)) if e["event"] == "merged"]
    assert [(e["reason"], e["done_by"]) for e in merged] == [("merged from laptop-b.db", "qa.lead")]
    assert untouched == []  # rounds the merge did not change get no event
