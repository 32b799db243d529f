"""Storage on a real SQLite file: commits, history, permissions, refusing bad files unchanged."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import attrs
import pytest

from audit.core.answers import parse_answer_text, parse_rating
from audit.errors import CapExceeded, DatabaseProblem, InvalidValue, UnknownCase, UnknownQuestion, UnknownRound
from audit.store import SCHEMA_VERSION, AuditStore
from framework import Answer, Rating


@pytest.fixture
def round_row(store):
    row = store.create_round("Spring 2026", "Test PDU", "hmip-probation-pdu-2021")
    store.upsert_case(row, "A123456", {"sentence_type": "Licence", "age": "22"})
    return row


def test_answer_is_committed_and_visible_to_another_connection(store, round_row, db_path):
    assert store.record_answer(round_row, "a123456", "2.2.1", Answer.YES, note="good engagement")
    with AuditStore.open(db_path) as other:
        answers = other.answers_for_case(other.case(other.round("Spring 2026"), "A123456")["id"])
    assert answers["2.2.1"]["value"] == "Yes"
    assert answers["2.2.1"]["note"] == "good engagement"


def test_history_records_old_and_new(store, round_row):
    store.record_answer(round_row, "A123456", "2.2.1a", Answer.YES, auditor="spo1")
    store.record_answer(round_row, "A123456", "2.2.1a", Answer.NOT_APPLICABLE, reason="No assessment yet", auditor="spo2")
    store.record_answer(round_row, "A123456", "2.2.1a", None, auditor="spo2")
    rows = list(store.db.query("SELECT old_value, new_value, new_reason, auditor FROM answer_history ORDER BY id"))
    assert rows == [
        {"old_value": None, "new_value": "Yes", "new_reason": None, "auditor": "spo1"},
        {"old_value": "Yes", "new_value": "Not applicable", "new_reason": "No assessment yet", "auditor": "spo2"},
        {"old_value": "Not applicable", "new_value": None, "new_reason": None, "auditor": "spo2"},
    ]
    assert store.answers_for_case(store.case(round_row, "A123456")["id"]) == {}


def test_same_answer_twice_adds_no_history(store, round_row):
    assert store.record_answer(round_row, "A123456", "2.3.1", "Yes")
    assert not store.record_answer(round_row, "A123456", "2.3.1", "Yes")
    assert store.db["answer_history"].count == 1


def test_history_is_append_only(store, round_row):
    store.record_answer(round_row, "A123456", "2.3.1", "Yes")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE answer_history SET new_value = 'No'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM answer_history")


def test_unknown_question_case_round(store, round_row):
    with pytest.raises(UnknownQuestion, match="'2.2.9' is not a question"):
        store.record_answer(round_row, "A123456", "2.2.9", "Yes")
    with pytest.raises(UnknownCase, match="no case 'B999999'"):
        store.record_answer(round_row, "B999999", "2.2.1", "Yes")
    with pytest.raises(UnknownRound, match="rounds: 'Spring 2026'"):
        store.round("Autumn")
    assert store.db["answer_history"].count == 0


def test_a_round_is_held_by_its_id_through_a_rename_in_another_process(store, round_row, db_path):
    with AuditStore.open(db_path) as other:
        renamed = other.rename_round(other.round("Spring 2026"), "Spring 2026 (renamed)", by="lead")
    assert renamed.id == round_row.id and renamed.name == "Spring 2026 (renamed)"
    assert round_row.name == "Spring 2026"  # a Round is the row as read: frozen
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        round_row.name = "changed"  # type: ignore[misc]  # the point: assigning to a frozen Round fails
    assert store.record_answer(round_row, "A123456", "2.2.1", Answer.YES)  # by id: the old name does not matter
    finalised = store.finalise_round(round_row, by="lead")
    assert (finalised.id, finalised.name, finalised.finalised, finalised.finalised_by) == (
        round_row.id,
        "Spring 2026 (renamed)",
        True,
        "lead",
    )
    assert store.round("Spring 2026 (renamed)") == finalised
    with pytest.raises(UnknownRound):
        store.round("Spring 2026")
    reopened = store.reopen_round(round_row.id, "late evidence", by="lead")
    assert not reopened.finalised and store.round_by_id(round_row.id) == reopened


def test_young_adult_is_derived_from_age(store, round_row):
    assert store.case(round_row, "A123456")["young_adult"] == "Yes"


def test_answer_text_parsing():
    assert parse_answer_text("y") == (Answer.YES, None)
    assert parse_answer_text(" NO ") == (Answer.NO, None)
    assert parse_answer_text("n/a: no victim") == (Answer.NOT_APPLICABLE, "no victim")
    assert parse_answer_text("Not required") == (Answer.NOT_APPLICABLE, None)
    assert parse_answer_text("") == (None, None)
    with pytest.raises(InvalidValue, match="'maybe' is not an answer"):
        parse_answer_text("maybe")


def test_rating_parsing_suggests():
    assert parse_rating("requires improvement") is Rating.REQUIRES_IMPROVEMENT
    with pytest.raises(InvalidValue, match="Did you mean 'Requires improvement'"):
        parse_rating("Requires improvment")


def test_cap_needs_a_reason(store, round_row):
    inadequate = {"2.1": Rating.NOT_APPLICABLE, **{s: Rating.INADEQUATE for s in ("2.2", "2.3", "2.4", "2.5")}}
    with pytest.raises(CapExceeded, match="leadership-all-domain-two-inadequate"):
        store.rate_standard(round_row, "1.1", Rating.GOOD, case_ratings=inadequate)
    assert store.domain_ratings(round_row) == {}
    row = store.rate_standard(round_row, "1.1", Rating.GOOD, case_ratings=inadequate, override_reason="Strong leadership")
    assert row["override_reason"] == "Strong leadership"
    assert (
        store.rate_standard(round_row, "1.1", Rating.INADEQUATE, case_ratings=inadequate, override_reason="x")["override_reason"]
        is None
    )


def test_files_are_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "new.db"
        with AuditStore.open(path) as s:
            s.create_round("R", "U", "hmip-probation-pdu-2021")
        for suffix in ("", "-wal"):
            candidate = tmp_path / f"new.db{suffix}"
            if candidate.exists():
                assert oct(candidate.stat().st_mode & 0o777) == oct(0o600), candidate
    finally:
        os.umask(old)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_not_sqlite_file_is_refused_unchanged(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my private notes\n")
    before = _digest(path)
    with pytest.raises(DatabaseProblem, match="not a caseaudit database"):
        AuditStore.open(path)
    assert _digest(path) == before


def test_foreign_sqlite_database_is_refused_unchanged(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(DatabaseProblem, match="holds other tables"):
        AuditStore.open(path)
    assert _digest(path) == before


def test_newer_schema_is_refused_unchanged(db_path):
    with AuditStore.open(db_path) as s:
        s.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _digest(db_path)
    with pytest.raises(DatabaseProblem, match="newer caseaudit"):
        AuditStore.open(db_path)
    assert _digest(db_path) == before


def test_corrupt_file_is_refused_unchanged(db_path):
    with AuditStore.open(db_path) as s:
        s.create_round("R", "U", "hmip-probation-pdu-2021")
        s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        s.db.execute("PRAGMA journal_mode = DELETE")
    data = bytearray(db_path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # destroy the schema page, keep the header
    db_path.write_bytes(bytes(data))
    before = _digest(db_path)
    with pytest.raises(DatabaseProblem, match="corrupt|not a caseaudit"):
        AuditStore.open(db_path)
    assert _digest(db_path) == before


def test_aggregation_happens_in_sql(store, round_row):
    store.upsert_case(round_row, "A123457", {})
    store.record_answer(round_row, "A123456", "2.2.1", "Yes")
    store.record_answer(round_row, "A123457", "2.2.1", "No")
    assert store.answer_counts(round_row)["2.2.1"] == {"question_id": "2.2.1", "yes": 1, "no": 1, "not_applicable": 0}
    assert store.case_totals(round_row) == (2, 2)


def test_writes_survive_other_connections_opening_and_closing(db_path):
    """Regression: opening the file outside SQLite dropped this process's POSIX locks,
    so another process's checkpoint deleted a WAL still being written."""
    import subprocess
    import sys

    writer = AuditStore.open(db_path)
    round_row = writer.create_round("R", "U", "hmip-probation-pdu-2021")
    writer.upsert_case(round_row, "A123456", {})
    AuditStore.open(db_path).close()  # a worker thread's store, opened and closed in this process
    code = f"from audit.store import AuditStore; AuditStore.open({str(db_path)!r}).close()"
    subprocess.run([sys.executable, "-c", code], check=True)  # another auditor's process
    writer.record_answer(round_row, "A123456", "2.2.1", "Yes")
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; print(sqlite3.connect({str(db_path)!r}).execute('select count(*) from answers').fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    writer.close()
    assert check.stdout.strip() == "1"
