"""Getting evidence out: notes travel with the case-level data, and judgements that contradict
every relevant prompt are listed for review (summary, check, reports)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.core.judgement_checks import find_judgement_checks
from audit.store import AuditStore
from framework import Answer
from tests.test_report import read_html

ROUND = "Newham 2022"
FORMULA_NOTE = '=HYPERLINK("http://evil.example","click")'
MARKUP_NOTE = "<script>alert(1)</script> **bold** | pipe\nsecond line"
PLAIN_NOTE = "Judged on the whole record, not the prompts"
CLEARED_NOTE = "left on a cleared answer"


@pytest.fixture
def noted_db(demo_db) -> Path:
    """The demo database with notes: on answers, on a cleared answer, and hostile ones."""
    with AuditStore.open(demo_db) as store:
        r = store.round(ROUND)
        store.record_note(r, "N100255", "2.5.2", PLAIN_NOTE, auditor="spo.a")
        store.record_note(r, "N100101", "2.2.1a", FORMULA_NOTE, auditor="spo.b")
        store.record_note(r, "N100283", "2.2.1a", MARKUP_NOTE, auditor="spo.b")
        store.record_answer(r, "N100311", "2.6.1e", None, note=CLEARED_NOTE, auditor="spo.a")
    return demo_db


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def history_count(db: Path) -> int:
    with AuditStore.open(db, readonly=True) as store:
        return store.db.execute("SELECT count(*) FROM answer_history").fetchone()[0]


# ------------------------------------------------------------------ notes in the case sheet
def test_csv_export_carries_every_note_beside_its_question_and_imports_back_unchanged(cli, noted_db, tmp_path):
    out = tmp_path / "cases.csv"
    assert cli("--db", noted_db, "export", "--round", ROUND, out).code == 0
    header, *rows = read_csv(out)
    for question in ("2.2.1a", "2.5.2", "2.6.1e"):  # the notes' column stands right after its question's
        assert header[header.index(question) + 1] == f"note:{question}"
    assert "note:2.2.1b" not in header  # no column for a question without notes
    cell = {(row[0], name): value for row in rows for name, value in zip(header, row, strict=True)}
    assert cell[("N100255", "note:2.5.2")] == PLAIN_NOTE
    assert cell[("N100101", "note:2.2.1a")] == "'" + FORMULA_NOTE  # never a formula in a spreadsheet
    assert cell[("N100283", "note:2.2.1a")] == MARKUP_NOTE
    assert cell[("N100311", "2.6.1e")] == "" and cell[("N100311", "note:2.6.1e")] == CLEARED_NOTE
    assert cell[("N100101", "note:2.5.2")] == ""

    # back into the same round: nothing changes, nothing is added to the history
    before = history_count(noted_db)
    again = cli("--db", noted_db, "import", out, "--round", ROUND)
    assert again.code == 0 and "nothing changed" in again.out, again
    assert history_count(noted_db) == before
    # into a new database: the same sheet comes out again, notes and all
    fresh = tmp_path / "fresh.db"
    assert cli("--db", fresh, "import", out, "--round", ROUND, "--unit", "Newham PDU").code == 0
    assert cli("--db", fresh, "export", "--round", ROUND, tmp_path / "again.csv").code == 0
    assert (tmp_path / "again.csv").read_bytes() == out.read_bytes()
    with AuditStore.open(fresh, readonly=True) as store:
        row = store.db.execute(
            "SELECT h.new_note, h.source FROM answer_history h JOIN cases c ON c.id = h.case_id"
            " WHERE c.case_ref = 'N100311' AND h.question_id = '2.6.1e'"
        ).fetchone()
        assert row == (CLEARED_NOTE, "import:cases.csv")  # a note on an unanswered question, recorded as imported


def test_xlsx_export_and_report_case_sheet_carry_notes_as_text(cli, noted_db, tmp_path):
    export = tmp_path / "cases.xlsx"
    assert cli("--db", noted_db, "export", "--round", ROUND, export).code == 0
    report = tmp_path / "report.xlsx"
    assert cli("--db", noted_db, "report", "--round", ROUND, "-o", report).code == 0
    for path in (export, report):
        sheet = openpyxl.load_workbook(path)["Cases"]
        header = [c.value for c in sheet[1]]
        column = header.index("note:2.2.1a")
        assert header[column - 1] == "2.2.1a"
        notes = {row[0].value: row[column] for row in sheet.iter_rows(min_row=2)}
        assert notes["N100101"].value == FORMULA_NOTE and notes["N100101"].data_type == "s"  # text, never a formula
        assert notes["N100283"].value == MARKUP_NOTE
    # the XLSX export imports back into a new database as the same sheet
    fresh = tmp_path / "fresh.db"
    assert cli("--db", fresh, "import", export, "--round", ROUND, "--unit", "Newham PDU").code == 0
    assert cli("--db", fresh, "export", "--round", ROUND, tmp_path / "fresh.csv").code == 0
    assert cli("--db", noted_db, "export", "--round", ROUND, tmp_path / "first.csv").code == 0
    assert (tmp_path / "fresh.csv").read_bytes() == (tmp_path / "first.csv").read_bytes()


def test_deidentified_exports_and_reports_without_cases_leave_notes_out(cli, noted_db, tmp_path):
    for out, args in (
        (tmp_path / "d.csv", ["export", "--round", ROUND, "--deidentify"]),
        (tmp_path / "d.xlsx", ["export", "--round", ROUND, "--deidentify"]),
        (tmp_path / "shared.xlsx", ["report", "--round", ROUND, "--no-cases", "-o"]),
        (tmp_path / "shared.html", ["report", "--round", ROUND, "--no-cases", "--notes", "-o"]),
        (tmp_path / "shared.md", ["report", "--round", ROUND, "--no-cases", "--notes", "-o"]),
    ):
        result = cli("--db", noted_db, *args, out)
        assert result.code == 0, result
        if out.suffix == ".xlsx":
            book = openpyxl.load_workbook(out)
            text = " ".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c)
        else:
            text = out.read_text(encoding="utf-8-sig")
        assert "note:" not in text and "Judged on the whole record" not in text and "cleared answer" not in text, out
        assert "N100255" not in text and "N100311" not in text, out  # and no case reference at all


def test_importing_notes_records_them_and_a_blank_note_erases_nothing(cli, noted_db, tmp_path):
    sheet = tmp_path / "notes.csv"
    sheet.write_text("case_ref,2.5.2,note:2.5.2,note:2.2.1a\nN100255,,,\nN100101,,Second look: agreed,\n", encoding="utf-8")
    result = cli("--db", noted_db, "--auditor", "qa.lead", "import", sheet, "--round", ROUND)
    assert result.code == 0, result
    with AuditStore.open(noted_db, readonly=True) as store:
        notes = {
            (r[0], r[1]): r[2:]
            for r in store.db.execute(
                "SELECT c.case_ref, a.question_id, a.note, a.value, a.auditor FROM answers a JOIN cases c ON c.id = a.case_id"
                " WHERE c.case_ref IN ('N100255', 'N100101') AND a.question_id IN ('2.5.2', '2.2.1a')"
            )
        }
    assert notes[("N100255", "2.5.2")][0] == PLAIN_NOTE  # a blank cell left the stored note alone
    assert notes[("N100101", "2.2.1a")][0] == FORMULA_NOTE
    assert notes[("N100101", "2.5.2")] == ("Second look: agreed", "No", "qa.lead")  # the answer kept, the note set
    bad = tmp_path / "bad.csv"
    bad.write_text("case_ref,note:9.9.9\nN100255,x\n", encoding="utf-8")
    refused = cli("--db", noted_db, "import", bad, "--round", ROUND)
    assert refused.code == 2 and "column B (note:9.9.9)" in refused.err and "notes column" in refused.err


formula_leading = st.builds(
    lambda prefix, rest: (prefix + rest).strip(),
    st.sampled_from(["=", "+", "-", "@", "'=", "''+", "\t=", "plain ", "a\nb"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=20),
).filter(bool)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(notes=st.lists(formula_leading, min_size=1, max_size=3), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_notes_survive_export_and_import_exactly(tmp_path_factory, notes, suffix):
    """Hypothesis: any note (formula-like, quoted, multi-line) exported and imported is the note stored."""
    from audit.errors import InvalidValue
    from audit.sheets.case_sheet import export_sheet, import_sheet

    folder = tmp_path_factory.mktemp("notetrip")
    with AuditStore.open(folder / "a.db") as store:
        r = store.create_round("R", "Unit", "hmip-probation-pdu-2021")
        for n, note in enumerate(notes):
            store.upsert_case(r, f"A{100000 + n}", {})
            store.record_answer(r, f"A{100000 + n}", "2.2.1", Answer.YES, note=note, auditor="t")
        stored = sorted(store.db.execute("SELECT note FROM answers").fetchall())
        try:
            export_sheet(store, store.round("R"), folder / f"out{suffix}")
        except InvalidValue as refused:  # a text an Excel cell would change: refused, never altered
            assert suffix == ".xlsx" and "Export as .csv" in str(refused)
            return
    with AuditStore.open(folder / "b.db") as fresh:
        import_sheet(fresh, folder / f"out{suffix}", "R", unit="Unit")
        assert sorted(fresh.db.execute("SELECT note FROM answers").fetchall()) == stored


def test_html_and_markdown_notes_appendix_on_request_escaped(cli, noted_db, tmp_path):
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    assert cli("--db", noted_db, "report", "--round", ROUND, "--notes", "-o", html).code == 0
    assert cli("--db", noted_db, "report", "--round", ROUND, "--notes", "-o", md).code == 0
    page = read_html(html)
    rows = {(e["case"], e["question"]) for e in page.elements if e["tag"] == "tr" and "question" in e}
    assert rows == {("N100255", "2.5.2"), ("N100101", "2.2.1a"), ("N100283", "2.2.1a"), ("N100311", "2.6.1e")}
    text = " ".join(page.text)
    assert PLAIN_NOTE in text and "spo.b" in text and "<script>alert(1)</script>" in text  # shown as text...
    assert "<script" not in html.read_text(encoding="utf-8")  # ...never as markup
    markdown = md.read_text(encoding="utf-8")
    assert "## Appendix: notes" in markdown and PLAIN_NOTE in markdown
    assert "<script>" not in markdown and "\nsecond line" not in markdown  # escaped, on one line
    plain = tmp_path / "plain.html"
    assert cli("--db", noted_db, "report", "--round", ROUND, "-o", plain).code == 0
    assert 'id="notes"' not in plain.read_text(encoding="utf-8") and PLAIN_NOTE not in plain.read_text(encoding="utf-8")


# ------------------------------------------------------------------ judgements to review
def every_case_answers(store: AuditStore, round_name: str) -> list[tuple[str, dict]]:
    """Each case in the sample and its answers, read plainly (the reference for the store's fast query)."""
    r = store.round(round_name)
    cases = []
    for case in store.db.query(
        "SELECT id, case_ref FROM cases WHERE round_id = ? AND sample_status IN ('main', 'swapped in') ORDER BY case_ref",
        [r.id],
    ):
        answers = {a["question_id"]: a["value"] for a in store.db.query("SELECT * FROM answers WHERE case_id = ?", [case["id"]])}
        cases.append((case["case_ref"], answers))
    return cases


@pytest.fixture
def checked_db(demo_db) -> Path:
    """The demo with known judgement checks added: one contradicting, one not (a prompt agrees)."""
    with AuditStore.open(demo_db) as store:
        r = store.round(ROUND)
        kq = store.framework_for(r).key_question("2.2.1")
        for p in kq.prompts:
            store.record_answer(r, "N100101", p.id, Answer.NO, auditor="t")
        store.record_answer(r, "N100101", "2.2.1", Answer.YES, auditor="t")  # Yes against every relevant No
        for p in kq.prompts:
            store.record_answer(r, "N100108", p.id, Answer.NOT_APPLICABLE, reason="no such work due", auditor="t")
        store.record_answer(r, "N100108", "2.2.1", Answer.YES, auditor="t")  # no relevant prompt: nothing to contradict
    return demo_db


def test_store_judgement_checks_are_the_case_screen_rule_over_every_case(checked_db):
    """Found from the answer codes a key question at a time over every case: the same as the rule applied
    to each case's answers one by one."""
    from audit.store.judgement_checks import judgement_checks

    with AuditStore.open(checked_db, readonly=True) as store:
        for round_name in (ROUND, "Lewisham and Bromley 2022"):
            framework = store.framework_for(store.round(round_name))
            expected = find_judgement_checks(framework, every_case_answers(store, round_name))
            assert judgement_checks(store, store.round(round_name)) == expected
            assert expected  # the demo rounds hold some
        found = {(c.case_ref, c.question, c.judgement) for c in judgement_checks(store, store.round(ROUND))}
    assert ("N100101", "2.2.1", "Yes") in found and not [c for c in found if c[0] == "N100108"]


def test_summary_lists_judgement_checks_in_every_format(cli, checked_db):
    data = json.loads(cli("--db", checked_db, "summary", "--round", ROUND, "--format", "json").out)
    checks = data["judgement_checks"]
    assert {"case_ref": "N100101", "question": "2.2.1", "judgement": "Yes"}.items() <= checks[0].items()
    with AuditStore.open(checked_db, readonly=True) as store:
        framework = store.framework_for(store.round(ROUND))
        expected = find_judgement_checks(framework, every_case_answers(store, ROUND))
    assert [(c["case_ref"], c["question"], c["judgement"]) for c in checks] == [
        (c.case_ref, c.question, c.judgement) for c in expected
    ]
    table = cli("--db", checked_db, "summary", "--round", ROUND).out
    assert f"Judgements to review: {len(expected)} key-question judgement(s)" in table
    assert "Case N100101, 2.2.1: judged Yes, but every relevant prompt is No" in table
    markdown = cli("--db", checked_db, "summary", "--round", ROUND, "--format", "markdown").out
    assert "## Judgements to review" in markdown and "| N100101 | 2.2.1 " in markdown
    rows = list(csv.reader(io.StringIO(cli("--db", checked_db, "summary", "--round", ROUND, "--format", "csv").out)))
    header = rows[0]
    found = [dict(zip(header, r, strict=True)) for r in rows[1:] if r[3] == "judgement check"]
    assert [(r["case_ref"], r["question_id"], r["judgement"]) for r in found] == [
        (c.case_ref, c.question, c.judgement) for c in expected
    ]
    assert rows[-1][0] == "score"  # the score row stays last


def test_check_round_lists_judgement_checks_for_review(cli, checked_db):
    result = cli("--db", checked_db, "check", "--round", ROUND)
    assert result.code == 0, result  # judgements to review are not problems with the database
    assert "Judgements to review" in result.out
    assert "Case N100101, 2.2.1: judged Yes, but every relevant prompt is No" in result.out
    assert "Judgements to review" not in cli("--db", checked_db, "check").out
    assert cli("--db", checked_db, "check", "--round", "Nowhere").code == 2


def test_reports_list_judgement_checks(cli, checked_db, tmp_path):
    html, md, xlsx = tmp_path / "r.html", tmp_path / "r.md", tmp_path / "r.xlsx"
    for out in (html, md, xlsx):
        assert cli("--db", checked_db, "report", "--round", ROUND, "-o", out).code == 0
    rows = [e for e in read_html(html).elements if e["tag"] == "tr" and "judgement" in e]
    assert {"case": "N100101", "kq": "2.2.1", "judgement": "Yes"}.items() <= rows[0].items()
    assert "| N100101 | 2.2.1 Does assessment focus sufficiently on engaging" in md.read_text(encoding="utf-8")
    sheet = openpyxl.load_workbook(xlsx)["Judgements to review"]
    header, *lines = list(sheet.iter_rows(values_only=True))
    assert header[:3] == ("Case", "Standard", "Key question") and ("N100101", "2.2", "2.2.1") in [r[:3] for r in lines]
    assert len(lines) == len(rows)
    # a report to share counts them per key question, without case references
    shared = tmp_path / "shared.html"
    assert cli("--db", checked_db, "report", "--round", ROUND, "--no-cases", "-o", shared).code == 0
    counts = [e for e in read_html(shared).elements if "checks" in e]
    assert sum(int(e["checks"]) for e in counts) == len(rows) and "N100101" not in shared.read_text(encoding="utf-8")


def test_a_round_without_judgement_checks_says_so(cli, tmp_path):
    db = tmp_path / "a.db"
    with AuditStore.open(db) as store:
        store.create_round("Blank", "Unit", "hmip-probation-pdu-2021")
    data = json.loads(cli("--db", db, "summary", "--round", "Blank", "--format", "json").out)
    assert data["judgement_checks"] == []
    assert "none contradicts every relevant prompt" in cli("--db", db, "summary", "--round", "Blank").out
