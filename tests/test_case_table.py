"""The compact case table (audit/store/case_table.py) against plain reference implementations.

The report's counts, case totals, breakdowns and case-level sheet, and the case-sheet export,
all come from the case table, read from each case's answer codes (kept by triggers on the
answers: audit/store/answer_codes.py). Each is checked here against the obvious way (an answer
at a time) over random rounds on a real database file: incomplete cases, answers changed and
cleared after they were given, not-applicable reasons holding any character, blank and odd
attribute values.
"""

from __future__ import annotations

import io
import tempfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.core.answers import format_answer_text
from audit.core.attributes import ATTRIBUTE_COLUMNS
from audit.reports.formats import render_report
from audit.reports.model import build_report
from audit.store import AuditStore, write_lock
from audit.store.answer_codes import code_columns
from audit.store.case_table import (
    DEIDENTIFY_DROPS,
    MASKED_GROUPS,
    breakdown_counts,
    deidentified_ref,
    read_case_answer_table,
)
from framework import Answer, load_framework

FRAMEWORK = load_framework("hmip-probation-pdu-2021")
QUESTIONS = list(FRAMEWORK.question_ids)
KEY_QUESTIONS = [kq.id for s in FRAMEWORK.standards for kq in s.key_questions]
# reasons and free text with the characters most likely to break a fast path or an XML file
AWKWARD = st.text(
    alphabet=st.sampled_from(list("ab Z&<>\"'é") + ["\x1c", "\x1d", "\x1e", "\x1f", "\x00", "\n", "\U0001f600"]), max_size=8
)

answer_values = st.one_of(
    st.just((Answer.YES, None)),
    st.just((Answer.NO, None)),
    st.tuples(
        st.just(Answer.NOT_APPLICABLE),
        st.one_of(st.none(), st.just(""), AWKWARD, st.sampled_from(["Not a licence case", "No victim"])),
    ),
)
a_case = st.fixed_dictionaries(
    {
        "attributes": st.fixed_dictionaries(
            {
                "sentence_type": st.sampled_from([None, "Community order", "Licence"]),
                "gender": st.sampled_from([None, "Male", "Female"]),
                "team": st.one_of(st.none(), AWKWARD),
            }
        ),
        # each case answers a random part of the framework, or all of it
        "answers": st.one_of(
            st.lists(st.tuples(st.sampled_from(QUESTIONS), answer_values), max_size=20).map(dict),
            st.lists(answer_values, min_size=len(QUESTIONS), max_size=len(QUESTIONS)).map(
                lambda a: dict(zip(QUESTIONS, a, strict=False))
            ),
        ),
    }
)


def make_round(path: Path, cases: list[dict], changes: list[dict] | None = None) -> None:
    """The round; then ``changes`` (case number -> answers, a value None clearing one) written over it."""
    with AuditStore.open(path) as store:
        round_row = store.create_round("R", "Unit", FRAMEWORK.id)
        with write_lock(store.db):
            ids = []
            for n, case in enumerate(cases):
                ids.append(store.upsert_case(round_row, f"C{n:03d}", case["attributes"]))
                store.write_answers_in_bulk(ids[-1], case["answers"], "tester", "test")
        for n, answers in changes or []:
            if n < len(ids):
                for question_id, (value, reason) in answers.items():
                    if value == Answer.NOT_APPLICABLE and not (reason or "").strip():
                        reason = "not relevant"  # a not-applicable answer given on its own needs its reason
                    store.record_answer(round_row, f"C{n:03d}", question_id, value, reason=reason, auditor="second")


