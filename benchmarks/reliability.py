"""Print the reliability figures of issue 4: SIGKILLed answer commands and eight concurrent writers.

    .venv/bin/python benchmarks/reliability.py

Uses the same drivers as tests/test_concurrency.py, on a real database file in a temporary folder.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.stress import kill_run, load_run  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "killed.db"
        run = kill_run(db, commands=300, min_kills=60)
        conn = sqlite3.connect(db)
        stored = dict(
            ((r, q), v)
            for r, q, v in conn.execute(
                "SELECT c.case_ref, a.question_id, CASE WHEN a.value = 'Not applicable' THEN 'N/A: ' || a.reason ELSE a.value END"
                " FROM answers a JOIN cases c ON c.id = a.case_id WHERE a.value IS NOT NULL"
            )
        )
        conn.close()
        lost = [p for p, v in run.returned_ok.items() if stored.get(p) != v]
        print(
            f"kill test: {run.commands} 'caseaudit answer' commands, {run.kills} SIGKILLed while running, "
            f"{len(run.returned_ok)} returned 0, {len(lost)} of those lost, {len(run.other_failures)} other failures, {run.seconds:.1f} s"
        )
        load = load_run(Path(tmp) / "load.db", processes=8, answers_each=500)
        print(
            f"load test: {load.processes} processes x {load.answers_each} answers at once: {load.stored} stored, "
            f"{load.failed_commands} failed commands, {load.seconds:.1f} s ({load.stored / load.seconds:.0f} committed answers/s)"
        )


if __name__ == "__main__":
    main()
