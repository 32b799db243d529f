"""Finalising, history, backups, merging copies, integrity checks, de-identified exports, migrations."""

from __future__ import annotations

import csv
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from audit.store import SCHEMA_VERSION, AuditStore
from framework import Answer
from tests.test_sheets import db_state

FIXTURES = Path(__file__).parent / "fixtures"
NEWHAM = "Newham 2022"


def first_case(store: AuditStore, name: str = NEWHAM) -> str:
    return store.cases(store.round(name))[0]["case_ref"]


def answer_of(db: Path, case_ref: str, question: str, name: str = NEWHAM) -> str | None:
    with AuditStore.open(db) as store:
        case = store.case(store.round(name), case_ref)
        row = store.answer(case["id"], question)
    return row["value"] if row else None


# ------------------------------------------------------------------ finalising and history
def test_finalised_round_refuses_changes_until_reopened_with_a_reason(cli, demo_db):
    with AuditStore.open(demo_db) as store:
        ref = first_case(store)
    assert cli("--db", demo_db, "finalise", "--round", NEWHAM).code == 0
    before = db_state(demo_db)
    refused = cli("--db", demo_db, "answer", "--round", NEWHAM, ref, "2.3.1", "Yes")
    assert refused.code == 2 and "was finalised" in refused.err and "reopen" in refused.err
    assert cli("--db", demo_db, "rate", "--round", NEWHAM, "1.4", "Good").code == 2
    assert cli("--db", demo_db, "import", FIXTURES / "two-cases.csv", "--round", NEWHAM).code == 2
    assert db_state(demo_db) == before
    no_reason = cli("--db", demo_db, "reopen", "--round", NEWHAM, "--reason", "  ")
    assert no_reason.code == 2 and "needs a reason" in no_reason.err
    assert cli("--db", demo_db, "reopen", "--round", NEWHAM, "--reason", "Late evidence from the SPO").code == 0
    assert "saved" in cli("--db", demo_db, "answer", "--round", NEWHAM, ref, "2.3.1", "N/A: transferred").out
    history = cli("--db", demo_db, "history", "--round", NEWHAM).out
    assert re.search(r"round finalised\n.*round reopened: Late evidence from the SPO", history)
    assert f"{ref} 2.3.1" in history.splitlines()[-1] and "-> N/A: transferred" in history.splitlines()[-1]


def test_history_lists_who_changed_what_old_to_new(cli, db_path):
    cli("--db", db_path, "--auditor", "spo.one", "import", FIXTURES / "two-cases.csv", "--round", "R", "--unit", "PDU")
    cli("--db", db_path, "--auditor", "spo.two", "answer", "--round", "R", "A100001", "2.2.1", "No", "--note", "no review")
    cli("--db", db_path, "--auditor", "spo.two", "answer", "--round", "R", "A100002", "2.2.1a", "N/A: no PSR")
    result = cli("--db", db_path, "history", "--round", "R", "--case", "a100001")
    assert result.code == 0
    lines = result.out.splitlines()
    # the case's attributes, set by the import, are listed too (schema 4): the first answer follows them
    assert "spo.one" in lines[0] and "A100001 sentence_type (blank) -> " in lines[0] and "import:two-cases.csv" in lines[0]
    lines = [line for line in lines if " 2.2." in line]
    assert (
        "spo.one" in lines[0]
        and "A100001 2.2.1a " in lines[0]
        and "(blank) -> Yes" in lines[0]
        and "import:two-cases.csv" in lines[0]
    )
    assert "spo.two" in lines[-1] and "Yes -> No [note: no review]" in lines[-1]
    assert all("A100002" not in line for line in lines)
    unknown = cli("--db", db_path, "history", "--round", "R", "--case", "Z999999")
    assert unknown.code == 2 and "no case 'Z999999'" in unknown.err


# ------------------------------------------------------------------ backup
def test_backup_is_consistent_while_another_auditor_writes_and_owner_only(cli, demo_db, tmp_path):
    old_umask = os.umask(0o022)
    try:
        writer = sqlite3.connect(demo_db)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE answers SET note = 'uncommitted' WHERE question_id = '2.2.1'")
        result = cli("--db", demo_db, "backup", tmp_path / "copy.db")
        writer.rollback()
        writer.close()
    finally:
        os.umask(old_umask)
    assert result.code == 0, result
    copy = tmp_path / "copy.db"
    assert copy.stat().st_mode & 0o777 == 0o600
    assert db_state(copy) == db_state(demo_db)
    assert cli("--db", copy, "check").code == 0
    again = cli("--db", demo_db, "backup", copy)
    assert again.code == 2 and "already exists" in again.err