def expected_rows(store: AuditStore, deidentify: bool) -> list[list[str]]:
    """The case sheet an answer at a time."""
    round_row = store.round("R")
    columns = [c for c in ATTRIBUTE_COLUMNS if not (deidentify and c in DEIDENTIFY_DROPS)]
    salt = store.deidentify_salt() if deidentify else ""
    rows = []
    for case in store.db.query("SELECT * FROM cases WHERE round_id = ? ORDER BY case_ref", [round_row.id]):
        given = {
            a["question_id"]: a
            for a in store.db.query("SELECT * FROM answers WHERE case_id = ? AND value IS NOT NULL", [case["id"]])
        }
        texts = []
        for q in QUESTIONS:
            a = given.get(q)
            texts.append("" if a is None else format_answer_text(a["value"], None if deidentify else a["reason"]))
        ref = deidentified_ref(salt, case["case_ref"]) if deidentify else case["case_ref"]
        rows.append([ref, *[case[c] or "" for c in columns], *texts])
    if deidentify:
        rows.sort(key=lambda r: r[0])
    return rows


def expected_breakdowns(store: AuditStore, columns: list[str]) -> Counter:
    round_row = store.round("R")
    counts: Counter = Counter()
    for case in store.db.query("SELECT * FROM cases WHERE round_id = ?", [round_row.id]):
        for column in columns:
            counts[(column, case[column], "cases")] += 1
        for a in store.db.query("SELECT * FROM answers WHERE case_id = ? AND value IS NOT NULL", [case["id"]]):
            if a["question_id"] in KEY_QUESTIONS:
                field = {"Yes": "yes", "No": "no", "Not applicable": "not_applicable"}[a["value"]]
                for column in columns:
                    counts[(column, case[column], a["question_id"], field)] += 1
    return counts


def as_counter(answer_rows: list[dict], case_rows: list[dict]) -> Counter:
    counts: Counter = Counter()
    for row in case_rows:
        counts[(row["column_name"], row["value"], "cases")] += row["cases"]
    for row in answer_rows:
        for field in ("yes", "no", "not_applicable"):
            if row[field]:
                counts[(row["column_name"], row["value"], row["question_id"], field)] += row[field]
    return counts


def expected_counts(store: AuditStore) -> tuple[dict, tuple[int, int]]:
    """Counts per question and (cases, incomplete cases), the obvious way: SQL over every answer."""
    round_row = store.round("R")
    counts: dict = {}
    for row in store.db.query(
        "SELECT question_id, value, count(*) AS n FROM answers WHERE round_id = ? AND value IS NOT NULL GROUP BY 1, 2",
        [round_row.id],
    ):
        entry = counts.setdefault(row["question_id"], {"question_id": row["question_id"], "yes": 0, "no": 0, "not_applicable": 0})
        entry[{"Yes": "yes", "No": "no", "Not applicable": "not_applicable"}[row["value"]]] = row["n"]
    cases = store.db.execute("SELECT count(*) FROM cases WHERE round_id = ?", [round_row.id]).fetchone()[0]
    complete = store.db.execute(
        "SELECT count(*) FROM (SELECT case_id FROM answers WHERE round_id = ? AND value IS NOT NULL GROUP BY case_id"
        " HAVING count(*) = ?)",
        [round_row.id, len(QUESTIONS)],
    ).fetchone()[0]
    return counts, (cases, cases - complete)


changed_answers = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.lists(st.tuples(st.sampled_from(QUESTIONS), st.one_of(answer_values, st.just((None, None)))), max_size=6).map(dict),
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(a_case, max_size=7), changes=changed_answers)
def test_case_table_equals_reading_answer_by_answer(cases, changes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        make_round(path, cases, changes)
        with AuditStore.open(path) as store:
            round_row = store.round("R")
            for deidentify in (False, True):
                sheet = read_case_answer_table(store, store.round("R"), deidentify=deidentify)
                header, rows = list(sheet.header), list(sheet.rows())
                assert rows == expected_rows(store, deidentify)
                assert header[-len(QUESTIONS) :] == QUESTIONS
            table = read_case_answer_table(store, store.round("R"))
            counts, totals = expected_counts(store)
            assert table.case_totals() == store.case_totals(round_row) == totals
            assert table.answer_counts() == store.answer_counts(round_row) == counts
            columns = ["sentence_type", "gender", "team"]
            expected = expected_breakdowns(store, columns)
            assert as_counter(*table.breakdown_counts(columns, KEY_QUESTIONS)) == expected
            # a report without its case-level sheet counts from one read of the codes and attributes; an
            # attribute with few values by bit masks, one with many (teams) from its groups' codes joined
            block = store.answer_code_block(round_row, attribute_columns=columns)
            assert (block.cases, block.incomplete()) == totals
            assert block.counts(tuple(QUESTIONS), QUESTIONS) == counts
            for masked_groups in (0, MASKED_GROUPS):
                found = breakdown_counts(
                    tuple(QUESTIONS), block, block.attribute_values, columns, KEY_QUESTIONS, masked_groups=masked_groups
                )
                assert as_counter(*found) == expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(a_case, max_size=7), changes=changed_answers, left_out=st.sets(st.integers(0, 6)))
