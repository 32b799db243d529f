"""National scale (issue 14): what makes a 250,000-case round's figures quick must keep them exact.

- each case's answer codes (audit/store/answer_codes.py), kept by triggers, agree with its answers
  whichever way an answer is written: the command line, an import, a merge, settling a conflict, a
  migration from an older schema, a round made by another tool;
- the check before summary, report, export and rounds reads only what does not grow with the answers,
  yet still refuses a damaged file (exit 2, one line, no output file);
- benchmarks/scale_round.py's round written straight through the schema is the round an import of the
  same sheet records, and passes `caseaudit check`;
- the cases screen of a large round shows and filters its cases through a view, never a copy of them.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.store import AuditStore
from audit.store.answer_codes import CODE_OF_VALUE
from framework import Answer, load_framework

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
FRAMEWORK = load_framework("hmip-probation-pdu-2021")
QUESTIONS = list(FRAMEWORK.question_ids)


def scale_round_module():
    spec = importlib.util.spec_from_file_location("scale_round", ROOT / "benchmarks" / "scale_round.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_round"] = module
    spec.loader.exec_module(module)
    return module


def codes_from_answers(db: Path) -> dict[tuple[str, str], str]:
    """Each case's codes worked out the obvious way, an answer at a time: {(round name, case): codes}."""
    conn = sqlite3.connect(db)
    try:
        result = {}
        for round_name, framework_id, version, round_id in conn.execute(
            "SELECT name, framework_id, framework_version, id FROM rounds"
        ):
            questions = list(load_framework(framework_id, version).question_ids)
            for case_id, case_ref in conn.execute("SELECT id, case_ref FROM cases WHERE round_id = ?", [round_id]):
                codes = [" "] * len(questions)
                for question_id, value in conn.execute("SELECT question_id, value FROM answers WHERE case_id = ?", [case_id]):
                    if question_id in questions:
                        codes[questions.index(question_id)] = CODE_OF_VALUE.get(value, " ")
                result[(round_name, case_ref)] = "".join(codes)
        return result
    finally:
        conn.close()


def stored_codes(db: Path) -> dict[tuple[str, str], str]:
    conn = sqlite3.connect(db)
    try:
        result = {}
        for round_name, case_ref, codes, framework_id, version in conn.execute(
            "SELECT r.name, c.case_ref, c.answer_codes, r.framework_id, r.framework_version"
            " FROM cases c JOIN rounds r ON r.id = c.round_id"
        ):
            width = len(load_framework(framework_id, version).question_ids)
            result[(round_name, case_ref)] = (codes or "").ljust(width)
        return result
    finally:
        conn.close()


def test_answer_codes_follow_every_kind_of_write(cli, demo_db, tmp_path):
    """The demo's import, then answers given, changed and cleared on the command line, a merge with
    a conflict and its settling: every case's codes are what its answers say."""
    assert stored_codes(demo_db) == codes_from_answers(demo_db)
    with AuditStore.open(demo_db) as store:
        ref = store.db.execute("SELECT case_ref FROM cases ORDER BY case_ref LIMIT 1").fetchone()[0]
        round_name = store.db.execute(
            "SELECT r.name FROM rounds r JOIN cases c ON c.round_id = r.id WHERE c.case_ref = ?", [ref]
        ).fetchone()[0]
    other = tmp_path / "laptop.db"
    assert cli("--db", demo_db, "backup", other).code == 0
    assert cli("--db", demo_db, "answer", "--round", round_name, ref, "2.1.1", "No").code == 0
    assert cli("--db", demo_db, "answer", "--round", round_name, ref, "2.1.1a", "").code == 0  # cleared
    assert cli("--db", other, "--auditor", "spo.b", "answer", "--round", round_name, ref, "2.1.1", "Yes").code == 0
    assert cli("--db", other, "answer", "--round", round_name, ref, "2.2.1", "N/A", "--reason", "not a licence").code == 0
    assert stored_codes(other) == codes_from_answers(other)
    assert cli("--db", demo_db, "merge", other).code == 0
    assert stored_codes(demo_db) == codes_from_answers(demo_db)
    with AuditStore.open(demo_db) as store:
        conflicts = store.conflicts(store.round(round_name))
    assert conflicts  # 2.1.1: No here, Yes there, each on top of the same answer
    with AuditStore.open(demo_db) as store:
        shown = store.answer(store.case(store.round(round_name), ref)["id"], "2.1.1")["value"]
    keep = "ours" if conflicts[0]["our_value"] != shown else "theirs"  # settled on the value not shown
    assert cli("--db", demo_db, "resolve", "--round", round_name, str(conflicts[0]["id"]), keep).code == 0
    with AuditStore.open(demo_db) as store:
        assert store.answer(store.case(store.round(round_name), ref)["id"], "2.1.1")["value"] != shown
    assert stored_codes(demo_db) == codes_from_answers(demo_db)