# ------------------------------------------------------------------ merge
@pytest.fixture
def two_copies(cli, demo_db, tmp_path):
    """Ours (the demo database) and theirs (a backup handed to a second auditor)."""
    theirs = tmp_path / "laptop-b.db"
    with AuditStore.open(demo_db) as store:
        ref = first_case(store)
    for question in ("2.4.1", "2.6.1"):  # blank in the copy both auditors start from
        assert cli("--db", demo_db, "answer", "--round", NEWHAM, ref, question, "").code == 0
    assert cli("--db", demo_db, "backup", theirs).code == 0
    return demo_db, theirs


def test_merge_brings_in_disjoint_work(cli, two_copies):
    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    cli("--db", theirs, "import", FIXTURES / "two-cases.csv", "--round", "Spring 2026", "--unit", "Test PDU")
    cli("--db", theirs, "answer", "--round", NEWHAM, ref, "2.1.1", "Yes", "--note", "PSR seen")
    cli("--db", ours, "answer", "--round", NEWHAM, ref, "2.6.1", "No")
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 0, result
    assert "1 round(s) added, 2 case(s) added" in result.out and "conflict" not in result.out
    assert answer_of(ours, ref, "2.1.1") == "Yes" and answer_of(ours, ref, "2.6.1") == "No"
    with AuditStore.open(ours) as store:
        assert store.answer(store.case(store.round(NEWHAM), ref)["id"], "2.1.1")["note"] == "PSR seen"
        assert len(store.cases(store.round("Spring 2026"))) == 2
        assert store.check() == []
    # the other way round, the two copies then hold the same answers
    assert cli("--db", theirs, "merge", ours).code == 0
    assert answers_table(ours) == answers_table(theirs)


def answers_table(db: Path) -> list:
    conn = sqlite3.connect(db)
    try:
        return sorted(
            conn.execute(
                "SELECT r.id, c.case_ref, a.question_id, a.value, a.reason, a.note FROM answers a"
                " JOIN cases c ON c.id = a.case_id JOIN rounds r ON r.id = c.round_id"
            )
        )
    finally:
        conn.close()


def test_identical_copies_merge_silently_and_merging_twice_changes_nothing(cli, two_copies):
    ours, theirs = two_copies
    before = db_state(ours)
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 0 and "Nothing new" in result.out
    assert db_state(ours) == before
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    cli("--db", theirs, "answer", "--round", NEWHAM, ref, "2.4.1", "No")
    cli("--db", ours, "answer", "--round", NEWHAM, ref, "2.4.1", "Yes")
    assert cli("--db", ours, "merge", theirs).code == 0
    once = db_state(ours)
    again = cli("--db", ours, "merge", theirs)
    assert again.code == 0 and "Nothing new" in again.out
    assert db_state(ours) == once


def test_conflicting_answers_are_kept_listed_and_resolved_from_the_command_line(cli, two_copies):
    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    cli("--db", theirs, "--auditor", "spo.b", "answer", "--round", NEWHAM, ref, "2.4.1", "No")
    cli("--db", ours, "--auditor", "spo.a", "answer", "--round", NEWHAM, ref, "2.4.1", "Yes")
    merged = cli("--db", ours, "merge", theirs)
    assert merged.code == 0 and "1 conflict(s)" in merged.out
    assert answer_of(ours, ref, "2.4.1") == "Yes"  # never overwritten silently
    listing = cli("--db", ours, "conflicts", "--round", NEWHAM)
    number = re.search(
        r"#(\d+)\s+" + ref + r" 2\.4\.1\s+shown: Yes \(spo\.a\)\s+other: No \(spo\.b, found merging laptop-b\.db\)", listing.out
    )
    assert number, listing.out
    settled = cli("--db", ours, "--auditor", "qa.lead", "resolve", "--round", NEWHAM, number.group(1), "other")
    assert settled.code == 0
    assert answer_of(ours, ref, "2.4.1") == "No"
    assert "No open conflicts" in cli("--db", ours, "conflicts", "--round", NEWHAM).out
    assert "took the other value (qa.lead)" in cli("--db", ours, "conflicts", "--round", NEWHAM, "--all").out
    history = cli("--db", ours, "history", "--round", NEWHAM, "--case", ref).out.splitlines()
    assert (
        "qa.lead" in history[-1]
        and "Yes -> No" in history[-1]
        and f"conflict {number.group(1)} resolved: took the other value" in history[-1]
    )
    twice = cli("--db", ours, "resolve", "--round", NEWHAM, number.group(1), "ours")
    assert twice.code == 2 and "already resolved" in twice.err
    assert "Nothing new" in cli("--db", ours, "merge", theirs).out


