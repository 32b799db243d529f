"""Start-up: what `caseaudit summary` loads, the parser of one command group, the read-only database without
sqlite-utils, and a definition's checks."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ what a summary loads
def test_summary_loads_neither_sqlite_utils_nor_other_commands(demo_db):
    """The figures come from plain sqlite3 reads; only the summary's own command group's parser is built."""
    script = (
        "import sys\n"
        "from audit.cli import main\n"
        f"status = main(['--db', {str(demo_db)!r}, 'summary', '--round', 'Newham 2022'])\n"
        "loaded = sorted(m for m in sys.modules if m == 'sqlite_utils' or m.startswith(('audit.cli.', 'textual', 'openpyxl')))\n"
        "print('LOADED', status, ' '.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Newham PDU is rated as" in result.stdout
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("LOADED ")]
    assert line.split()[1:] == ["0", "audit.cli.common", "audit.cli.main", "audit.cli.outputs"], line


# ------------------------------------------------------------------ the parser
def _parse(parse, argv: list[str]) -> tuple:
    """(namespace or exit status, what argparse printed) of parsing ``argv`` with ``parse``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            outcome: object = vars(parse(argv))
        except SystemExit as stop:
            outcome = ("exit", stop.code)
    return outcome, out.getvalue(), err.getvalue()


ARGUMENTS = [
    ["summary", "--round", "R"],
    ["--db", "x.db", "summary", "--round", "R", "--format", "csv"],
    ["summary", "--round", "R", "--db", "y.db", "--auditor", "Jo"],
    ["--db=x.db", "report", "--round", "R", "-o", "r.html"],
    ["summary"],  # a mistake: the subcommand's own one line
    ["summary", "--round", "R", "--format", "pdf"],
    ["summary", "--round", "R", "--bogus"],
    ["summary", "-h"],
    ["summry", "--round", "R"],  # not a command: the whole parser's list of commands
    ["--auditor", "summary", "rounds"],  # a command's name as --auditor's value
    ["--aud", "summary", "rounds"],  # ... abbreviated: the guessed command is not the command
    ["--aud", "summary", "import", "s.csv", "--round", "R"],
    ["--aud", "rounds", "summary", "--round", "R"],
    ["--db", "summary", "answer", "--round", "R", "--case", "C1", "--question", "2.1.1", "--value", "Yes"],
    ["frameworks", "list"],
    ["open", "--round", "R"],
    ["sample", "--size", "0"],
    [],
    ["--help"],
    ["--db", "x.db"],
]


@pytest.mark.parametrize("argv", ARGUMENTS, ids=" ".join)
def test_one_groups_parser_parses_as_the_whole_parser(argv):
    from audit.cli.main import build_parser, parse_arguments

    assert _parse(parse_arguments, argv) == _parse(build_parser().parse_args, argv)


def test_the_table_of_groups_names_each_commands_group():
    import argparse
    import importlib

    from audit.cli.main import COMMAND_GROUP_OF, COMMAND_GROUPS

    found = {}
    for group in COMMAND_GROUPS:
        commands = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"audit.cli.{group}").add_commands(commands)
        found |= dict.fromkeys(commands.choices, group)
    assert COMMAND_GROUP_OF == found


# ------------------------------------------------------------------ the read-only database
SELECTS = [
    ("SELECT * FROM rounds ORDER BY name", None),
    ("select name, unit from rounds where name = ?", ["Newham 2022"]),
    ("SELECT 1 AS a, 2 AS a, 3 AS a_2", None),  # a column named twice: sqlite-utils renames it
    ("  SELECT count(*) AS n FROM cases", []),
    ("WITH r AS (SELECT name FROM rounds) SELECT * FROM r", None),
    ("PRAGMA table_info(rounds)", None),
]


def test_the_read_only_database_answers_as_sqlite_utils_does(demo_db):
    import sqlite_utils

    from audit.store.database import ReadOnlyDatabase, connect_readonly, open_database

    opened = open_database(demo_db, readonly=True)
    assert isinstance(opened, ReadOnlyDatabase)
    reference = sqlite_utils.Database(connect_readonly(demo_db), execute_plugins=False)
    try:
        for sql, params in SELECTS:
            assert list(opened.query(sql, params)) == list(reference.query(sql, params)), sql
            assert opened.execute(sql, params).fetchall() == reference.execute(sql, params).fetchall(), sql
        # the rest of sqlite-utils' Database, on the same connection
        assert opened.table_names() == reference.table_names()
        assert opened["cases"].count == reference["cases"].count > 0
        assert opened.table("answers").pks == ["case_id", "question_id"]
        for write in ("INSERT INTO settings (key, value) VALUES ('x', 'y')", "UPDATE rounds SET unit = 'x'"):
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                opened.execute(write)
        assert not opened.conn.in_transaction
    finally:
        opened.close()
        reference.close()


# ------------------------------------------------------------------ a definition's checks, without a pattern per key question
@settings(max_examples=300, deadline=None)
@given(
    kq_id=st.text(alphabet="12.abzAZ_-é\n", max_size=6),
    prompt_id=st.text(alphabet="12.abzAZ_-é\n`{", max_size=8),
)
def test_a_prompt_id_is_checked_as_the_pattern_checked_it(kq_id, prompt_id):
    import re

    from framework.load import _is_prompt_of

    for prompt in (prompt_id, kq_id + prompt_id[:1]):
        assert _is_prompt_of(prompt, kq_id) == bool(re.fullmatch(re.escape(kq_id) + r"[a-z]", prompt))