@pytest.mark.parametrize("schema", [1, 3, 6])
def test_an_older_database_gets_its_answer_codes_when_migrated(schema, tmp_path, cli):
    db = tmp_path / "old.db"
    shutil.copy(FIXTURES / f"schema-{schema}.db", db)
    with AuditStore.open(db):
        pass
    codes = stored_codes(db)
    assert codes and codes == codes_from_answers(db)
    assert any(c.strip() for c in codes.values())  # the fixture's answers are in the codes
    assert cli("--db", db, "check").code == 0


def test_a_round_without_places_is_given_them_and_its_codes_when_opened(demo_db, cli):
    """A round another tool wrote (no places for its questions, no codes): the next open fills both,
    also when the command only reads; its figures are then those of its answers."""
    before = cli("--db", demo_db, "summary", "--round", "Newham 2022", "--format", "json").out
    conn = sqlite3.connect(demo_db)
    round_id = conn.execute("SELECT id FROM rounds WHERE name = 'Newham 2022'").fetchone()[0]
    conn.execute("DELETE FROM answer_code_positions WHERE round_id = ?", [round_id])
    conn.execute("UPDATE cases SET answer_codes = NULL WHERE round_id = ?", [round_id])
    case_id = conn.execute("SELECT id FROM cases WHERE round_id = ? LIMIT 1", [round_id]).fetchone()[0]
    # written meanwhile by the other tool: no place, so no code; the open works it out from the answers
    conn.execute("UPDATE answers SET value = 'No' WHERE case_id = ? AND question_id = '2.1.1'", [case_id])
    conn.commit()
    conn.close()
    after = json.loads(cli("--db", demo_db, "summary", "--round", "Newham 2022", "--format", "json").out)
    assert stored_codes(demo_db) == codes_from_answers(demo_db)
    assert after["cases"] == json.loads(before)["cases"]


def test_check_finds_codes_that_differ_from_the_answers(demo_db, cli):
    conn = sqlite3.connect(demo_db)
    conn.execute(
        "UPDATE cases SET answer_codes = 'N' || substr(answer_codes, 2) WHERE case_ref = (SELECT min(case_ref) FROM cases)"
    )
    conn.commit()
    conn.close()
    result = cli("--db", demo_db, "check")
    assert result.code == 1 and "answer codes (what the figures count) differ from its answers" in result.out