def test_a_conflict_never_credits_the_merged_copys_value_to_this_copy(cli, two_copies):
    """The value shown after a merge may be the other copy's (the later one): it is listed as 'shown', with its
    auditor, never as 'ours' (which read as this database's own answer)."""
    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    cli("--db", ours, "--auditor", "spo.a", "answer", "--round", NEWHAM, ref, "2.4.1", "Yes")
    cli("--db", theirs, "--auditor", "spo.b", "answer", "--round", NEWHAM, ref, "2.4.1", "No")  # the later answer
    assert cli("--db", ours, "merge", theirs).code == 0
    assert answer_of(ours, ref, "2.4.1") == "No"  # the other copy's later answer is the one every copy shows
    listing = cli("--db", ours, "conflicts", "--round", NEWHAM).out
    assert re.search(ref + r" 2\.4\.1\s+shown: No \(spo\.b\)\s+other: Yes \(spo\.a, found merging laptop-b\.db\)", listing), (
        listing
    )
    assert "ours" not in listing.replace("caseaudit resolve", "")
    settled = cli(
        "--db", ours, "--auditor", "qa.lead", "resolve", "--round", NEWHAM, re.search(r"#(\d+)", listing).group(1), "shown"
    )
    assert settled.code == 0 and "kept the shown value" in settled.out
    assert answer_of(ours, ref, "2.4.1") == "No"


def test_keeping_ours_is_recorded_and_a_later_edit_on_their_side_is_taken(cli, two_copies):
    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    cli("--db", theirs, "answer", "--round", NEWHAM, ref, "2.4.1", "No")
    cli("--db", ours, "answer", "--round", NEWHAM, ref, "2.4.1", "Yes")
    cli("--db", ours, "merge", theirs)
    with AuditStore.open(ours) as store:
        (conflict,) = store.conflicts(store.round(NEWHAM))
        store.resolve_conflict(store.round(NEWHAM), conflict["id"], "ours", by="qa.lead")
        last = store.answer_history(store.round(NEWHAM), ref)[-1]
    assert (last["old_value"], last["new_value"], last["auditor"]) == ("Yes", "Yes", "qa.lead")
    assert "kept the shown value" in last["source"]
    # they merge our copy (with the resolution), then change the answer again: a fast-forward, no conflict
    cli("--db", theirs, "merge", ours)
    assert answer_of(theirs, ref, "2.4.1") == "Yes"
    cli("--db", theirs, "answer", "--round", NEWHAM, ref, "2.4.1", "N/A: case transferred out")
    result = cli("--db", ours, "merge", theirs)
    assert "conflict" not in result.out and "1 answer(s) taken" in result.out
    assert answer_of(ours, ref, "2.4.1") == "Not applicable"


def test_rounds_are_matched_by_identifier_not_name(cli, two_copies, tmp_path):
    ours, theirs = two_copies
    with AuditStore.open(theirs) as store:
        store.rename_round(store.round(NEWHAM), "Newham (laptop B)")
        ref = first_case(store, "Newham (laptop B)")
        store.record_answer(store.round("Newham (laptop B)"), ref, "2.5.1", Answer.NOT_APPLICABLE, reason="in custody")
    result = cli("--db", ours, "merge", theirs)
    assert "0 round(s) added" in result.out and "1 answer(s) taken" in result.out
    # the round was matched by its identifier; its rename (a recorded round event) travels with it
    assert "renamed 'Newham (laptop B)'" in result.out
    assert answer_of(ours, ref, "2.5.1", "Newham (laptop B)") == "Not applicable"
    # a different round that happens to share a name is added under a new name, not mixed in
    stranger = tmp_path / "stranger.db"
    cli("--db", stranger, "import", FIXTURES / "two-cases.csv", "--round", "Newham (laptop B)", "--unit", "Elsewhere")
    result = cli("--db", ours, "merge", stranger)
    assert "called 'Newham (laptop B) (merged from stranger.db)'" in result.out
    assert "2 out of" not in result.out
    with AuditStore.open(ours) as store:
        assert len(store.cases(store.round("Newham (laptop B)"))) == 33
        assert len(store.cases(store.round("Newham (laptop B) (merged from stranger.db)"))) == 2


