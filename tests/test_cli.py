"""The caseaudit command line: answers, ratings, listings, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def small_db(cli, tmp_path):
    db = tmp_path / "a.db"
    sheet = tmp_path / "s.csv"
    sheet.write_text("case_ref,sentence_type\nA100001,Licence\nA100002,Licence\n")
    assert cli("--db", db, "import", sheet, "--round", "R1", "--unit", "Test PDU").code == 0
    return db


def test_answer_then_summary(cli, small_db):
    assert cli("--db", small_db, "answer", "--round", "R1", "A100001", "2.2.3", "yes").code == 0
    assert cli("--db", small_db, "answer", "--round", "R1", "a100002", "2.2.3", "no", "--note", "no DA checks").code == 0
    result = cli("--db", small_db, "answer", "--round", "R1", "A100002", "2.2.3", "No")
    assert "unchanged" in result.out
    assert cli("--db", small_db, "answer", "--round", "R1", "A100002", "2.2.3a", "N/A", "--reason", "No victim").code == 0
    summary = json.loads(cli("--db", small_db, "summary", "--round", "R1", "--format", "json").out)
    assessment = next(s for s in summary["standards"] if s["id"] == "2.2")
    kq = next(k for k in assessment["key_questions"] if k["id"] == "2.2.3")
    assert (kq["yes"], kq["no"], kq["unanswered"], kq["percent"]) == (1, 1, 0, 50)
    assert kq["prompts"][0]["not_applicable"] == 1
    assert assessment["rating"] == "Requires improvement"  # only 2.2.3 has relevant answers: 50% starts that band
    assert summary["incomplete_cases"] == 2


def test_summary_json_keys_are_stable(cli, demo_db):
    summary = json.loads(cli("--db", demo_db, "summary", "--round", "Newham 2022", "--format", "json").out)
    for key in ("round", "unit", "framework", "cases", "incomplete_cases", "standards", "score", "max_score", "overall_rating"):
        assert key in summary
    standard = summary["standards"][5]
    for key in ("id", "name", "rated", "rating", "lowest", "key_questions"):
        assert key in standard
    for key in ("id", "text", "yes", "no", "not_applicable", "unanswered", "percent"):
        assert key in standard["key_questions"][0]


@pytest.mark.parametrize(
    "args,message",
    [
        (["answer", "--round", "R1", "A100001", "9.9.9", "Yes"], "'9.9.9' is not a question"),
        (["answer", "--round", "R1", "A100001", "2.2.1", "maybe"], "'maybe' is not an answer"),
        (["answer", "--round", "Nope", "A100001", "2.2.1", "Yes"], "no round called 'Nope'"),
        (["answer", "--round", "R1", "Z999999", "2.2.1", "Yes"], "no case 'Z999999'"),
        (["rate", "--round", "R1", "1.1", "Brilliant"], "'Brilliant' is not a rating"),
        (["rate", "--round", "R1", "2.2", "Good"], "rated from case answers"),
        (["rate", "--round", "R1", "1.9", "Good"], "no standard '1.9'"),
        (["summary", "--round", "Nope"], "no round called 'Nope'"),
        (["export", "--round", "R1", "out.pdf"], "export to .csv or .xlsx"),
    ],
)
def test_bad_input_exits_2_with_a_message(cli, small_db, args, message):
    result = cli("--db", small_db, *args)
    assert result.code == 2, result
    assert message in result.err
    assert "Traceback" not in result.err


def test_rate_above_cap_needs_reason(cli, small_db):
    for case in ("A100001", "A100002"):
        for kq in ("2.2.1", "2.3.1", "2.4.1", "2.5.1"):
            cli("--db", small_db, "answer", "--round", "R1", case, kq, "No")
    result = cli("--db", small_db, "rate", "--round", "R1", "1.1", "Good")
    assert result.code == 2
    assert "above the advisory cap 'Inadequate'" in result.err and "leadership-all-domain-two-inadequate" in result.err
    result = cli("--db", small_db, "rate", "--round", "R1", "1.1", "Good", "--reason", "Strong strategic work", "--evidence", "x")
    assert result.code == 0 and "override reason recorded" in result.out
    summary = json.loads(cli("--db", small_db, "summary", "--round", "R1", "--format", "json").out)
    leadership = summary["standards"][0]
    assert leadership["rating"] == "Good" and leadership["override_reason"] == "Strong strategic work"


def test_rounds_listing(cli, demo_db):
    out = cli("--db", demo_db, "rounds").out
    assert "Newham 2022" in out and "Lewisham and Bromley 2022" in out and "100%" in out


def test_demo_is_idempotent(cli, demo_db):
    assert "already loaded" in cli("--db", demo_db, "demo").out


def test_database_from_environment(tmp_path):
    env = {**os.environ, "CASEAUDIT_DB": str(tmp_path / "env.db")}
    root = Path(__file__).resolve().parents[1]
    # a read-only command never creates a database: it names the one $CASEAUDIT_DB points at
    result = subprocess.run([sys.executable, "-m", "audit.cli", "rounds"], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 2 and str(tmp_path / "env.db") in result.stderr, result.stderr
    assert not (tmp_path / "env.db").exists()
    result = subprocess.run([sys.executable, "-m", "audit.cli", "demo"], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.db").exists()
    result = subprocess.run([sys.executable, "-m", "audit.cli", "rounds"], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "Newham 2022" in result.stdout, result.stderr


def test_not_a_database_gives_one_line(cli, tmp_path):
    path = tmp_path / "x.db"
    path.write_text("hello")
    result = cli("--db", path, "rounds")
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
    assert path.read_text() == "hello"


def test_serve_binds_to_localhost_only(demo_db):
    import re
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "audit.cli", "--db", str(demo_db), "serve", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    try:
        url = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and url is None:  # the address it prints carries this launch's token
            line = process.stdout.readline()
            if not line:
                break
            output += line
            found = re.search(r"http://127\.0\.0\.1:\d+/[\w-]{40,}/", line)
            url = found.group(0) if found else None
        assert url is not None, output
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
        assert status == 200
        with socket.socket() as other:  # not listening on the machine's other addresses
            other.settimeout(1)
            hostname_ip = socket.gethostbyname(socket.gethostname())
            if not hostname_ip.startswith("127."):
                assert other.connect_ex((hostname_ip, port)) != 0
    finally:
        process.terminate()
        output += process.communicate(timeout=10)[0]
    assert f"127.0.0.1:{port}" in output and "this computer only" in output


@pytest.mark.parametrize(
    ("args", "command", "says"),
    [
        (["sample", "caseload.csv", "--size", "0", "-o", "s.csv"], "caseaudit sample", "argument --size: must be at least 1"),
        (["sample", "caseload.csv", "--size", "5", "--started-from", "2024-13-01"], "caseaudit sample", "is not a date"),
        (["resolve", "--round", "R", "abc", "other"], "caseaudit resolve", "argument conflict: invalid int value: 'abc'"),
        (["settle", "--round", "R"], "caseaudit settle", "the following arguments are required"),
        (["no-such-command"], "caseaudit", "invalid choice: 'no-such-command'"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_command_and_its_help(cli, capsys, tmp_path, args, command, says):
    """Every mistake in the arguments is one line on stderr, exit 2, saying where to read the usage (never
    argparse's usage block), and nothing is created."""
    with pytest.raises(SystemExit) as refused:
        cli("--db", tmp_path / "never.db", *args)
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"{command}: error: ") and says in err and err.rstrip().endswith(f"(see '{command} --help')"), err
    assert not (tmp_path / "never.db").exists()
