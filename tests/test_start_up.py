"""Start-up: what `caseaudit summary` loads, the parser of one command group, the read-only database without
sqlite-utils, and the cache of parsed definition files (damaged, stale or not private: ignored)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import load_file
from framework.load import DEFINITIONS_DIR
from framework.toml_cache import CACHE_ENV, FORMAT, kept_path

ROOT = Path(__file__).resolve().parents[1]
PDU = DEFINITIONS_DIR / "hmip-probation-pdu-2021.toml"


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


# ------------------------------------------------------------------ the cache of parsed definitions
@pytest.fixture
def definition(tmp_path, monkeypatch) -> Path:
    """A copy of the PDU definition, and a cache folder of this test's own."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    copy = tmp_path / "ours.toml"
    shutil.copy(PDU, copy)
    return copy


def _keep_by_hand(path: Path, text: str, document: dict, mode: int = 0o600) -> Path:
    kept = kept_path(path)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps({"format": FORMAT, "text": text, "document": document}), encoding="utf-8")
    kept.chmod(mode)
    return kept


def _retitled(path: Path, title: str) -> dict:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    document["title"] = title
    return document


def test_a_definition_is_parsed_once_then_read_from_the_cache(definition, monkeypatch):
    first = load_file(definition)
    kept = kept_path(definition)
    assert kept.is_file() and (kept.stat().st_mode & 0o777) == 0o600
    assert (kept.parent.stat().st_mode & 0o777) == 0o700

    retitled = _retitled(definition, "Kept")

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(tomllib, "loads", no_parsing)
    assert load_file(definition) == first
    # what is kept is what the file's text is used for, exactly: a document kept for this text is the one loaded
    _keep_by_hand(definition, definition.read_text(encoding="utf-8"), retitled)
    assert load_file(definition).title == "Kept"


def test_a_stale_kept_document_is_ignored(definition):
    old_text = definition.read_text(encoding="utf-8")
    _keep_by_hand(definition, old_text, _retitled(definition, "Kept for the old text"))
    definition.write_text(old_text.replace("\ntitle = ", '\ntitle = "Edited" # was ', 1), encoding="utf-8")
    assert load_file(definition).title == "Edited"
    assert json.loads(kept_path(definition).read_text(encoding="utf-8"))["document"]["title"] == "Edited"  # kept again


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"\x00\xff garbage",
        b'{"format": 1, "text": ',  # cut short
        b"[1, 2, 3]",
        b'{"format": 1, "document": {}}',  # no text
        b'{"format": 99, "text": "", "document": {}}',
        b"[" * 100_000 + b"]" * 100_000,  # nested beyond what the parser recurses into
    ],
    ids=["empty", "binary", "truncated", "a list", "no text", "another format", "deep"],
)
def test_a_damaged_cache_file_is_ignored_and_made_again(definition, damage):
    expected = load_file(definition)
    kept = kept_path(definition)
    kept.write_bytes(damage)
    kept.chmod(0o600)
    assert load_file(definition) == expected
    assert json.loads(kept.read_text(encoding="utf-8"))["text"] == definition.read_text(encoding="utf-8")


def test_a_damaged_kept_document_of_this_text_is_ignored(definition):
    """The text matches but the document is not a table: parsed again, never a traceback."""
    expected = load_file(definition)
    _keep_by_hand(definition, definition.read_text(encoding="utf-8"), ["not", "a", "table"])  # type: ignore[arg-type]
    assert load_file(definition) == expected


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
@pytest.mark.parametrize("mode", [0o644, 0o620, 0o604])
def test_a_cache_file_others_can_read_or_write_is_not_trusted(definition, mode):
    expected = load_file(definition)
    _keep_by_hand(definition, definition.read_text(encoding="utf-8"), _retitled(definition, "Planted"), mode=mode)
    assert load_file(definition) == expected


def test_a_link_in_place_of_a_cache_file_is_not_followed(definition, tmp_path):
    expected = load_file(definition)
    planted = tmp_path / "planted.json"
    planted.write_text(
        json.dumps({"format": FORMAT, "text": definition.read_text(encoding="utf-8"), "document": _retitled(definition, "X")})
    )
    planted.chmod(0o600)
    kept = kept_path(definition)
    kept.unlink()
    kept.symlink_to(planted)
    assert load_file(definition) == expected


def test_without_a_writable_cache_folder_definitions_still_load(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))  # a folder that cannot be made
    copy = tmp_path / "ours.toml"
    shutil.copy(PDU, copy)
    assert load_file(copy).id == "hmip-probation-pdu-2021"


def test_a_document_json_cannot_hold_exactly_is_not_kept(definition):
    """A TOML date (not used by caseaudit's definitions, refused as an unknown key) is parsed every time."""
    definition.write_text(definition.read_text(encoding="utf-8") + "\n[extra]\nwhen = 2026-01-01\n", encoding="utf-8")
    from framework import DefinitionError

    with pytest.raises(DefinitionError):
        load_file(definition)
    assert not kept_path(definition).exists()


def test_toml_syntax_errors_are_still_named(definition):
    from framework import DefinitionError

    definition.write_text('id = "x"\nversion = \n', encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_file(definition)
    assert "TOML syntax" in str(caught.value)
    assert not kept_path(definition).exists()


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
