"""The database in Datasette: the views made for reading it, and `caseaudit browse` (read-only, its user only)."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest

from audit.core.judgement_checks import judgement_checks_of_case
from audit.store import AuditStore
from audit.store.judgement_checks import judgement_check_counts
from audit.store.views import VIEWS

FIXTURES = Path(__file__).parent / "fixtures"
NEWHAM = "Newham 2022"


def rows(db, sql, params=()):
    return list(db.query(sql, list(params)))


# ------------------------------------------------------------------ the views
def test_the_views_follow_the_answers_with_the_frameworks_question_texts(demo_db, framework):
    with AuditStore.open(demo_db) as store:
        round_row = store.round(NEWHAM)
        store.record_note(round_row, "N100101", "2.2.1a", "OASys not yet countersigned", auditor="spo.b")
        store.record_answer(round_row, "N100108", "2.3.1", None, auditor="spo.b")  # cleared: no longer on the sheet
        sheet = rows(store.db, "SELECT * FROM answer_sheet WHERE round = ?", [NEWHAM])
        assert list(sheet[0]) == [
            "round", "case_ref", "question_id", "question_text", "kind", "value", "reason", "note", "auditor", "answered_at",
            "counted",
        ]  # fmt: skip
        stored = rows(
            store.db,
            "SELECT c.case_ref, a.question_id, a.value FROM answers a JOIN cases c ON c.id = a.case_id"
            " WHERE a.round_id = ? AND (a.value IS NOT NULL OR a.note IS NOT NULL)",
            [round_row.id],
        )
        assert {(r["case_ref"], r["question_id"], r["value"]) for r in sheet} == {tuple(r.values()) for r in stored}
        assert not [r for r in sheet if (r["case_ref"], r["question_id"]) == ("N100108", "2.3.1")]
        for r in sheet:
            question = framework.question(r["question_id"])
            assert (r["question_text"], r["kind"]) == (question.text, str(question.kind))

        notes = rows(store.db, "SELECT * FROM notes")
        assert [(n["case_ref"], n["question_id"], n["note"], n["auditor"]) for n in notes] == [
            ("N100101", "2.2.1a", "OASys not yet countersigned", "spo.b")
        ]
        assert notes[0]["question_text"] == framework.question("2.2.1a").text

        progress = {r["case_ref"]: r for r in rows(store.db, "SELECT * FROM case_progress WHERE round = ?", [NEWHAM])}
        listed = {c["case_ref"]: c for c in store.cases(round_row)}
        assert set(progress) == set(listed)
        for ref, case in listed.items():
            assert (progress[ref]["answered"], progress[ref]["questions"]) == (case["answered"], case["questions"])
        assert progress["N100108"]["status"] == "in progress" and progress["N100101"]["status"] == "complete"

        # judgement_checks: exactly what the case screen flags, case by case
        expected = set()
        for case in listed.values():
            values = {q: a["value"] for q, a in store.answers_for_case(case["id"]).items()}
            expected |= {(c.case_ref, c.question) for c in judgement_checks_of_case(framework, case["case_ref"], values)}
        checks = rows(store.db, "SELECT * FROM judgement_checks WHERE round = ?", [NEWHAM])
        assert {(c["case_ref"], c["key_question_id"]) for c in checks} == expected and expected
        counts = judgement_check_counts(store, round_row)
        assert sum(counts.values()) == len(expected)


def test_a_judgement_contradicting_every_prompt_appears_and_goes(store):
    round_row = store.create_round("Dip", "Test PDU", "hmip-probation-pdu-2021")
    store.upsert_case(round_row, "T100001", {})
    for prompt in ("2.2.1a", "2.2.1b", "2.2.1c"):
        store.record_answer(round_row, "T100001", prompt, "No")
    store.record_answer(round_row, "T100001", "2.2.1", "Yes")
    found = rows(store.db, "SELECT case_ref, key_question_id, judgement, relevant_prompts FROM judgement_checks")
    assert found == [{"case_ref": "T100001", "key_question_id": "2.2.1", "judgement": "Yes", "relevant_prompts": 3}]
    store.record_answer(round_row, "T100001", "2.2.1b", "Yes")  # one prompt agrees: nothing to check
    assert rows(store.db, "SELECT * FROM judgement_checks") == []


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("schema-*.db")))
def test_every_earlier_schema_migrates_to_working_views(fixture, tmp_path):
    path = tmp_path / fixture
    shutil.copy(FIXTURES / fixture, path)
    with AuditStore.open(path) as store:
        for view in VIEWS:
            store.db.execute(f"SELECT count(*) FROM {view}").fetchone()
        rounds = store.db.execute("SELECT count(*) FROM rounds").fetchone()[0]
        answered = store.db.execute("SELECT count(*) FROM answers WHERE value IS NOT NULL OR note IS NOT NULL").fetchone()[0]
        with_text = store.db.execute("SELECT count(*) FROM answer_sheet WHERE question_text IS NOT NULL").fetchone()[0]
        assert with_text == answered  # every round's framework was copied in by the migration
        if rounds:
            assert store.db.execute("SELECT count(*) FROM framework_questions").fetchone()[0] > 0


def test_the_views_are_made_again_after_a_migration_that_rebuilds_a_table(tmp_path):
    """A migration that replaces a table (as m004 did) leaves no view behind reading the old one."""
    from sqlite_utils.migrations import Migrations

    from audit.store import database, schema

    path = tmp_path / "a.db"
    AuditStore.open(path).close()
    later = Migrations("caseaudit")
    later._migrations = [*schema.migrations._migrations]

    @later()
    def m999_rebuild_answers(db):
        db.execute("CREATE TABLE answers_new AS SELECT * FROM answers")
        db.execute("DROP TABLE answers")
        db.execute("ALTER TABLE answers_new RENAME TO answers")

    saved = database.migrations, database.SCHEMA_VERSION
    database.migrations, database.SCHEMA_VERSION = later, schema.SCHEMA_VERSION + 1
    try:
        with AuditStore.open(path) as store:
            assert "m999_rebuild_answers" in {m.name for m in later.applied(store.db)}
            for view in VIEWS:
                store.db.execute(f"SELECT * FROM {view}").fetchall()
    finally:
        database.migrations, database.SCHEMA_VERSION = saved


def test_a_round_whose_framework_is_added_later_gets_its_question_texts(tmp_path, monkeypatch, db_path):
    from framework import DEFAULT_FRAMEWORK_ID, available_frameworks

    source = next(f for f in available_frameworks() if f.id == DEFAULT_FRAMEWORK_ID).source
    text = Path(source).read_text(encoding="utf-8").replace(f'id = "{DEFAULT_FRAMEWORK_ID}"', 'id = "zz-later"', 1)
    with AuditStore.open(db_path) as store:
        round_row = store.create_round("Later", "Test PDU", DEFAULT_FRAMEWORK_ID)
        store.db.execute("UPDATE rounds SET framework_id = 'zz-later' WHERE id = ?", [round_row.id])
        store.db.conn.commit()
    with AuditStore.open(db_path) as store:
        assert rows(store.db, "SELECT * FROM framework_questions WHERE framework_id = 'zz-later'") == []
    folder = Path(__import__("os").environ["CASEAUDIT_FRAMEWORKS_DIR"])
    added = folder / "zz-later-v1.toml"
    added.write_text(text, encoding="utf-8")
    # a new process (the next caseaudit command) looks again; this one remembered the framework was missing
    monkeypatch.setattr("audit.store.database._UNAVAILABLE_FRAMEWORKS", set())
    try:
        with AuditStore.open(db_path) as store:
            assert len(rows(store.db, "SELECT * FROM framework_questions WHERE framework_id = 'zz-later'")) == 77
    finally:
        added.unlink()


# ------------------------------------------------------------------ Datasette
async def test_datasette_shows_the_views_with_titles_and_cannot_write(demo_db):
    from audit.web.browse import make_datasette

    ds = make_datasette(demo_db, token="T0KEN")
    name = demo_db.stem
    sheet = await ds.client.get(f"/{name}/answer_sheet.json?_shape=array&_size=max&case_ref=N100101")
    assert sheet.status_code == 200
    assert len(sheet.json()) == 77 and {r["round"] for r in sheet.json()} == {NEWHAM}
    checks = await ds.client.get(f"/{name}/judgement_checks.json?_shape=array&round={NEWHAM}")
    assert len(checks.json()) == 3
    progress = await ds.client.get(f"/{name}/case_progress.json?_shape=array&round={NEWHAM}&status=complete")
    assert len(progress.json()) == 33
    page = await ds.client.get(f"/{name}/judgement_checks")
    assert "contradict every relevant prompt" in page.text
    assert 'href="/T0KEN/' in page.text  # Datasette's own links carry the token prefix
    index = await ds.client.get("/")
    assert f"caseaudit: {demo_db.name}" in index.text
    refused = await ds.client.get(f"/{name}.json?sql=delete+from+answers")
    assert refused.status_code == 400
    database = ds.get_database(name)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        await database.execute_write("DELETE FROM answers")  # Datasette's write connection is read-only too
    assert sqlite3.connect(demo_db).execute("SELECT count(*) FROM answers").fetchone()[0] > 0


async def test_browse_admits_only_its_user(demo_db):
    from audit.web.browse import guarded, make_datasette

    token, port = "s3cret-token", 8123
    app = guarded(make_datasette(demo_db, token=token).app(), token=token, port=port)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}") as client:
        ok = await client.get(f"/{token}/{demo_db.stem}/notes")
        assert ok.status_code == 200
        assert "set-cookie" not in ok.headers and ok.headers["referrer-policy"] == "no-referrer"
        assert ok.headers["cache-control"] == "no-store"
        assert (await client.get(f"/{token}")).headers["location"] == f"/{token}/"
        assert (await client.get(f"/{demo_db.stem}/notes")).status_code == 403  # no token
        assert (await client.get(f"/wrong/{demo_db.stem}/notes")).status_code == 403
        assert (await client.get(f"/{token}/", headers={"Host": "evil.example"})).status_code == 403  # DNS rebinding
        assert (await client.get(f"/{token}/", headers={"Origin": "http://evil.example"})).status_code == 403
        sql = await client.get(f"/{token}/{demo_db.stem}.json", params={"sql": "select count(*) as n from cases"})
        assert sql.json()["rows"] == [[75]]


def test_browse_without_datasette_is_one_line(demo_db, cli, monkeypatch):
    for module in ("datasette", "datasette.app", "datasette.database"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as when the extra is not installed
    result = cli("--db", demo_db, "browse", "--port", "0")
    assert result.code == 2 and result.out == ""
    assert result.err.strip() == "caseaudit: " + __import__("audit.web.browse").web.browse.MISSING_DATASETTE


def test_browse_refuses_a_missing_database(tmp_path, cli):
    result = cli("--db", tmp_path / "nothing.db", "browse", "--port", "0")
    assert result.code == 2 and "no such database" in result.err and not (tmp_path / "nothing.db").exists()


async def test_browse_never_shows_the_de_identification_salt_by_any_route(demo_db, cli, tmp_path):
    """The salt makes de-identified case references reversible (references are few enough to try them all):
    hidden from Datasette's lists is not enough; no page, JSON, CSV, row or SQL query may read it."""
    from audit.web.browse import make_datasette

    assert cli("--db", demo_db, "export", "--round", NEWHAM, "--deidentify", tmp_path / "de.csv").code == 0
    salt = sqlite3.connect(demo_db).execute("SELECT value FROM settings WHERE key = 'deidentify_salt'").fetchone()[0]
    ds = make_datasette(demo_db, token="T0KEN")
    name = demo_db.stem
    for route in (
        f"/{name}/settings.json",
        f"/{name}/settings.csv",
        f"/{name}/settings",
        f"/{name}/settings/deidentify_salt.json",
        f"/{name}.json?sql=select+*+from+settings",
        f"/{name}.json?sql=select+group_concat(value)+from+settings",
        f"/{name}.json?sql=select+*+from+_sqlite_migrations",
    ):
        response = await ds.client.get(route)
        assert salt not in response.text, route
    views = await ds.client.get(f"/{name}/answer_sheet.json?_shape=array&_size=5")
    assert views.status_code == 200 and len(views.json()) == 5  # the rest still reads