# ------------------------------------------------------------------ the check before the figures
def _damage_a_page_of(db: Path, table: str, *, root: bool) -> None:
    """Overwrite one page of ``table``'s tree: its root, or a leaf in the middle of it."""
    with AuditStore.open(db) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = store.db.execute("PRAGMA page_size").fetchone()[0]
        if root:
            page = store.db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
        else:
            try:
                leaves = [
                    r[0] for r in store.db.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", [table])
                ]
            except sqlite3.OperationalError:
                pytest.skip("this SQLite has no dbstat table to find a leaf page with")
            assert len(leaves) >= 3, leaves
            page = leaves[len(leaves) // 2]
    with open(db, "r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(b"\xa5" * size)


def _one_line(result, *words) -> None:
    assert result.code == 2 and "Traceback" not in result.err + result.out, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("table", "root"),
    [("cases", False), ("answers", True), ("answer_history", True), ("answers_round_question", True), ("rounds", True)],
)
def test_the_check_before_the_figures_refuses_a_damaged_file(demo_db, tmp_path, cli, table, root):
    """A damaged leaf in the middle of the cases (what the figures count), or the root of the answers,
    the history or an index: summary, report, export and rounds say so in one line; no file is written."""
    _damage_a_page_of(demo_db, table, root=root)
    for args in (
        ("summary", "--round", "Newham 2022"),
        ("report", "--round", "Newham 2022", "-o", tmp_path / "r.html"),
        ("report", "--round", "Newham 2022", "-o", tmp_path / "r.xlsx"),
        ("export", "--round", "Newham 2022", tmp_path / "e.csv"),
        ("rounds",),
    ):
        _one_line(cli("--db", demo_db, *args), "damaged", str(demo_db))
    assert not any(tmp_path.glob("r.*")) and not (tmp_path / "e.csv").exists()


# ------------------------------------------------------------------ the benchmark's round
def test_a_round_written_through_the_schema_is_the_round_its_sheet_imports(tmp_path, cli):
    scale_round = scale_round_module()
    direct, imported, sheet = tmp_path / "direct.db", tmp_path / "imported.db", tmp_path / "scale.csv"
    answers = scale_round.build_round_directly(direct, 60, name="Scale")
    assert answers == scale_round.write_case_sheet(sheet, 60) == 60 * 74
    assert (
        cli("--db", imported, "--auditor", scale_round.AUDITOR, "import", sheet, "--round", "Scale", "--unit", "Scale PDU").code
        == 0
    )
    assert cli("--db", direct, "check").code == 0
    for fmt in ("json", "csv"):
        assert (
            cli("--db", direct, "summary", "--round", "Scale", "--format", fmt).out
            == cli("--db", imported, "summary", "--round", "Scale", "--format", fmt).out
        )
    assert cli("--db", direct, "export", "--round", "Scale", tmp_path / "direct.csv").code == 0
    assert cli("--db", imported, "export", "--round", "Scale", tmp_path / "imported.csv").code == 0
    assert (tmp_path / "direct.csv").read_bytes() == (tmp_path / "imported.csv").read_bytes()

    def events(db: Path) -> list[tuple]:
        conn = sqlite3.connect(db)
        try:
            return sorted(
                conn.execute(
                    "SELECT c.case_ref, h.question_id, h.old_value, h.new_value, h.new_reason, h.based_on, h.generation,"
                    " a.event_id = h.event_id, h.auditor FROM answer_history h JOIN cases c ON c.id = h.case_id"
                    " JOIN answers a ON a.case_id = h.case_id AND a.question_id = h.question_id"
                )
            ) + sorted(
                conn.execute(
                    "SELECT c.case_ref, h.attribute, h.old_value, h.new_value, h.based_on, h.generation, h.changed_by"
                    " FROM attribute_history h JOIN cases c ON c.id = h.case_id"
                )
            )
        finally:
            conn.close()

    assert events(direct) == events(imported)
    assert stored_codes(direct) == stored_codes(imported) == codes_from_answers(direct)


# ------------------------------------------------------------------ the cases screen
async def test_the_cases_screen_filters_a_view_and_keeps_the_cursor_on_its_case(tmp_path, monkeypatch):
    from textual.widgets import Input

    from audit.tui.app import CaseAuditApp
    from audit.tui.screens.cases import CasesScreen, ShownCases
    from audit.tui.widgets.line_table import LineTable

    scale_round = scale_round_module()
    db = tmp_path / "scale.db"
    scale_round.build_round_directly(db, 300, name="Scale")
    with AuditStore.open(db) as store:
        store.record_answer(store.round("Scale"), "X000007", "2.1.1", Answer.YES, auditor="t")
        licence = {r[0] for r in store.db.execute("SELECT case_ref FROM cases WHERE sentence_type = 'Licence'")}
    app = CaseAuditApp(db, round_name="Scale")
    async with app.run_test(size=(100, 32)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CasesScreen)
        table = screen.query_one("#cases", LineTable)
        assert table.row_count == 300 and isinstance(table._rows, ShownCases)
        assert isinstance(table._rows.places, range)  # no filter: nothing copied
        table.move_cursor(table.get_row_index("X000007"))
        screen.query_one("#filter", Input).value = "licence"
        await pilot.pause()
        shown = [table._rows[i][0] for i in range(table.row_count)]
        assert set(shown) == licence and shown == sorted(shown)
        assert table.cursor_key == ("X000007" if "X000007" in licence else table.cursor_key)
        if "X000007" in licence:
            assert table.get_row_index("X000007") == shown.index("X000007")
        assert table._rows[0][1][4] == "74/77"
        assert "of 300 cases shown" in str(screen.query_one("#cases-count").render())


async def test_a_big_rounds_cases_screen_shows_its_first_cases_while_the_rest_are_read(tmp_path, monkeypatch):
    """The first screenful is listed at once, says that the rest are being read, and every case follows."""
    import threading

    from audit.tui.app import CaseAuditApp
    from audit.tui.screens import cases as cases_screen
    from audit.tui.widgets.line_table import LineTable

    db = tmp_path / "scale.db"
    scale_round_module().build_round_directly(db, 60, name="Scale")
    monkeypatch.setattr(cases_screen, "FIRST_SCREENFUL", 20)
    release, asked = threading.Event(), []
    real_case_list = AuditStore.case_list

    def case_list(store, round_row, *, first=None):
        asked.append(first)
        if first is None:
            release.wait(10)  # every case: held back until the first screenful has been looked at
        return real_case_list(store, round_row, first=first)

    monkeypatch.setattr(AuditStore, "case_list", case_list)
    app = CaseAuditApp(db, round_name="Scale")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        while not getattr(screen, "loaded", False):
            await pilot.pause(0.01)
            screen = app.screen
        table = screen.query_one("#cases", LineTable)
        assert table.row_count == 20
        assert "20 of the first 20 of 60 cases shown; reading the rest" in str(screen.query_one("#cases-count").render())
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert table.row_count == 60 and screen.listed_of is None
        assert "60 of 60 cases shown" in str(screen.query_one("#cases-count").render())
    assert asked == [20, None]


def test_a_bulk_writer_can_defer_the_codes_to_the_end_of_its_write(tmp_path):
    """deferred_codes: the triggers stand aside while many answers go in; the named cases' codes are
    worked out at the end of the same write; outside such a write the triggers keep them as before."""
    from audit.store import write_lock
    from audit.store.answer_codes import deferred_codes

    db = tmp_path / "bulk.db"
    with AuditStore.open(db) as store:
        round_row = store.create_round("Bulk", "Unit", FRAMEWORK.id)
        first = store.upsert_case(round_row, "X000001", {})
        second = store.upsert_case(round_row, "X000002", {})
        with write_lock(store.db), deferred_codes(store.db) as touched:
            store.db.conn.executemany(
                "INSERT INTO answers (case_id, question_id, round_id, value, auditor, answered_at, event_id)"
                " VALUES (?, ?, ?, ?, 'bulk', '2026-01-01', ?)",
                [(first, q, round_row.id, "No", f"e{n}") for n, q in enumerate(QUESTIONS[:5])]
                + [(second, QUESTIONS[1], round_row.id, "Yes", "e-second")],
            )
            assert store.db.execute("SELECT answer_codes FROM cases WHERE id = ?", [first]).fetchone()[0] is None  # deferred
            touched.update({first, second})
        assert not list(store.db.query("SELECT 1 FROM settings WHERE key = 'answer_codes_deferred'"))
        store.record_answer(round_row, "X000002", QUESTIONS[2], Answer.NOT_APPLICABLE, reason="none", auditor="t")
        assert store.answer_counts(round_row)[QUESTIONS[1]] == {
            "question_id": QUESTIONS[1],
            "yes": 1,
            "no": 1,
            "not_applicable": 0,
        }
    assert stored_codes(db) == codes_from_answers(db)
    assert stored_codes(db)[("Bulk", "X000002")].startswith(" YA")


@settings(max_examples=300, deadline=None)
@given(
    haystacks=st.lists(st.text(alphabet="abl ic", max_size=6), max_size=30),
    progress=st.lists(st.sampled_from(["complete", "in progress", "not started"]), min_size=30, max_size=30),
    keys=st.lists(
        st.tuples(st.sampled_from(["a", "b", "l", "i", " ", "backspace"]), st.sampled_from(["all", "complete", "in progress"]))
    ),
)
def test_the_cases_filter_narrowing_as_keys_are_typed_shows_what_a_fresh_search_shows(haystacks, progress, keys):
    """The cases screen searches only the last matches when the text grows (a key typed): every text
    and status, keys typed and taken back and the status changed on the way, shows exactly the cases a
    search of every case shows."""
    from audit.tui.screens.cases import CaseListing

    rows = [
        (f"C{n:03d}", "", "", "", "", 0, "main", n % 3 != 0, 0, progress[n], haystack) for n, haystack in enumerate(haystacks)
    ]
    listing = CaseListing(rows, 10)
    text = ""
    for key, status in keys:
        text = text[:-1] if key == "backspace" else text + key
        fresh = CaseListing(rows, 10).matching(text, status)
        assert list(listing.matching(text, status)) == list(fresh)
