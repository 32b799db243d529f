"""Many auditors at once, and processes killed mid-write: nothing lost, nothing locked out."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.stress import ROOT, ROUND, kill_run, load_run


def stored_answers(db) -> dict[tuple[str, str], str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT c.case_ref, a.question_id, a.value, a.reason FROM answers a JOIN cases c ON c.id = a.case_id"
            " WHERE a.value IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    return {(ref, q): (f"N/A: {reason}" if value == "Not applicable" else value) for ref, q, value, reason in rows}


def caseaudit(db, *args):
    return subprocess.run([sys.executable, "-m", "audit.cli", "--db", str(db), *args], cwd=ROOT, capture_output=True, text=True)


def test_sigkilled_answer_commands_lose_nothing_that_was_reported_saved(tmp_path):
    db = tmp_path / "killed.db"
    run = kill_run(db, commands=100, min_kills=25)
    print(
        f"\n{run.commands} answer commands, {run.kills} SIGKILLed mid-run, {len(run.returned_ok)} returned 0, {run.seconds:.1f} s"
    )
    assert run.kills >= 25
    assert run.other_failures == []  # a command that was not killed never failed ("database is locked" etc.)
    stored = stored_answers(db)
    for pair, value in run.returned_ok.items():
        assert stored.get(pair) == value, f"{pair}: returned 0 for {value!r} but the database holds {stored.get(pair)!r}"
    # a killed command's answer is either stored whole (killed after COMMIT) or absent
    assert {pair: stored[pair] for pair in stored} == {pair: run.attempted[pair] for pair in stored}
    print(f"{len(stored) - len(run.returned_ok)} killed commands had committed before the kill")
    conn = sqlite3.connect(db)
    history = conn.execute("SELECT count(*) FROM answer_history").fetchone()[0]
    conn.close()
    assert history == len(stored)  # every stored answer has exactly its one history event, no half-writes
    check = caseaudit(db, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    after = caseaudit(db, "answer", "--round", ROUND, "S000001", "2.1.1", "Yes")
    assert after.returncode == 0, after.stderr


def test_eight_processes_writing_150_answers_each_at_once(tmp_path):
    # the full-size run (8 x 500) is benchmarks/reliability.py; eight writers at once is what is tested here
    run = load_run(tmp_path / "load.db", processes=8, answers_each=150)
    print(
        f"\n{run.processes} processes x {run.answers_each} answers: {run.stored} stored, {run.failed_commands} failed, {run.seconds:.1f} s"
    )
    assert run.failed_commands == 0
    assert run.stored == 8 * 150
    assert caseaudit(tmp_path / "load.db", "check").returncode == 0
