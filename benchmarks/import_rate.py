"""Import rate against the floor (issue 14): `caseaudit import` of a 20,000-case sheet, as a whole process.

    .venv/bin/python benchmarks/import_rate.py [--cases 20000] [--format csv|xlsx] [--keep DIR] [--also FOLDER] [--repeat N]

Builds a case sheet of ``--cases`` cases, every key question and prompt of the PDU framework
(hmip-probation-pdu-2021) answered (74 a case: 6 Yes : 3 No : 1 N/A, half the N/As with a reason)
and four attributes each (sentence type, gender, RoSH level, team). Then, on the same machine in the
same run, it measures:

- the floor: the same answers and one audit-trail (history) row each, written by plain
  ``sqlite3.executemany`` in one transaction (WAL, synchronous=FULL, answers clustered by case,
  one (round, question, value) index) -- what SQLite itself costs (``measure_floor``);
- ``caseaudit import SHEET --round NAME --unit UNIT`` into a new database, timed from process start to exit
  (parsing, validation, every history event, the commit).

It prints both rates in answers per second and their ratio (the target: at least 0.5), with the CPU
seconds each took: on a machine shared with other work the wall-clock ratio swings with the load,
the ratio of CPU seconds much less. ``--also FOLDER`` times another checkout (an older caseaudit) too.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAMEWORK = "hmip-probation-pdu-2021"
FLOOR_CASES_AT_A_TIME = 50_000  # the floor's rows are made (untimed) and written this many cases at a time: a 20,000 or
# 40,000-case floor in one executemany per table, a 250,000-case one in five (its rows would not fit in memory at once)
REASONS = (
    "No pre-sentence report prepared in the PDU",
    "Not a licence case",
    "No identifiable victim",
    "No breach or recall required",
)
ATTRIBUTES = {
    "sentence_type": ("Community order", "Suspended sentence order", "Licence", "Post-sentence supervision"),
    "gender": ("Male", "Female"),
    "rosh_level": ("Low", "Medium", "High", "Very high"),
    "team": tuple(f"Team {n}" for n in range(1, 7)),
}


def answered_questions() -> list[str]:
    """The PDU framework's key questions and prompts (its data items are left blank): 74 columns."""
    from framework import load_framework
    from framework.model import QuestionKind

    framework = load_framework(FRAMEWORK)
    return [q for q in framework.question_ids if framework.question(q).kind is not QuestionKind.DATA_ITEM]


def answer_cells(rng: random.Random, count: int) -> list[str]:
    cells = []
    for _ in range(count):
        value = rng.choices(("Yes", "No", "N/A"), (6, 3, 1))[0]
        if value == "N/A" and rng.random() < 0.5:
            value = f"N/A: {rng.choice(REASONS)}"
        cells.append(value)
    return cells


def sheet_rows(cases: int, questions: list[str], seed: int = 14):
    rng = random.Random(seed)
    yield ["case_ref", *ATTRIBUTES, *questions]
    for n in range(cases):
        yield [f"B{n:06d}", *(rng.choice(options) for options in ATTRIBUTES.values()), *answer_cells(rng, len(questions))]


def build_sheet(path: Path, cases: int) -> int:
    """Write the sheet (CSV or XLSX by extension); returns how many answers it holds."""
    questions = answered_questions()
    if path.suffix == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Cases")
        for row in sheet_rows(cases, questions):
            sheet.append(row)
        workbook.save(path)
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(sheet_rows(cases, questions))
    return cases * len(questions)


def measure_floor(cases: int, questions_per_case: int, path: str | Path) -> float:
    """Answers per second that plain sqlite3 reaches writing ``cases`` x ``questions_per_case`` answers
    and one history row each, with ``executemany`` in one transaction, into a new database at ``path``:
    WAL, synchronous=FULL, answers clustered by case (WITHOUT ROWID), one (round, question, value) index,
    and no other index, constraint or check. The values are those an import writes (a 32-digit round id,
    a full timestamp, reasons for half the N/As), made while the clock is stopped; the commit (and its
    fsync) is timed."""
    answers, seconds, _ = floor_run(cases, questions_per_case, path)
    return answers / seconds


