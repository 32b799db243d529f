"""TUI figures, measured through Textual's pilot (and, for launch, the whole process).

    .venv/bin/python benchmarks/tui_latency.py

Prints:
- key press -> answer committed and the screen repainted: median and 95th percentile
  (targets: median <= 15 ms, p95 <= 50 ms);
- launch to the first interactive screen, whole process (target <= 1.0 s);
- key presses to audit one complete case of the shipped framework
  (target: one per question, plus one per N/A reason, plus at most 5);
- time to open the cases screen of a 5,000-case round (target <= 1 s).
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.store import AuditStore, write_lock  # noqa: E402
from audit.tui.app import CaseAuditApp  # noqa: E402
from audit.tui.screens.cases import CasesScreen  # noqa: E402
from framework.model import DataItem  # noqa: E402


def make_round(path: Path, cases: int) -> None:
    with AuditStore.open(path) as store:
        round_row = store.create_round("Bench", "Bench PDU", "hmip-probation-pdu-2021")
        with write_lock(store.db):
            store.db["cases"].insert_all(
                (
                    {
                        "round_id": round_row.id,
                        "case_ref": f"B{i:06d}",
                        "sentence_type": "Licence",
                        "rosh_level": "High",
                        "practitioner": f"P{i % 40:02d}",
                        "created_at": "2026-01-01",
                    }
                    for i in range(cases)
                ),
                batch_size=1000,
            )


COMMIT_TIMES: list[float] = []


async def key_to_commit_latency(path: Path, presses: int = 300) -> list[float]:
    """Send each key event to the app's driver as a terminal would, then time until the
    answer is committed and the compositor has repainted the screen after that commit.

    The pilot's press()/pause() are not used for timing: they wait for idle in 20 ms steps.
    """
    from textual import events

    app = CaseAuditApp(path, round_name="Bench", case_ref="B000000")
    timings = []
    commit_times = COMMIT_TIMES
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        marks = {"commit": None, "paint": None}
        original_commit, original_refresh = screen.commit, screen._compositor_refresh

        def commit(*args, **kwargs):
            result = original_commit(*args, **kwargs)
            marks["commit"] = time.perf_counter()
            return result

        def refresh(*args, **kwargs):
            result = original_refresh(*args, **kwargs)
            if marks["commit"] is not None and marks["paint"] is None:
                marks["paint"] = time.perf_counter()
            return result

        screen.commit, screen._compositor_refresh = commit, refresh
        for i in range(presses):
            if screen.first_unanswered(0) is None:
                for question in screen.questions:
                    original_commit(question.id, None, advance=False)
                screen.move_to(0)
                await pilot.pause()
            marks.update(commit=None, paint=None)
            key = "y" if i % 2 else "n"
            event = events.Key(key, key)
            event.set_sender(app)
            start = time.perf_counter()
            app._driver.send_message(event)
            while marks["paint"] is None and time.perf_counter() - start < 5:
                await asyncio.sleep(0)
            timings.append((marks["paint"] - start) * 1000)
            commit_times.append((marks["commit"] - start) * 1000)
            await pilot.pause()
    return timings


async def keys_for_a_case(path: Path) -> tuple[int, int, int]:
    app = CaseAuditApp(path, round_name="Bench", case_ref="B000001")
    keys = reasons = 0
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("m", "n", "o", "enter")  # court work: the whole standard N/A, reason "no"
        keys += 4
        reasons += 1
        while screen.first_unanswered(0) is not None:
            question = screen.focused_question
            if isinstance(question, DataItem):
                await pilot.press("x", "r", "enter")
                keys += 3
                reasons += 1
            else:
                await pilot.press("y")
                keys += 1
            await pilot.pause()
    return keys, len(screen.questions), reasons


async def open_cases_screen(path: Path) -> float:
    app = CaseAuditApp(path)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        elapsed = time.perf_counter() - start
        assert isinstance(app.screen, CasesScreen) and app.screen.query_one("#cases").row_count == 5000
    return elapsed


def launch_time(path: Path, runs: int = 5) -> list[float]:
    """Whole process: start `caseaudit open` in a pseudo-terminal until the case screen has painted."""
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["TERM"] = "xterm-256color"
            os.execv(
                sys.executable,
                [sys.executable, "-m", "audit.cli", "--db", str(path), "open", "--round", "Bench", "--case", "B000002"],
            )
        buffer = b""
        while time.perf_counter() - start < 20:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    buffer += os.read(fd, 65536)
                except OSError:
                    break
                if re.search(rb"Yes.{0,80}No.{0,80}N/A", buffer) and b"B000002" in buffer:
                    break
        results.append(time.perf_counter() - start)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.db"
        make_round(small, 3)
        timings = asyncio.run(key_to_commit_latency(small))
        p95 = statistics.quantiles(timings, n=20)[18]
        print(
            f"key press -> committed and repainted: median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms "
            f"over {len(timings)} presses (targets: median <= 15 ms, p95 <= 50 ms)"
        )
        print(
            f"  of which key press -> committed: median {statistics.median(COMMIT_TIMES):.1f} ms; "
            f"the rest is repainting the changed lines and waiting for the next frame (TEXTUAL_FPS={os.environ.get('TEXTUAL_FPS', 'default')})"
        )
        keys, questions, reasons = asyncio.run(keys_for_a_case(small))
        print(
            f"keys to audit one complete case: {keys} for {questions} questions and {reasons} N/A reasons "
            f"(target: <= {questions + reasons + 5})"
        )
        launches = launch_time(small)
        print(
            f"launch to first interactive case screen (whole process): median {statistics.median(launches):.2f} s, "
            f"max {max(launches):.2f} s over {len(launches)} runs (target <= 1.0 s)"
        )
        big = Path(tmp) / "big.db"
        make_round(big, 5000)
        elapsed = asyncio.run(open_cases_screen(big))
        print(f"open the cases screen of a 5,000-case round: {elapsed:.2f} s (target <= 1 s)")


if __name__ == "__main__":
    main()
