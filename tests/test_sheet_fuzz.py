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
import re
import zipfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.cli import main
from audit.core.answers import parse_answer_text
from audit.errors import InvalidValue
from tests.test_sheets import db_state

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
    defects = draw(
        st.lists(
            st.sampled_from(
                [
                    "answer",
                    "case_ref",
                    "duplicate_case",
                    "unknown_column",
                    "duplicate_column",
                    "identity_column",
                    "sentence_type",
                    "age",
                    "first_column",
                    "extra_cell",
                    "blank_header",
                ]
            ),
            min_size=1,
            max_size=3,
        )
    )
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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sheet=broken_sheets(),
    form=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "xlsx"]),
    round_name=st.sampled_from(["R", "New round"]),
)
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
        st.just(b"\n\n\n"),
        st.just(b",,,\n,,\n"),
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


# ------------------------------------------------------------------ damaged and crafted XLSX packages
# Each is imported in a separate process whose address space is limited to about 1 GB: a reader
# that builds the whole grid a crafted file claims runs out of memory there (a traceback), one
# that streams rows within limits says one clear thing. The limit is memory, never time.
MEMORY_LIMIT = 1 << 30
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
SHEET_PART = "xl/worksheets/sheet1.xml"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>case_ref</t></is></c><c r="B1" t="inlineStr"><is><t>2.2.1</t></is></c></row>'
)


def valid_xlsx() -> bytes:
    buffer = io.BytesIO()
    workbook = openpyxl.Workbook()
    workbook.active.append(["case_ref", "2.2.1"])
    workbook.active.append(["B100001", "Yes"])  # as the fuzz database holds it: importing it changes nothing
    workbook.save(buffer)
    return buffer.getvalue()