def floor_run(cases: int, questions_per_case: int, path: str | Path) -> tuple[int, float, float]:
    """``measure_floor``'s run: (answers written, seconds, CPU seconds of this process).

    The rows are made FLOOR_CASES_AT_A_TIME cases at a time (a 250,000-case round's rows would not fit in memory at
    once) and only SQLite's work is timed: each ``executemany`` and the commit, in one transaction."""
    path = Path(path)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    # the values an import writes: a round's id (32 hex digits), question ids, the sheet's answers and
    # reasons, a timestamp as caseaudit stamps one, the auditor, "import:" and the sheet's name
    rng = random.Random(7)
    round_id = f"{rng.getrandbits(128):032x}"
    questions = [f"2.{n // 20 + 1}.{n % 20 // 5 + 1}{'abcde'[n % 5]}" for n in range(questions_per_case)]
    stamp, source = "2024-01-01T00:00:00.000000+00:00", "import:sheet.csv"

    def rows(first: int, last: int) -> tuple[list[tuple], list[tuple]]:
        count = (last - first + 1) * len(questions)
        values = rng.choices(("Yes", "No", "Not applicable"), (6, 3, 1), k=count)
        reasons = [rng.choice(REASONS) if v == "Not applicable" and rng.random() < 0.5 else None for v in values]
        ids = rng.randbytes(16 * count).hex()  # each event id: 32 random hex digits, as an import's
        answers, history = [], []
        n = 0
        for case_id in range(first, last + 1):
            for question in questions:
                value, reason, event_id = values[n], reasons[n], ids[32 * n : 32 * n + 32]
                answers.append((case_id, question, round_id, value, reason, None, "bench", stamp, event_id, None, 1))
                history.append(
                    (event_id, case_id, question, None, value, None, reason, None, None, "bench", source, stamp, None, 1)
                )
                n += 1
        return answers, history

    conn = sqlite3.connect(path, isolation_level=None)
    seconds = cpu = 0.0
    written = 0
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(
            "CREATE TABLE answers (case_id INTEGER NOT NULL, question_id TEXT NOT NULL, round_id TEXT NOT NULL,"
            " value TEXT, reason TEXT, note TEXT, auditor TEXT NOT NULL, answered_at TEXT NOT NULL, event_id TEXT,"
            " heads TEXT, generation INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (case_id, question_id)) WITHOUT ROWID"
        )
        conn.execute("CREATE INDEX answers_round_question ON answers(round_id, question_id, value)")
        conn.execute(
            "CREATE TABLE answer_history (id INTEGER PRIMARY KEY, event_id TEXT, case_id INTEGER NOT NULL,"
            " question_id TEXT NOT NULL, old_value TEXT, new_value TEXT, old_reason TEXT, new_reason TEXT, old_note TEXT,"
            " new_note TEXT, auditor TEXT NOT NULL, source TEXT NOT NULL, changed_at TEXT NOT NULL, based_on TEXT,"
            " generation INTEGER NOT NULL DEFAULT 1)"
        )
        conn.execute("BEGIN IMMEDIATE")
        for first in range(1, cases + 1, FLOOR_CASES_AT_A_TIME):
            answers, history = rows(first, min(cases, first + FLOOR_CASES_AT_A_TIME - 1))
            started, cpu_started = time.perf_counter(), time.process_time()
            conn.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", answers)
            conn.executemany(
                "INSERT INTO answer_history (event_id, case_id, question_id, old_value, new_value, old_reason, new_reason,"
                " old_note, new_note, auditor, source, changed_at, based_on, generation)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                history,
            )
            seconds += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            written += len(answers)
        started, cpu_started = time.perf_counter(), time.process_time()
        conn.execute("COMMIT")
        seconds += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
    finally:
        conn.close()
    return written, seconds, cpu


def time_import(sheet: Path, db: Path, *, root: Path = ROOT, python: str = sys.executable) -> tuple[float, float, str]:
    """``caseaudit import SHEET`` into a new database, as a whole process (start to exit), with the
    caseaudit found in ``root``: (seconds, CPU seconds of the process, what it printed)."""
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    # as an installed caseaudit runs: from compiled bytecode (see benchmarks/scale.py)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(root)}
    command = [python, "-m", "audit.cli", "--db", str(db), "--auditor", "bench", "import", str(sheet), "--round", "Bench"]
    command += ["--unit", "Benchmark PDU"]  # a new round is made with its unit
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # run from ``root``: ``python -m`` puts the working folder ahead of PYTHONPATH on the import path
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"caseaudit import failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return seconds, cpu, done.stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--keep", type=Path, help="build the sheet and databases in this folder and leave them there")
    parser.add_argument(
        "--also",
        type=Path,
        action="append",
        default=[],
        help="also time the caseaudit checked out in this folder (e.g. an older one)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="measure the floor and the import(s) this many times, in turn")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="caseaudit-import-rate-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        sheet = folder / f"sheet-{args.cases}.{args.format}"
        started = time.perf_counter()
        answers = build_sheet(sheet, args.cases)
        per_case = answers // args.cases
        print(
            f"sheet: {args.cases:,} cases x {per_case} answers = {answers:,} answers, "
            f"{sheet.stat().st_size / 1e6:.1f} MB {args.format.upper()}, built in {time.perf_counter() - started:.1f} s"
        )
        ratios: dict[Path, list[float]] = {root: [] for root in (ROOT, *args.also)}
        for run in range(1, args.repeat + 1):
            print(f"run {run}: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work slows both figures)")
            _, floor_seconds, floor_cpu = floor_run(args.cases, per_case, folder / "floor.db")
            floor = answers / floor_seconds
            print(
                f"  floor (sqlite3 executemany, one transaction): {floor:>9,.0f} answers/s "
                f"({floor_seconds:.2f} s, {floor_cpu:.2f} s CPU)"
            )
            for root in ratios:
                seconds, cpu, said = time_import(sheet, folder / "import.db", root=root)
                rate = answers / seconds
                label = "caseaudit import (whole process)" if root == ROOT else f"caseaudit import in {root}"
                print(f"  {label}: {rate:>9,.0f} answers/s ({seconds:.2f} s, {cpu:.2f} s CPU)  [{said}]")
                print(
                    f"    ratio to the floor: {rate / floor:.2f} (target >= 0.50); "
                    f"by CPU time, less swayed by other work: {floor_cpu / cpu:.2f}"
                )
                ratios[root].append(rate / floor)
        if args.repeat > 1:
            for root, found in ratios.items():
                label = "caseaudit import" if root == ROOT else f"caseaudit import in {root}"
                print(f"{label}: median ratio to the floor over {args.repeat} runs: {statistics.median(found):.2f}")


if __name__ == "__main__":
    main()