def test_merge_into_a_finalised_round_changes_nothing(cli, two_copies):
    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    cli("--db", theirs, "answer", "--round", NEWHAM, ref, "2.1.1", "Yes")
    cli("--db", ours, "finalise", "--round", NEWHAM)
    before = db_state(ours)
    result = cli("--db", ours, "merge", theirs)
    assert result.code == 2 and "finalised here" in result.err and "nothing was merged" in result.err
    assert db_state(ours) == before


def test_merge_refuses_bad_files_and_leaves_them_unchanged(cli, demo_db, tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are not the droids" * 100)
    before = db_state(demo_db)
    result = cli("--db", demo_db, "merge", junk)
    assert result.code == 2 and "not a caseaudit database" in result.err
    assert junk.read_bytes() == b"these are not the droids" * 100
    assert cli("--db", demo_db, "merge", tmp_path / "absent.db").code == 2
    assert cli("--db", demo_db, "merge", demo_db).code == 2
    assert db_state(demo_db) == before


def test_merge_reads_a_copy_written_by_an_older_schema(cli, db_path, tmp_path):
    older = tmp_path / "older.db"
    shutil.copy(FIXTURES / "schema-1.db", older)
    original = older.read_bytes()
    result = cli("--db", db_path, "merge", older)
    assert result.code == 0 and "1 round(s) added, 2 case(s) added" in result.out, result
    assert older.read_bytes() == original
    assert answer_of(db_path, "A123456", "2.1.1", "Schema one round") == "No"
    assert "Nothing new" in cli("--db", db_path, "merge", older).out


async def test_conflicts_are_resolved_in_the_tui(cli, two_copies):
    from textual.widgets import DataTable

    from audit.tui.app import CaseAuditApp

    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    for question, mine, other in (("2.4.1", "Yes", "No"), ("2.6.1", "No", "Yes")):
        cli("--db", theirs, "answer", "--round", NEWHAM, ref, question, other)
        cli("--db", ours, "answer", "--round", NEWHAM, ref, question, mine)
    cli("--db", ours, "merge", theirs)
    app = CaseAuditApp(ours, round_name=NEWHAM)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        table = app.screen.query_one("#conflicts", DataTable)
        assert table.row_count == 2
        await pilot.press("t")  # first row (2.4.1): take theirs
        await pilot.pause()
        assert app.screen.query_one("#conflicts", DataTable).row_count == 1
        await pilot.press("o")  # then 2.6.1: keep ours
        await pilot.pause()
        assert app.screen.query_one("#conflicts", DataTable).row_count == 0
    assert answer_of(ours, ref, "2.4.1") == "No"
    assert answer_of(ours, ref, "2.6.1") == "No"
    with AuditStore.open(ours) as store:
        kept = {k["subject"]: k["kept"] for k in store.conflicts(store.round(NEWHAM), open_only=False)}
    assert kept == {"2.4.1": "theirs", "2.6.1": "ours"}


# ------------------------------------------------------------------ check
def test_check_passes_on_a_good_database_and_names_each_problem(cli, demo_db):
    good = cli("--db", demo_db, "check")
    assert good.code == 0 and "integrity ok" in good.out
    conn = sqlite3.connect(demo_db)
    case_id = conn.execute("SELECT id FROM cases ORDER BY id LIMIT 1").fetchone()[0]
    conn.execute(
        "INSERT INTO answers (case_id, question_id, round_id, value, auditor, answered_at)"
        " VALUES (?, '2.9.9', (SELECT round_id FROM cases WHERE id = ?), 'Yes', 'x', 'now')",
        [case_id, case_id],
    )
    conn.execute("UPDATE answers SET round_id = 'elsewhere' WHERE case_id = ? AND question_id = '2.2.1'", [case_id])
    conn.execute("DROP TRIGGER answer_history_no_delete")
    conn.commit()
    conn.close()
    bad = cli("--db", demo_db, "check")
    assert bad.code == 1
    assert "question 2.9.9: not a question of hmip-probation-pdu-2021 version" in bad.out
    assert "answer_history append-only (delete) is missing" in bad.out
    assert "question 2.2.1: the answer's round is not its case's round" in bad.out


# ------------------------------------------------------------------ de-identified export
def test_deidentified_export_hashes_references_and_drops_notes_reasons_and_dates(cli, demo_db, tmp_path):
    old_umask = os.umask(0o022)
    try:
        first = cli("--db", demo_db, "export", "--round", NEWHAM, "--deidentify", tmp_path / "a.csv")
        second = cli("--db", demo_db, "export", "--round", NEWHAM, "--deidentify", tmp_path / "b.csv")
    finally:
        os.umask(old_umask)
    assert first.code == 0 and second.code == 0
    assert (tmp_path / "a.csv").stat().st_mode & 0o777 == 0o600
    text = (tmp_path / "a.csv").read_text(encoding="utf-8-sig")
    assert text == (tmp_path / "b.csv").read_text(encoding="utf-8-sig")  # stable hashes
    with AuditStore.open(demo_db) as store:
        refs = [c["case_ref"] for c in store.cases(store.round(NEWHAM))]
    assert not any(ref in text for ref in refs)
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 33 and all(re.fullmatch(r"H[0-9A-F]{12}", r["case_ref"]) for r in rows)
    assert not {"start_date", "age", "practitioner"} & set(rows[0])
    assert "N/A:" not in text and "N/A" in text  # reasons dropped, the answer kept
    # the figures are the same as the identified round's
    assert cli("--db", tmp_path / "x.db", "import", tmp_path / "a.csv", "--round", "D").code == 2  # not CRNs


# ------------------------------------------------------------------ migrations
def test_a_fixture_exists_for_every_earlier_schema():
    assert sorted(p.name for p in FIXTURES.glob("schema-*.db")) == [f"schema-{v}.db" for v in range(1, SCHEMA_VERSION)]


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_every_earlier_schema_migrates_after_a_backup(cli, tmp_path, version):
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / f"schema-{version}.db", path)
    original = db_state(path)
    with AuditStore.open(path) as store:
        assert store.db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        round_row = store.round("Schema one round")
        case = store.case(round_row, "A123456")
        assert store.answer(case["id"], "2.1.1")["value"] == "No"
        assert store.answer(case["id"], "2.1.1")["note"] == "changed mind"
        assert store.answer(case["id"], "2.2.1a")["reason"] == "no PSR"
        assert len(store.answer_history(round_row)) == 5
        assert store.domain_ratings(round_row)["1.1"]["override_reason"] == "fixture override"
        assert store.check() == []
        assert not list(store.db.query("SELECT 1 FROM answer_history WHERE event_id IS NULL"))
        store.record_answer(round_row, "B234567", "2.2.1", Answer.YES)  # usable at once
    backup = tmp_path / f"old.db.schema{version}-backup"
    assert backup.stat().st_mode & 0o777 == 0o600
    assert db_state(backup) == original
    assert cli("--db", path, "summary", "--round", "Schema one round", "--format", "json").code == 0