def repackaged(data: bytes, change) -> bytes:
    """The package with each part passed through change(name, bytes) (None leaves the part out)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for info in source.infolist():
            content = change(info.filename, source.read(info))
            if content is not None:
                package.writestr(info.filename, content)
    return buffer.getvalue()


def with_sheet(rows_xml: str, dimension: str | None = "A1:B2") -> bytes:
    dimension_xml = f'<dimension ref="{dimension}"/>' if dimension else ""
    xml = f'<worksheet xmlns="{_MAIN_NS}">{dimension_xml}<sheetData>{_HEADER_ROW}{rows_xml}</sheetData></worksheet>'.encode()
    return repackaged(valid_xlsx(), lambda name, content: xml if name == SHEET_PART else content)


def with_shared_strings(items_xml: str) -> bytes:
    """The valid package with a shared-strings part holding ``items_xml`` (and its content type)."""
    override = (
        b'<Override PartName="/xl/sharedStrings.xml" '
        b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )
    data = repackaged(valid_xlsx(), lambda n, c: c.replace(b"</Types>", override) if n == "[Content_Types].xml" else c)
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as package:
        package.writestr("xl/sharedStrings.xml", f'<sst xmlns="{_MAIN_NS}">{items_xml}</sst>')
    return buffer.getvalue()


def _half(content: bytes) -> bytes:
    return content[: len(content) // 2]


_MILLION_EMPTY_ROWS = "".join(f'<row r="{r}"/>' for r in range(2, 1_048_576))
_BAD_LAST_ROW = '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>A100001</t></is></c><c r="B1048576" t="inlineStr"><is><t>Perhaps</t></is></c></row>'

# name -> (how to make it, what the one message says)
CRAFTED = {
    "truncated zip": (lambda: _half(valid_xlsx()), "not a readable XLSX workbook"),
    "missing sheet part": (lambda: repackaged(valid_xlsx(), lambda n, c: None if n == SHEET_PART else c), "no sheet"),
    "broken styles.xml": (
        lambda: repackaged(valid_xlsx(), lambda n, c: _half(c) if n == "xl/styles.xml" else c),
        "not a readable XLSX",
    ),
    "broken [Content_Types].xml": (
        lambda: repackaged(valid_xlsx(), lambda n, c: b"<Types" if n == "[Content_Types].xml" else c),
        "not a readable XLSX",
    ),
    "missing [Content_Types].xml": (
        lambda: repackaged(valid_xlsx(), lambda n, c: None if n == "[Content_Types].xml" else c),
        "not a readable XLSX",
    ),
    "broken workbook.xml": (
        lambda: repackaged(valid_xlsx(), lambda n, c: _half(c) if n == "xl/workbook.xml" else c),
        "not a readable XLSX",
    ),
    "truncated sheet XML": (
        lambda: repackaged(valid_xlsx(), lambda n, c: _half(c) if n == SHEET_PART else c),
        "not a readable XLSX",
    ),
    "far cell XFD1048576": (
        lambda: with_sheet('<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>', "A1:XFD1048576"),
        "row 1048576, column XFD: a value beyond column",
    ),
    "row beyond any spreadsheet": (
        lambda: with_sheet('<row r="99999999999"><c t="inlineStr"><is><t>x</t></is></c></row>'),
        "more than 1,048,576 rows",
    ),
    "a row of five million cells": (lambda: with_sheet('<row r="2">' + "<c/>" * 5_000_000 + "</row>"), "more than 16,384 cells"),
    "five million cells outside any row": (
        lambda: repackaged(
            valid_xlsx(),
            lambda n, c: (
                (f'<worksheet xmlns="{_MAIN_NS}"><sheetData>' + "<c/>" * 5_000_000 + "</sheetData></worksheet>").encode()
                if n == SHEET_PART
                else c
            ),
        ),
        "outside any row: more than 16,384 cells",
    ),
    "a cell of two million runs": (
        lambda: with_sheet('<row r="2"><c t="inlineStr"><is>' + "<r><t>a</t></r>" * 2_000_000 + "</is></c></row>"),
        "a cell made of more than 10,000 XML elements",
    ),
    "shared strings beyond the limit": (
        lambda: with_shared_strings("<si><t>a</t></si>" * 1_100_000),
        "xl/sharedStrings.xml inflates to",
    ),
    "inflates beyond the limit": (
        lambda: repackaged(valid_xlsx(), lambda n, c: c + b" " * (65 << 20) if n == "xl/styles.xml" else c),
        "inflates to",
    ),
    # one crafted value, nesting or table must be refused as soon as it is seen, in plain words
    "one text of 250 MB": (
        lambda: with_sheet('<row r="2"><c r="A2" t="inlineStr"><is><t>' + "a" * (250 << 20) + "</t></is></c></row>"),
        "row 2, column A: one value or tag of more than 16,777,216 bytes",
    ),
    "one attribute of 200 MB": (
        lambda: with_sheet('<row r="2"><c r="B2" t="inlineStr" x="' + "a" * (200 << 20) + '"><is><t>x</t></is></c></row>'),
        "row 2: one value or tag of more than 16,777,216 bytes",
    ),
    "one text of 1.5 million characters": (
        lambda: with_sheet('<row r="2"><c r="B2" t="inlineStr"><is><t>' + "a" * 1_500_000 + "</t></is></c></row>"),
        "row 2, column B: a value of 1,500,000 characters, more than the 1,000,000",
    ),
    "three million nested elements": (lambda: with_sheet("<x>" * 3_000_000 + "</x>" * 3_000_000), "nested more than 64 deep"),
    "three million empty shared strings": (
        lambda: with_shared_strings("<si/>" * 3_000_000),
        "more than 2,000,000 shared strings",
    ),
    "a shared string of 1.5 million characters": (
        lambda: with_shared_strings("<si><t>" + "a" * 1_500_000 + "</t></si>"),
        "string 1: a value of 1,500,000 characters",
    ),
    "shared strings nested deep": (
        lambda: with_shared_strings("<si>" + "<r>" * 100_000 + "</r>" * 100_000 + "</si>"),
        "sharedStrings.xml, string 1: XML elements nested more than 64 deep",
    ),
    "styles.xml nested two million deep": (
        lambda: repackaged(
            valid_xlsx(),
            lambda n, c: (
                c.replace(b"</styleSheet>", b"<x>" * 2_200_000 + b"</x>" * 2_200_000 + b"</styleSheet>")
                if n == "xl/styles.xml"
                else c
            ),
        ),
        "xl/styles.xml: XML elements nested more than 64 deep",
    ),
    "[Content_Types].xml of two million elements": (
        lambda: repackaged(
            valid_xlsx(),
            lambda n, c: c.replace(b"</Types>", b"<x/>" * 2_000_000 + b"</Types>") if n == "[Content_Types].xml" else c,
        ),
        "[Content_Types].xml: more than 500,000 XML elements",
    ),
    "shared string -1": (
        lambda: repackaged(
            with_shared_strings("<si><t>A100001</t></si>"),
            lambda n, c: (
                (
                    f'<worksheet xmlns="{_MAIN_NS}"><sheetData>{_HEADER_ROW}<row r="2"><c r="A2" t="s"><v>-1</v></c></row></sheetData></worksheet>'
                ).encode()
                if n == SHEET_PART
                else c
            ),
        ),
        "a cell names shared string -1, which is not in the workbook's table of 1 strings",
    ),
    "shared string index beyond any int": (
        lambda: repackaged(
            with_shared_strings("<si><t>A100001</t></si>"),
            lambda n, c: (
                (
                    f'<worksheet xmlns="{_MAIN_NS}"><sheetData>{_HEADER_ROW}<row r="2"><c r="A2" t="s"><v>{10**30}</v></c></row></sheetData></worksheet>'
                ).encode()
                if n == SHEET_PART
                else c
            ),
        ),
        "which is not in the workbook's table",
    ),
    "sheet list naming a missing part": (
        lambda: repackaged(
            valid_xlsx(), lambda n, c: c.replace(b'r:id="rId1"', b'r:id="rIdNope"') if n == "xl/workbook.xml" else c
        ),
        "the workbook's sheet list names a part that is not in the file",
    ),
    "sheet XML not well-formed": (
        lambda: repackaged(
            valid_xlsx(), lambda n, c: c.replace(b"<sheetData>", b"<sheetData>\n<row><<") if n == SHEET_PART else c
        ),
        "sheet1.xml is not well-formed XML at line 2",
    ),
}
# crafted files that are sheets (so read to the end within the limit) with one bad answer in the last row
CRAFTED_WITH_A_BAD_ROW = {
    "huge dimension": (
        lambda: with_sheet(
            '<row r="2"><c r="A2" t="inlineStr"><is><t>A100001</t></is></c><c r="B2" t="inlineStr"><is><t>Perhaps</t></is></c></row>',
            "A1:XFD1048576",
        ),
        "row 2, column B (2.2.1): 'Perhaps' is not an answer",
    ),
    "a million empty rows": (
        lambda: with_sheet(_MILLION_EMPTY_ROWS + _BAD_LAST_ROW, "A1:B1048576"),
        "row 1048576, column B (2.2.1)",
    ),
    "five million unknown elements": (
        lambda: repackaged(
            with_sheet(_BAD_LAST_ROW),
            lambda n, c: c.replace(b"<sheetData>", b"<sheetData>" + b"<x/>" * 5_000_000) if n == SHEET_PART else c,
        ),
        "row 1048576, column B (2.2.1)",
    ),
    "a million empty rows, no dimension": (
        lambda: with_sheet(_MILLION_EMPTY_ROWS + _BAD_LAST_ROW, None),
        "row 1048576, column B (2.2.1)",
    ),
}


def import_with_memory_limit(db, path):
    code = (
        f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
        "from audit.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", code, "--db", str(db), "import", str(path), "--round", "R"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )


@pytest.mark.parametrize("name", list(CRAFTED))
def test_damaged_and_crafted_xlsx_give_one_line_within_a_memory_limit(fuzz_db, name):
    db, folder, before = fuzz_db
    make, message = CRAFTED[name]
    path = folder / f"crafted-{name.replace(' ', '-')}.xlsx"
    path.write_bytes(make())
    result = import_with_memory_limit(db, path)
    assert result.returncode == 2, (name, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(path) in result.stderr and message in result.stderr, result.stderr
    assert not re.search(r"[A-Za-z]+Error\b|Key|rId", result.stderr), result.stderr  # plain words, no Python internals
    assert db_state(db) == before


@pytest.mark.parametrize("name", list(CRAFTED_WITH_A_BAD_ROW))
def test_crafted_xlsx_sheets_are_read_to_the_end_within_a_memory_limit(fuzz_db, name):
    db, folder, before = fuzz_db
    make, message = CRAFTED_WITH_A_BAD_ROW[name]
    path = folder / f"crafted-{name.replace(' ', '-').replace(',', '')}.xlsx"
    path.write_bytes(make())
    result = import_with_memory_limit(db, path)
    assert result.returncode == 2, (name, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr.splitlines()[0] and message in result.stderr, result.stderr
    assert db_state(db) == before


@settings(max_examples=120, deadline=None)
@given(
    part=st.sampled_from(
        [
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            SHEET_PART,
            "docProps/app.xml",
        ]
    ),
    damage=st.sampled_from(["truncate", "drop", "garble", "empty"]),
    at=st.floats(0, 1),
    junk=st.binary(min_size=1, max_size=20),
)
def test_xlsx_with_a_damaged_part_exits_2_or_imports_and_never_tracebacks(fuzz_db, part, damage, at, junk):
    db, folder, before = fuzz_db

    def change(name, content):
        if name != part:
            return content
        cut = int(len(content) * at)
        return {
            "truncate": content[:cut],
            "drop": None,
            "garble": content[:cut] + junk + content[cut + len(junk) :],
            "empty": b"",
        }[damage]

    path = folder / f"damaged{next(_counter)}.xlsx"
    path.write_bytes(repackaged(valid_xlsx(), change))
    code, err = run("--db", db, "import", path, "--round", "R")
    assert "Traceback" not in err
    assert db_state(db) == before
    if code != 0:  # 0: the damage left a readable sheet (e.g. in app.xml, which nothing reads)
        assert code == 2, err
        assert str(path) in err.splitlines()[0]


def test_shared_strings_are_read_as_openpyxl_reads_them(framework, tmp_path):
    """Plain and formatted runs joined, phonetic runs left out (our streaming shared-strings reader)."""
    from audit.sheets.case_sheet import parse_sheet

    strings = (
        "<si><t>case_ref</t></si><si><t>team</t></si><si><t>B100001</t></si>"
        '<si><r><rPr><b/></rPr><t>Équipe </t></r><r><t>Sud</t></r><rPh sb="0" eb="1"><t>x</t></rPh></si>'
    )
    sheet = (
        f'<worksheet xmlns="{_MAIN_NS}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row></sheetData></worksheet>'
    ).encode()
    data = repackaged(with_shared_strings(strings), lambda n, c: sheet if n == SHEET_PART else c)
    path = tmp_path / "shared.xlsx"
    path.write_bytes(data)
    assert parse_sheet(path, framework).cases[0].attributes["team"] == "Équipe Sud"
    import openpyxl as _openpyxl

    assert _openpyxl.load_workbook(path).active["B2"].value == "Équipe Sud"


# ------------------------------------------------------------------ CSV files and values beyond the limits
def _csv_with_one_long_reason(path, characters: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("case_ref,2.2.1a\nB100001,N/A: ")
        chunk = "because " * (1 << 17)  # 1 MiB
        for _ in range(characters // len(chunk)):
            handle.write(chunk)
        handle.write("x" * (characters % len(chunk)) + "\n")


def test_a_csv_too_big_to_be_a_case_sheet_is_refused_before_it_is_read(fuzz_db):
    db, folder, before = fuzz_db
    path = folder / "huge.csv"
    _csv_with_one_long_reason(path, 300 << 20)  # one 300 MB field: read whole, it ran out of memory (a traceback)
    try:
        result = import_with_memory_limit(db, path)
    finally:
        path.unlink()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert str(path) in result.stderr and "more than 268,435,456" in result.stderr, result.stderr
    assert db_state(db) == before


def test_a_csv_value_beyond_the_cell_limit_is_refused_naming_its_row(fuzz_db):
    db, folder, before = fuzz_db
    path = folder / "long-reason.csv"
    _csv_with_one_long_reason(path, 1_500_000)
    result = import_with_memory_limit(db, path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "row 2: a value longer than 1,000,000 characters" in result.stderr, result.stderr
    assert db_state(db) == before


def test_running_out_of_memory_is_one_line_naming_the_sheet(fuzz_db, monkeypatch, capsys):
    db, folder, before = fuzz_db
    import audit.sheets.case_sheet

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(audit.sheets.case_sheet, "import_sheet", no_memory)
    path = folder / "any.csv"
    assert main(["--db", str(db), "import", str(path), "--round", "R"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"caseaudit: ran out of memory reading {path}"
    assert db_state(db) == before