async def test_browse_answers_errors_with_a_page_and_prints_no_traceback(demo_db, capsys):
    from audit.web.browse import guarded, make_datasette

    token, port = "s3cret-token", 8123
    app = guarded(make_datasette(demo_db, token=token).app(), token=token, port=port)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}") as client:
        missing = await client.get(f"/{token}/nope")
        refused = await client.get(f"/{token}/{demo_db.stem}.json", params={"sql": "delete from answers"})
        unknown_write = await client.post(f"/{token}/{demo_db.stem}/rounds/-/insert", json={"row": {}})
    assert missing.status_code == 404 and refused.status_code == 400
    assert unknown_write.status_code < 500
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err and printed.err == ""


def test_the_views_say_whether_a_case_is_counted_and_follow_a_newer_build(store):
    """A removed case stays readable in the views, marked as not counted; views an earlier build made at the
    same schema version are made again on opening."""
    round_row = store.create_round("Dip", "Test PDU", "hmip-probation-pdu-2021")
    for ref in ("T100001", "T100002"):
        store.upsert_case(round_row, ref, {})
        for prompt in ("2.2.1a", "2.2.1b", "2.2.1c"):
            store.record_answer(round_row, ref, prompt, "No", note="seen")
        store.record_answer(round_row, ref, "2.2.1", "Yes")
    store.remove_case(round_row, "T100002", "transferred out", by="qa.lead")
    for view in ("answer_sheet", "notes", "judgement_checks"):
        counted = {r["case_ref"]: r["counted"] for r in rows(store.db, f"SELECT case_ref, counted FROM {view}")}
        assert counted == {"T100001": 1, "T100002": 0}, view
    path = store.path
    store.db.execute("DROP VIEW notes")
    store.db.execute("CREATE VIEW notes AS SELECT 1 AS old")
    store.close()
    with AuditStore.open(path) as again:
        assert "counted" in {c[1] for c in again.db.execute("PRAGMA table_info(notes)").fetchall()}
