"""Drivers for the kill and load tests, shared with benchmarks/reliability.py (which prints figures).

Everything here runs the real ``caseaudit`` command line against a real SQLite file.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[1]
ROUND = "Stress round"


def make_round(db: Path, cases: int) -> list[str]:
    """A round of ``cases`` cases with no answers; returns their references."""
    refs = [f"S{n:06d}" for n in range(1, cases + 1)]
    sheet = db.with_suffix(".cases.csv")
    sheet.write_text("case_ref,sentence_type\n" + "".join(f"{ref},Licence\n" for ref in refs))
    subprocess.run(
        [sys.executable, "-m", "audit.cli", "--db", str(db), "import", str(sheet), "--round", ROUND, "--unit", "Stress PDU"],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return refs


def question_ids() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from framework import load_framework

    return list(load_framework().question_ids)


@attrs.define
class KillRun:
    commands: int = 0
    kills: int = 0  # processes still running when SIGKILL was sent
    returned_ok: dict[tuple[str, str], str] = attrs.field(factory=dict)
    attempted: dict[tuple[str, str], str] = attrs.field(factory=dict)
    other_failures: list[str] = attrs.field(factory=list)
    seconds: float = 0.0


def kill_run(db: Path, *, commands: int, min_kills: int, seed: int = 2022, workers: int = 6) -> KillRun:
    """Run ``caseaudit answer`` processes, SIGKILLing about half at random moments.

    Each command answers its own (case, question) so the expected final state is exact.
    """
    rng = random.Random(seed)
    refs = make_round(db, cases=max(4, commands // 60 + 1))
    pairs = [(ref, q) for ref in refs for q in question_ids()]
    rng.shuffle(pairs)
    values = ["Yes", "No", "N/A: stress test"]
    run = KillRun()
    started = time.perf_counter()

    def one(index: int) -> tuple[str, tuple[str, str], str, int | None, bool]:
        ref, question = pairs[index]
        value = rng.choice(values)
        kill_after = rng.uniform(0.05, 0.45) if index % 2 == 0 else None
        proc = subprocess.Popen(
            [sys.executable, "-m", "audit.cli", "--db", str(db), "answer", "--round", ROUND, ref, question, value],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        killed = False
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                killed = True
        _, err = proc.communicate()
        return value, (ref, question), err.decode(), proc.returncode, killed

    index = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while index < commands or run.kills < min_kills:
            batch = list(pool.map(one, range(index, index + workers * 4)))
            index += len(batch)
            for value, pair, err, code, killed in batch:
                run.commands += 1
                run.kills += killed
                run.attempted[pair] = value
                if code == 0:
                    run.returned_ok[pair] = value
                elif not killed:
                    run.other_failures.append(f"{pair}: exit {code}: {err.strip()}")
            if index > commands * 4:
                break
    run.seconds = time.perf_counter() - started
    return run


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from audit.cli import main
db, start_at, pairs = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
while time.time() < start_at:
    time.sleep(0.001)
failed = 0
for pair in pairs:
    ref, question = pair.split("/")
    if main(["--db", db, "--auditor", "writer", "answer", "--round", {round!r}, ref, question, "Yes"]) != 0:
        failed += 1
print(failed)
"""


@attrs.define
class LoadRun:
    processes: int
    answers_each: int
    failed_commands: int
    stored: int
    seconds: float


def load_run(db: Path, *, processes: int = 8, answers_each: int = 500) -> LoadRun:
    """``processes`` processes start at the same moment, each running ``answers_each`` answer commands."""
    total = processes * answers_each
    questions = question_ids()
    refs = make_round(db, cases=-(-total // len(questions)))
    pairs = [f"{ref}/{q}" for ref in refs for q in questions][:total]
    start_at = time.time() + 1.5  # every process is up and waiting before the first write
    code = WRITER.format(root=str(ROOT), round=ROUND)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(db), str(start_at), *pairs[p::processes]],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(processes)
    ]
    failed = 0
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise AssertionError(f"writer process failed: {err[-2000:]}")
        failed += int(out.strip().splitlines()[-1])
    seconds = time.time() - start_at
    import sqlite3

    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT count(*) FROM answers WHERE value IS NOT NULL").fetchone()[0]
    conn.close()
    return LoadRun(processes=processes, answers_each=answers_each, failed_commands=failed, stored=stored, seconds=seconds)
