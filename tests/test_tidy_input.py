"""Issue 15: tidying rounds and cases (remove and restore, change a unit) and consistent, forgiving input
(names and ids in any case, options anywhere, import suggestions, semicolon CSVs, recorded-values vocabulary,
what an import changed, one rule for Not applicable without a reason)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from audit.store import AuditStore
from audit.store.case_table import read_case_answer_table
from audit.store.figures import summarise
from audit.tui.app import CaseAuditApp
from audit.tui.screens.cases import CasesScreen
from audit.tui.screens.rounds import RoundsScreen

SHEET = "case_ref,sentence_type,rosh_level,2.2.1a,2.2.1\nA100001,Licence,High,Yes,Yes\nA100002,Community order,Low,No,No\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def db_state(path: Path) -> list:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, sorted(map(repr, conn.execute(f"SELECT * FROM {t}")))) for t in tables]
    finally:
        conn.close()


def one_line_refusal(result, *words: str) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    for word in words:
        assert word in result.err, result.err


@pytest.fixture
def two_cases(cli, tmp_path):
    db = tmp_path / "a.db"
    result = cli("--db", db, "--auditor", "spo.a", "import", write(tmp_path / "s.csv", SHEET), "--round", "R", "--unit", "Unit A")
    assert result.code == 0, result
    return db


# ------------------------------------------------------------------ removing and restoring a case
def test_a_removed_case_is_out_of_every_figure_export_report_and_count_until_restored(cli, two_cases, tmp_path):
    db = two_cases
    removed = cli("--db", db, "--auditor", "qa.lead", "remove-case", "--round", "R", "a100001", "--reason", "added twice")
    assert removed.code == 0 and "A100001 removed" in removed.out, removed
    summary = json.loads(cli("--db", db, "summary", "--round", "R", "--format", "json").out)
    kq = next(k for s in summary["standards"] for k in s["key_questions"] if k["id"] == "2.2.1")
    assert summary["cases"] == 1 and (kq["yes"], kq["no"]) == (0, 1)
    assert cli("--db", db, "export", "--round", "R", tmp_path / "out.csv").code == 0
    rows = list(csv.DictReader((tmp_path / "out.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert [r["case_ref"] for r in rows] == ["A100002"]
    with AuditStore.open(db) as store:
        round_row = store.round("R")
        assert [ref for ref, _, _ in read_case_answer_table(store, round_row).cases] == ["A100002"]  # report, export
        assert store.case_totals(round_row) == (1, 1)
        assert store.sample_counts(round_row) == {"": {"main": 1}}
        assert store.sample_progress(round_row.id) == (2, 1)
        (listed,) = store.rounds()
        assert listed["cases"] == 1 and listed["answered"] == 2
        (row,) = store.removed_cases(round_row)
        assert (row["case_ref"], row["removed_by"], row["reason"]) == ("A100001", "qa.lead", "added twice")
        case = store.case(round_row, "A100001")
        assert store.answers_for_case(case["id"])["2.2.1"]["value"] == "Yes"  # kept
    history = cli("--db", db, "history", "--round", "R", "--case", "A100001").out
    assert "qa.lead" in history and "removed    No -> Yes" in history and "reason: added twice" in history
    restored = cli("--db", db, "restore-case", "--round", "r", "A100001", "--reason", "not a duplicate after all")
    assert restored.code == 0, restored
    summary = json.loads(cli("--db", db, "summary", "--round", "R", "--format", "json").out)
    assert summary["cases"] == 2
    assert "reason: not a duplicate after all" in cli("--db", db, "history", "--round", "R", "--case", "A100001").out


def test_removing_a_case_refuses_in_one_line_and_changes_nothing(cli, two_cases, tmp_path):
    db = two_cases
    before = db_state(db)
    one_line_refusal(cli("--db", db, "remove-case", "--round", "R", "A100009", "--reason", "x"), "no case 'A100009'")
    one_line_refusal(cli("--db", db, "remove-case", "--round", "R", "A100001", "--reason", "  "), "needs a reason")
    one_line_refusal(cli("--db", db, "restore-case", "--round", "R", "A100001"), "is not removed")
    assert db_state(db) == before
    assert cli("--db", db, "remove-case", "--round", "R", "A100001", "--reason", "dup").code == 0
    before = db_state(db)
    one_line_refusal(cli("--db", db, "remove-case", "--round", "R", "A100001", "--reason", "dup"), "already removed")
    one_line_refusal(cli("--db", db, "answer", "--round", "R", "A100001", "2.2.1", "No"), "was removed", "restore-case")
    refused = cli("--db", db, "import", write(tmp_path / "again.csv", SHEET), "--round", "R")
    assert refused.code == 2 and "case A100001 was removed" in refused.err and "nothing was imported" in refused.err
    assert db_state(db) == before
    assert cli("--db", db, "finalise", "--round", "R").code == 0
    before = db_state(db)
    one_line_refusal(cli("--db", db, "restore-case", "--round", "R", "A100001"), "was finalised")
    one_line_refusal(cli("--db", db, "remove-case", "--round", "R", "A100002", "--reason", "x"), "was finalised")
    assert db_state(db) == before


# ------------------------------------------------------------------ removing and restoring a round
def test_a_removed_round_is_hidden_refused_by_name_and_restorable(cli, two_cases):
    db = two_cases
    removed = cli("--db", db, "--auditor", "qa.lead", "remove-round", "--round", "r", "--reason", "XLSX test import")
    assert removed.code == 0, removed
    assert "No rounds yet" in cli("--db", db, "rounds").out
    listed = cli("--db", db, "rounds", "--removed").out
    assert "R " in listed and "removed" in listed and "qa.lead" in listed
    one_line_refusal(cli("--db", db, "summary", "--round", "R"), "was removed", "restore-round")
    one_line_refusal(cli("--db", db, "import", "x.csv", "--round", "R", "--unit", "U"), "was removed")
    assert cli("--db", db, "restore-round", "--round", "R", "--reason", "needed").code == 0
    assert "Unit A" in cli("--db", db, "rounds").out
    history = cli("--db", db, "history", "--round", "R").out
    assert "round removed: XLSX test import" in history and "round restored: needed" in history
    assert cli("--db", db, "finalise", "--round", "R").code == 0
    one_line_refusal(cli("--db", db, "remove-round", "--round", "R", "--reason", "x"), "was finalised")


def test_a_removed_round_keeps_its_name(cli, two_cases, tmp_path):
    assert cli("--db", two_cases, "remove-round", "--round", "R", "--reason", "test").code == 0
    refused = cli("--db", two_cases, "import", write(tmp_path / "n.csv", SHEET), "--round", "R", "--unit", "U")
    one_line_refusal(refused, "was removed")
    with AuditStore.open(two_cases) as store, pytest.raises(Exception, match="already exists .removed"):
        store.create_round("r", "U", "hmip-probation-pdu-2021")


# ------------------------------------------------------------------ merging removals and units
def test_removals_and_unit_changes_travel_in_a_merge_both_ways(cli, two_cases, tmp_path):
    ours, theirs = two_cases, tmp_path / "theirs.db"
    assert cli("--db", ours, "backup", theirs).code == 0
    assert cli("--db", ours, "remove-case", "--round", "R", "A100001", "--reason", "duplicate").code == 0
    assert cli("--db", theirs, "set-unit", "--round", "R", "Unit B").code == 0
    assert cli("--db", theirs, "remove-case", "--round", "R", "A100002", "--reason", "out of scope").code == 0
    assert cli("--db", ours, "merge", theirs).code == 0
    assert cli("--db", theirs, "merge", ours).code == 0
    for db in (ours, theirs):
        with AuditStore.open(db) as store:
            round_row = store.round("R")
            assert round_row.unit == "Unit B"
            assert {c["case_ref"]: c["removed"] for c in store.cases(round_row)} == {"A100001": "Yes", "A100002": "Yes"}
            assert summarise(store, round_row).cases == 0
    # a removed round, and a restore made later in the other copy
    assert cli("--db", ours, "remove-round", "--round", "R", "--reason", "test").code == 0
    assert cli("--db", theirs, "merge", ours).code == 0
    assert "No rounds yet" in cli("--db", theirs, "rounds").out
    assert cli("--db", theirs, "restore-round", "--round", "R").code == 0
    assert cli("--db", theirs, "restore-case", "--round", "R", "A100001").code == 0
    assert cli("--db", ours, "merge", theirs).code == 0
    for db in (ours, theirs):
        with AuditStore.open(db) as store:
            round_row = store.round("R")  # not removed
            assert summarise(store, round_row).cases == 1
    assert "Nothing new" in cli("--db", ours, "merge", theirs).out


# ------------------------------------------------------------------ a round's unit
def test_a_new_round_needs_a_unit_and_an_existing_round_s_unit_changes_on_record(cli, tmp_path):
    db = tmp_path / "a.db"
    sheet = write(tmp_path / "s.csv", SHEET)
    one_line_refusal(cli("--db", db, "import", sheet, "--round", "XLSX test"), "is new", "--unit")
    assert "No rounds yet" in cli("--db", db, "rounds").out
    assert cli("--db", db, "import", sheet, "--round", "R", "--unit", "Unit A").code == 0
    again = cli("--db", db, "--auditor", "qa.lead", "import", sheet, "--round", "R", "--unit", "Unit B")
    assert again.code == 0 and "unit changed from 'Unit A' to 'Unit B'" in again.out, again
    changed = cli("--db", db, "--auditor", "qa.lead", "set-unit", "--round", "R", "Unit C")
    assert changed.code == 0 and "'Unit B' to 'Unit C'" in changed.out
    history = cli("--db", db, "history", "--round", "R").out
    assert "qa.lead" in history and "round unit changed: Unit A -> Unit B" in history and "Unit B -> Unit C" in history
    assert cli("--db", db, "finalise", "--round", "R").code == 0
    before = db_state(db)
    one_line_refusal(cli("--db", db, "import", sheet, "--round", "R", "--unit", "Unit D"), "was finalised")
    one_line_refusal(cli("--db", db, "set-unit", "--round", "R", "Unit D"), "was finalised")
    assert db_state(db) == before


# ------------------------------------------------------------------ names, ids and options in any case and place
def test_round_names_and_question_ids_match_without_regard_to_case(cli, two_cases, tmp_path):
    db = two_cases
    assert cli("--db", db, "answer", "--round", "r", "A100001", "2.2.1A", "No").code == 0
    with AuditStore.open(db) as store:
        round_row = store.round("r")
        assert store.answer(store.case(round_row, "A100001")["id"], "2.2.1a")["value"] == "No"
    assert "did you mean" in cli("--db", db, "answer", "--round", "R", "A100001", "2.2.1x", "No").err
    # a sheet's question headers too
    assert cli("--db", db, "import", write(tmp_path / "q.csv", "case_ref,2.2.3.DA\nA100002,Yes\n"), "--round", "R").code == 0
    duplicate = cli("--db", db, "import", write(tmp_path / "n.csv", SHEET), "--round", "r ", "--unit", "Unit A")
    assert duplicate.code == 0 and "Round 'R' updated: 0 case(s) added" in duplicate.out  # the same round, not a new one
    with AuditStore.open(db) as store, pytest.raises(Exception, match="a round called 'R' already exists"):
        store.create_round("r", "U", "hmip-probation-pdu-2021")


def test_db_and_auditor_are_taken_after_the_command_name(cli, two_cases):
    result = cli("answer", "--round", "R", "A100002", "2.2.1", "Yes", "--db", two_cases, "--auditor", "spo.late")
    assert result.code == 0, result
    assert "spo.late" in cli("history", "--round", "R", "--db", two_cases).out
    assert cli("frameworks", "list", "--db", two_cases).code == 0


# ------------------------------------------------------------------ forgiving import
def test_an_unknown_header_suggests_the_column_meant(cli, tmp_path):
    result = cli(
        "--db",
        tmp_path / "a.db",
        "import",
        write(tmp_path / "s.csv", "case_ref,RoSH,2.2.1\nA100001,High,Yes\n"),
        "--round",
        "R",
        "--unit",
        "U",
    )
    assert result.code == 2 and "column B (RoSH): unknown column (did you mean rosh_level?)" in result.err, result
    result = cli(
        "--db",
        tmp_path / "a.db",
        "import",
        write(tmp_path / "t.csv", "case_ref,2.2.1z\nA100001,Yes\n"),
        "--round",
        "R",
        "--unit",
        "U",
    )
    assert "(did you mean 2.2.1" in result.err, result


def test_case_ref_in_any_column_semicolons_and_recorded_values(cli, tmp_path):
    text = "team;Ethnicity;mappa_level;CRN;gender;2.2.1\nBlue;White British;Level 2;A100001;Man;Yes\nRed;Black Caribbean;L3;A100002;F;No\n"
    db = tmp_path / "a.db"
    result = cli("--db", db, "import", write(tmp_path / "s.csv", text), "--round", "R", "--unit", "U")
    assert result.code == 0, result
    with AuditStore.open(db) as store:
        cases = {c["case_ref"]: c for c in store.cases(store.round("R"))}
    assert (cases["A100001"]["ethnicity"], cases["A100001"]["mappa_level"], cases["A100001"]["gender"]) == ("White", "2", "Male")
    assert (cases["A100002"]["ethnicity"], cases["A100002"]["mappa_level"], cases["A100002"]["team"]) == ("Black", "3", "Red")


def test_every_value_in_the_vocabulary_is_one_caseaudit_accepts():
    from audit.core.attributes import ATTRIBUTE_COLUMNS, ATTRIBUTES_BY_COLUMN
    from audit.sheets.case_sheet import SAMPLE_COLUMNS
    from audit.sheets.vocabulary import vocabulary

    words = vocabulary()
    assert set(words["values"]) <= set(ATTRIBUTE_COLUMNS)
    for column, mapping in words["values"].items():
        for value in mapping.values():
            assert ATTRIBUTES_BY_COLUMN[column].parse(value) == value, (column, value)
    assert set(words["headers"].values()) <= {"case_ref", *ATTRIBUTE_COLUMNS, *SAMPLE_COLUMNS}


def test_importing_an_unchanged_sheet_says_nothing_changed_and_a_change_says_what(cli, two_cases, tmp_path):
    again = cli("--db", two_cases, "import", write(tmp_path / "s2.csv", SHEET), "--round", "R")
    assert again.code == 0 and "nothing changed (2 case(s) in the sheet" in again.out, again
    changed = SHEET.replace("Licence,High", "Licence,Medium").replace("No,No", "No,Yes") + "A100003,Licence,Low,,\n"
    result = cli("--db", two_cases, "import", write(tmp_path / "s3.csv", changed), "--round", "R")
    assert "1 case(s) added, 1 case(s) with changed attributes, 1 answer(s) changed" in result.out, result


# ------------------------------------------------------------------ Not applicable needs a reason: one rule
def test_not_applicable_without_a_reason_is_refused_on_the_command_line(cli, two_cases):
    before = db_state(two_cases)
    one_line_refusal(cli("--db", two_cases, "answer", "--round", "R", "A100001", "2.2.1", "N/A"), "needs a reason")
    assert db_state(two_cases) == before
    assert cli("--db", two_cases, "answer", "--round", "R", "A100001", "2.2.1", "N/A: no PSR").code == 0
    assert cli("--db", two_cases, "answer", "--round", "R", "A100001", "2.2.1a", "N/A", "--reason", "no PSR").code == 0


async def test_not_applicable_without_a_reason_is_not_saved_in_the_tui(two_cases):
    from audit.errors import InvalidValue

    app = CaseAuditApp(two_cases, round_name="R", case_ref="A100002")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("x", "enter")  # no reason typed
        await pilot.pause()
        assert "cannot be blank" in str(app.screen.query_one("#error").render())
        await pilot.press("escape")
        await pilot.pause()
    with AuditStore.open(two_cases) as store:
        round_row = store.round("R")
        case = store.case(round_row, "A100002")
        assert store.answers_for_case(case["id"])["2.2.1a"]["value"] == "No"
        with pytest.raises(InvalidValue, match="needs a reason"):  # the store call the TUI makes, the same rule
            store.record_answer(round_row, "A100002", "2.2.1a", "Not applicable", source="tui")


# ------------------------------------------------------------------ the TUI: remove and restore with a reason
async def test_the_cases_screen_removes_and_restores_a_case_asking_why(two_cases):
    from textual.widgets import Input

    app = CaseAuditApp(two_cases, round_name="R", auditor="spo.tui")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, CasesScreen)
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#text", Input).value = "duplicate"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        with AuditStore.open(two_cases) as store:
            assert store.case(store.round("R"), "A100001")["removed"] == "Yes"
            (row,) = store.removed_cases(store.round("R"))
            assert (row["removed_by"], row["reason"]) == ("spo.tui", "duplicate")
        assert "1 removed" in str(app.screen.query_one("#cases-count").render())
        await pilot.press("x", "enter")  # restoring: the reason is optional
        await app.workers.wait_for_complete()
        await pilot.pause()
    with AuditStore.open(two_cases) as store:
        assert store.case(store.round("R"), "A100001")["removed"] == "No"


async def test_the_rounds_screen_removes_lists_and_restores_a_round(two_cases):
    from textual.widgets import DataTable, Input

    app = CaseAuditApp(two_cases, auditor="qa.tui")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RoundsScreen)
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#text", Input).value = "test import"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#rounds", DataTable).row_count == 0
        await pilot.press("v")
        await pilot.pause()
        assert app.screen.query_one("#rounds", DataTable).row_count == 1
        await pilot.press("x", "enter")
        await pilot.pause()
    with AuditStore.open(two_cases) as store:
        assert not store.round("R").removed
        events = [(e["event"], e["reason"], e["done_by"]) for e in store.round_events(store.round("R"))]
    assert events == [("removed", "test import", "qa.tui"), ("restored", None, "qa.tui")]


def test_a_screen_opened_before_its_round_was_removed_cannot_write_to_it(tmp_path):
    """The TUI holds a Round from before another auditor removed it: its next answer is refused, not stored
    in a round that no longer shows."""
    from audit.errors import InvalidValue
    from audit.store import AuditStore

    db = tmp_path / "stale.db"
    with AuditStore.open(db) as store:
        held = store.create_round("NR", "Testshire PDU", "hmip-probation-pdu-2021")
        store.upsert_case(held, "X200009", {"sentence_type": "Licence"})
        with AuditStore.open(db) as other:
            other.remove_round(other.round("NR"), "made in error", by="qa.lead")
        with pytest.raises(InvalidValue, match="was removed on .* restore it"):
            store.record_answer(held, "X200009", "2.2.1b", "Yes", auditor="spo.a")
        assert store.db.execute("SELECT count(*) FROM answers").fetchone()[0] == 0


def test_the_vocabulary_leaves_out_words_that_could_mean_two_things():
    """'MAPPA 2' may be a category, not a level; 'Post release' may be post-sentence supervision: neither is
    mapped, so such a cell is refused (naming it) rather than silently read one way."""
    from audit.core.attributes import InvalidAttribute
    from audit.sheets.vocabulary import read_attribute

    for column, text in (("mappa_level", "MAPPA 2"), ("sentence_type", "Post release")):
        with pytest.raises(InvalidAttribute, match="is not one of"):
            read_attribute(column, text)
    assert read_attribute("mappa_level", "MAPPA level 2") == read_attribute("mappa_level", "2")