def test_a_report_counts_the_same_with_and_without_its_case_level_sheet(cases, changes, left_out):
    """An XLSX report (with its case-level sheet: reasons, case references) and an HTML one (the
    codes and attributes alone) count the same: summary, judgement checks and breakdowns, with
    reserves and removed cases left out of both."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        make_round(path, cases, changes)
        with AuditStore.open(path) as store:
            with write_lock(store.db):
                for n in left_out:
                    change = "sample_status = 'reserve'" if n % 2 else "removed = 'Yes'"
                    store.db.execute(f"UPDATE cases SET {change} WHERE case_ref = ?", [f"C{n:03d}"])
            round_row = store.round("R")
            with_sheet = build_report(store, round_row, case_level=True)
            without = build_report(store, round_row, case_level=False)
            counted = len(cases) - len([n for n in left_out if n < len(cases)])
            assert with_sheet.summary.cases == without.summary.cases == counted
            assert with_sheet.summary == without.summary  # every figure, and the judgement checks
            assert with_sheet.breakdowns == without.breakdowns


def test_an_attribute_another_tool_stored_as_bytes_is_counted_as_its_hex_by_both_report_paths(tmp_path):
    """JSON holds no bytes: the report without a case-level sheet reads such a value as the case table does."""
    path = tmp_path / "audit.db"
    case = {
        "attributes": {"sentence_type": "Licence", "gender": "Male", "team": "North"},
        "answers": {KEY_QUESTIONS[0]: (Answer.YES, None)},
    }
    make_round(path, [case, case | {"attributes": case["attributes"] | {"team": "South"}}])
    with AuditStore.open(path) as store:
        store.db.execute("UPDATE cases SET team = x'01ff' WHERE case_ref = 'C001'")  # another tool's write
        round_row = store.round("R")
        with_sheet = build_report(store, round_row, case_level=True)
        without = build_report(store, round_row, case_level=False)
    assert with_sheet.breakdowns == without.breakdowns
    (team,) = [b for b in without.breakdowns if b.label.lower().startswith("team")]
    assert sorted(g.label for g in team.groups) == ["01FF", "North"]


@settings(max_examples=40, deadline=None)
@given(cases=st.integers(0, 2600), width=st.integers(1, 90), seed=st.integers(0, 2**32), text=st.booleans())
def test_code_columns_are_each_questions_codes(cases, width, seed, text):
    """Taking the codes a question at a time in cache-sized pieces (several pieces past 1,024 cases)
    gives what taking every width-th character of the whole block gives, for bytes and for text."""
    import random

    rng = random.Random(seed)
    # a case table's codes may be text: a reason's code is a character beyond ASCII
    codes = "".join(rng.choice(["Y", "N", "A", " ", "\U00010000"] if text else "YNA ") for _ in range(cases * width))
    block = codes if text else codes.encode("ascii")
    assert code_columns(block, width) == tuple(block[place::width] for place in range(width))


def xml_safe(text: str) -> str:
    return "".join("\ufffd" if (ord(ch) < 32 and ch not in "\t\n\r") else ch for ch in text)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(a_case, min_size=1, max_size=5))
def test_xlsx_case_sheet_reads_back_as_the_case_table(cases):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        make_round(path, cases)
        with AuditStore.open(path) as store:
            report = build_report(store, store.round("R"))
            data = render_report(report, "xlsx")
            expected = [list(report.case_answers.header)] + [[xml_safe(v) for v in row] for row in report.case_answers.rows()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # openpyxl warns about parts it cannot make sense of
        workbook = openpyxl.load_workbook(io.BytesIO(data))
    got = [["" if v is None else v for v in row] for row in workbook["Cases"].iter_rows(values_only=True)]
    # openpyxl leaves out trailing empty cells of a row
    assert [row + [""] * (len(expected[0]) - len(row)) for row in got] == expected
    sheet = workbook["Cases"]
    assert (
        sheet.freeze_panes == "A2"
        and sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(expected[0]))}{len(expected)}"
    )
    package = zipfile.ZipFile(io.BytesIO(data))
    assert package.testzip() is None
    assert "/xl/sharedStrings.xml" in package.read("[Content_Types].xml").decode()
    assert 'Target="sharedStrings.xml"' in package.read("xl/_rels/workbook.xml.rels").decode()


def test_a_reason_holding_control_characters_is_read_whole(tmp_path):
    awkward = "a\x1fY\x1eb"
    make_round(tmp_path / "audit.db", [{"attributes": {}, "answers": {q: (Answer.NOT_APPLICABLE, awkward) for q in QUESTIONS}}])
    with AuditStore.open(tmp_path / "audit.db") as store:
        table = read_case_answer_table(store, store.round("R"))
        assert list(table.rows())[0][-len(QUESTIONS) :] == [f"N/A: {awkward}"] * len(QUESTIONS)
        assert table.answer_counts()[QUESTIONS[0]]["not_applicable"] == 1
        assert table.case_totals() == (1, 0)


def test_a_text_too_long_for_an_excel_cell_is_cut_short(tmp_path):
    long_reason = "x" * 40_000
    make_round(
        tmp_path / "audit.db",
        [{"attributes": {"team": "t" * 40_000}, "answers": {QUESTIONS[0]: (Answer.NOT_APPLICABLE, long_reason)}}],
    )
    with AuditStore.open(tmp_path / "audit.db") as store:
        data = render_report(build_report(store, store.round("R")), "xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    header, row = list(workbook["Cases"].iter_rows(values_only=True))
    for column in ("team", QUESTIONS[0]):
        text = row[header.index(column)]
        assert len(text) == 32_767 and text.endswith("…") and text.startswith(("N/A: xxx", "ttt"))
    assert max(len(str(v)) for r in workbook["Breakdowns"].iter_rows(values_only=True) for v in r) == 32_767


def test_a_round_too_big_for_an_excel_sheet_is_refused_with_the_way_round(cli, demo_db, tmp_path, monkeypatch):
    import audit.reports.xlsx

    monkeypatch.setattr(audit.reports.xlsx, "SHEET_ROWS", 33)  # Newham's 33 cases and the header: one row too many
    out = tmp_path / "report.xlsx"
    result = cli("--db", demo_db, "report", "--round", "Newham 2022", "-o", out)
    assert result.code == 2 and "33 cases do not fit an Excel sheet (32 at most)" in result.err and "--no-cases" in result.err
    assert not out.exists()
    assert cli("--db", demo_db, "report", "--round", "Newham 2022", "--no-cases", "-o", out).code == 0
    export = cli("--db", demo_db, "export", "--round", "Newham 2022", tmp_path / "cases.xlsx")
    assert export.code == 2 and "export the round as CSV instead" in export.err and not (tmp_path / "cases.xlsx").exists()
    assert cli("--db", demo_db, "export", "--round", "Newham 2022", tmp_path / "cases.csv").code == 0
    monkeypatch.setattr(audit.reports.xlsx, "SHEET_ROWS", 34)
    assert cli("--db", demo_db, "report", "--round", "Newham 2022", "-o", out, "--force").code == 0  # replaces the earlier one
