"""Fuzz: malformed case sheets and files never change the database and always say where.

Hypothesis starts from a valid sheet and breaks it in one or more ways (bad answers,
case references, attributes, headers, duplicates, identity columns, encodings,
files that are not sheets at all), in CSV and XLSX. Every one must exit 2 with a
message naming the row and column (or the file, when it is not a sheet), and
leave the database's content exactly as it was.
"""

from __future__ import annotations

import contextlib
import io
import itertools

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.cli import main
from audit.errors import InvalidValue
from audit.store import parse_answer_text

from .test_sheets import db_state

HEADER = ["case_ref", "sentence_type", "rosh_level", "age", "2.2.1a", "2.2.1b", "2.2.1", "2.3.1"]
GOOD_ROWS = [
    ["B100001", "Licence", "High", "30", "Yes", "No", "Yes", "N/A: in custody"],
    ["B100002", "Community order", "Low", "22", "No", "No", "No", ""],
    ["B100003", "Suspended sentence order", "Medium", "", "y", "n", "N/A", "Yes"],
]
IDENTITY_HEADERS = ["name", "Surname", "first name", "date_of_birth", "DOB", "address", "PNC number", "pnc_no"]
ANSWER_COLUMNS = range(4, len(HEADER))
_counter = itertools.count()


def not_an_answer(text: str) -> bool:
    try:
        parse_answer_text(text)
    except InvalidValue:
        return True
    return False


junk_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
bad_answers = junk_text.filter(lambda t: t.strip() and not_an_answer(t))
bad_refs = st.one_of(
    st.from_regex(r"[A-Z]{2}[0-9]{5}", fullmatch=True),
    st.from_regex(r"[0-9]{7}", fullmatch=True),
    st.from_regex(r"[A-Z][0-9]{3}", fullmatch=True),
    st.just("not a crn"),
)


@st.composite
def broken_sheets(draw):
    """(header, rows, what was broken) with at least one defect that must be reported by row/column."""
    header = list(HEADER)
    rows = [list(r) for r in draw(st.lists(st.sampled_from(GOOD_ROWS), min_size=1, max_size=3, unique_by=lambda r: r[0]))]
    defects = draw(st.lists(st.sampled_from([
        "answer", "case_ref", "duplicate_case", "unknown_column", "duplicate_column", "identity_column",
        "sentence_type", "age", "first_column", "extra_cell", "blank_header",
    ]), min_size=1, max_size=3))
    for defect in defects:
        row = draw(st.integers(0, len(rows) - 1))
        if defect == "answer":
            rows[row][draw(st.sampled_from(list(ANSWER_COLUMNS)))] = draw(bad_answers)
        elif defect == "case_ref":
            rows[row][0] = draw(bad_refs)
        elif defect == "duplicate_case":
            rows.append(list(rows[row]))
        elif defect == "unknown_column":
            header.append(draw(st.sampled_from(["2.9.1", "2.2.1z", "notes", "outcome", "score"])))
            for r in rows:
                r.append("")
        elif defect == "duplicate_column":
            column = draw(st.sampled_from(list(range(1, len(HEADER)))))
            header.append(HEADER[column])
            for r in rows:
                r.append(r[column])
        elif defect == "identity_column":
            header.insert(1, draw(st.sampled_from(IDENTITY_HEADERS)))
            for r in rows:
                r.insert(1, "x")
        elif defect == "sentence_type":
            rows[row][header.index("sentence_type")] = "zz" + draw(junk_text)
        elif defect == "age":
            rows[row][header.index("age")] = draw(st.sampled_from(["abc", "-1", "200", "3.5", "twenty"]))
        elif defect == "first_column":
            header[0] = draw(st.sampled_from(["name", "ref", "case", "Case number"]))
        elif defect == "extra_cell":
            rows[row] = rows[row] + [""] * (len(header) - len(rows[row])) + ["stray"]
        elif defect == "blank_header":
            header.append("")
            for r in rows:
                r.append("Yes")
    return header, rows, defects


def write_csv(path, header, rows, encoding) -> None:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding, errors="replace"))


def write_xlsx(path, header, rows) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in [header, *rows]:
        sheet.append([cell if cell else None for cell in row])
    workbook.save(path)


def run(*args) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory):
    """A database holding one small round the broken sheets try to update."""
    folder = tmp_path_factory.mktemp("fuzz")
    db = folder / "fuzz.db"
    good = folder / "good.csv"
    write_csv(good, HEADER, GOOD_ROWS, "utf-8")
    assert run("--db", db, "import", good, "--round", "R", "--unit", "Fuzz PDU")[0] == 0
    return db, folder, db_state(db)


@settings(max_examples=850, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheet=broken_sheets(), form=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "xlsx"]), round_name=st.sampled_from(["R", "New round"]))
def test_malformed_sheets_exit_2_name_row_and_column_and_change_nothing(fuzz_db, sheet, form, round_name):
    db, folder, before = fuzz_db
    header, rows, defects = sheet
    path = folder / f"sheet{next(_counter)}.{'xlsx' if form == 'xlsx' else 'csv'}"
    if form == "xlsx":
        write_xlsx(path, header, rows)
    else:
        write_csv(path, header, rows, form)
    code, err = run("--db", db, "import", path, "--round", round_name)
    assert code == 2, (defects, err)
    assert "nothing was imported" in err
    assert "Traceback" not in err
    assert any(line.strip().startswith("row ") and "column" in line for line in err.splitlines()), (defects, err)
    assert db_state(db) == before


@settings(max_examples=200, deadline=None)
@given(
    content=st.one_of(
        st.binary(min_size=0, max_size=400),
        st.binary(min_size=1, max_size=200).map(lambda b: b"PK\x03\x04" + b),  # a broken zip (XLSX) header
        st.just(b""),
        st.just(b"\x00\x00\x00"),
        st.just("\n\n\n".encode()),
        st.just(",,,\n,,\n".encode()),
    ),
    suffix=st.sampled_from([".csv", ".xlsx", ".txt", ""]),
)
def test_files_that_are_not_sheets_exit_2_naming_the_file_and_change_nothing(fuzz_db, content, suffix):
    db, folder, before = fuzz_db
    path = folder / f"file{next(_counter)}{suffix}"
    path.write_bytes(content)
    code, err = run("--db", db, "import", path, "--round", "R")
    if code == 0:
        # random bytes can spell a valid, empty case list (a lone "case_ref" header): nothing to change then
        assert db_state(db) == before
        return
    assert code == 2, err
    assert "Traceback" not in err
    assert str(path) in err.splitlines()[0]
    assert db_state(db) == before