def test_a_newer_schema_is_refused_unchanged(cli, tmp_path):
    path = tmp_path / "newer.db"
    shutil.copy(FIXTURES / "schema-1.db", path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    original = path.read_bytes()
    for command in (["rounds"], ["check"], ["backup", str(tmp_path / "b.db")]):
        result = cli("--db", path, *command)
        assert result.code == 2 and "written by a newer caseaudit" in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert path.read_bytes() == original


def test_merge_copes_with_answers_written_outside_caseaudit(cli, two_copies):
    """Rows without an event id (another tool wrote them) still merge, and merging again changes nothing."""
    ours, theirs = two_copies
    with AuditStore.open(ours) as store:
        ref = first_case(store)
    conn = sqlite3.connect(theirs)
    conn.execute(
        "UPDATE answers SET value = 'No', event_id = NULL WHERE question_id = '2.4.1'"
        " AND case_id = (SELECT id FROM cases WHERE case_ref = ?)",
        [ref],
    )
    conn.commit()
    conn.close()
    cli("--db", ours, "answer", "--round", NEWHAM, ref, "2.4.1", "Yes")
    first = cli("--db", ours, "merge", theirs)
    assert first.code == 0 and "1 conflict(s)" in first.out, first
    assert "Nothing new" in cli("--db", ours, "merge", theirs).out
