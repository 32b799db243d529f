"""National scale (issue 14): every figure of rounds of 40, 4,000, 40,000 and 250,000 cases.

    PYTHONPATH=. .venv/bin/python benchmarks/scale.py [--sizes 40,4000,40000,250000] [--import-up-to N] [--keep DIR]

For each size, a round of the PDU framework (hmip-probation-pdu-2021; every key question and prompt
answered, a realistic mix of attributes: benchmarks/scale_round.py) and a caseload of as many cases
(benchmarks/sampling.py's). It prints:

- the import rate (answers a second, `caseaudit import` of the round's case sheet as a whole process)
  and its ratio to the floor measured in the same run at the same size (`measure_floor` from
  benchmarks/import_rate.py, in a child process of its own). Every size is imported unless --import-up-to N says otherwise: larger
  rounds are then written straight through the schema, as an import records them (`caseaudit check`
  passes on them: tests/test_scale.py);
- `caseaudit summary`, and the HTML, Markdown and XLSX (with its case-level sheet) reports: whole
  process times (best and median of runs) and peak memory (the child's max RSS, from os.wait4);
- the TUI's cases screen: time to open it from the rounds screen, and filter-as-you-type time per key
  (Textual's pilot, headless, in a child process);
- `caseaudit sample` of a caseload of that size (whole process);
- start-up: a 40-case `caseaudit summary` against a bare `python -c "import sqlite3, json"`.

Targets at 250,000 cases: summary <= 1.5 s; HTML report <= 4 s; peak memory of summary and reports
<= 400 MB; XLSX report with its case-level sheet <= 20 s; cases screen open <= 1 s and filtering
<= 100 ms a key. Start-up: within 6x the bare interpreter. All four sizes within 20 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCHMARKS))

import scale_round  # noqa: E402

PYTHON = sys.executable
# each command runs as an installed caseaudit runs: from its compiled bytecode (pip writes it at install;
# a setting that stops Python writing it would have every command compile every module again)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(PYTHONPATH=str(ROOT), CASEAUDIT_AUDITOR="scale-bench")
TARGET_SIZE = 250_000
MB = 1024  # max RSS is in KiB on Linux


# ------------------------------------------------------------------ running a child process
TIME = Path("/usr/bin/time")


def run_child(argv: list[str], *, stdout=subprocess.DEVNULL, meanwhile=None) -> tuple[float, float, Any]:
    """(seconds, peak memory in MB, what ``meanwhile()`` returned) of one whole process; exits the benchmark
    if the command fails. ``meanwhile``: work this process does while the child runs (the child's time is
    taken when it exits, by a thread waiting for it).

    The peak is the child's max RSS as /usr/bin/time reports it: a child forked straight from this
    process would count this process's own memory in its peak (Linux keeps the high-water mark across
    the exec), and this process holds a built round's rows."""
    with tempfile.NamedTemporaryFile() as measured, tempfile.TemporaryFile() as errors:
        wrapped = [str(TIME), "-f", "%M", "-o", measured.name, *argv] if TIME.exists() else argv
        started = time.perf_counter()
        child = subprocess.Popen(wrapped, stdout=stdout, stderr=errors, env=ENV, cwd=ROOT)
        ended: list[float] = []
        waiter = threading.Thread(target=lambda: (child.wait(), ended.append(time.perf_counter())))
        waiter.start()
        done = meanwhile() if meanwhile is not None else None
        waiter.join()
        seconds = ended[0] - started
        if child.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(map(str, argv[2:]))} failed ({child.returncode}): {errors.read().decode()[-2000:]}")
        text = Path(measured.name).read_text().strip()
    peak_kb = float(text.splitlines()[-1]) if text else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / MB, done


def caseaudit(db: Path, *args) -> list[str]:
    return [PYTHON, "-m", "audit.cli", "--db", str(db), *map(str, args)]


def timed(argv: list[str], runs: int, before=None) -> tuple[float, float, float]:
    """(best, median, peak memory MB) over ``runs`` whole-process runs; ``before`` runs before each."""
    seconds, peaks = [], []
    for _ in range(runs):
        if before is not None:
            before()
        elapsed, peak, _ = run_child(argv)
        seconds.append(elapsed)
        peaks.append(peak)
    return min(seconds), statistics.median(seconds), max(peaks)


def verdict(value: float, target: float, cases: int, unit: str = "s") -> str:
    if cases != TARGET_SIZE:
        return ""
    return f"  [target <= {target:g} {unit}: {'met' if value <= target else 'NOT MET'}]"


# ------------------------------------------------------------------ the import floor
FLOOR_NAME = "benchmarks/import_rate.py measure_floor, in its own process"


def import_floor(cases: int, questions_per_case: int, path: Path) -> float:
    """The floor's rate (answers a second; benchmarks/import_rate.py's ``measure_floor``), measured in a
    child process: its rows (gigabytes at 250,000 cases) are made and freed there, not in this process,
    which goes on to time the big round's summary and reports."""
    done = subprocess.run(
        [PYTHON, __file__, "--measure-floor", str(path), "--cases", str(cases), "--questions", str(questions_per_case)],
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the floor failed: {done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the TUI, in a child process
async def _cases_screen(db: Path, typed: str) -> dict:
    from textual import events
    from textual.widgets import Input

    from audit.tui.app import CaseAuditApp
    from audit.tui.screens.cases import CasesScreen
    from audit.tui.widgets.line_table import LineTable

    app = CaseAuditApp(db)
    async with app.run_test(size=(100, 32)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        # opened: from the key that opens the round to the first paint of the cases screen with its cases
        # listed (a big round's first screenful). The key is sent as a terminal sends it, not through
        # pilot.press, which returns only once the app is idle (after every case has been read)
        painted_at: list[float] = []
        paint = CasesScreen._compositor_refresh

        def first_paint(screen, *args, **kwargs):
            result = paint(screen, *args, **kwargs)
            if screen.loaded and not painted_at:
                painted_at.append(time.perf_counter())
            return result

        CasesScreen._compositor_refresh = first_paint  # type: ignore[method-assign]
        enter = events.Key("enter", "\r")
        enter.set_sender(app)
        started = time.perf_counter()
        app._driver.send_message(enter)  # the rounds screen: open the round
        while not painted_at and time.perf_counter() - started < 60:
            await asyncio.sleep(0.001)
        opened = (painted_at[0] if painted_at else time.perf_counter()) - started
        CasesScreen._compositor_refresh = paint  # type: ignore[method-assign]
        screen = app.screen
        while screen.listed_of is not None:
            await asyncio.sleep(0.001)
        await pilot.pause()
        listed = time.perf_counter() - started  # every case is listed, and the filter searches them all
        table = screen.query_one("#cases", LineTable)
        cases = table.row_count
        await pilot.press("slash")
        await pilot.pause()
        marks: dict[str, float | None] = {"filtered": None, "painted": None}
        original_set_rows, original_refresh = table.set_rows, screen._compositor_refresh

        def set_rows(*args, **kwargs):  # the filter's last step: the table takes the rows it shows
            result = original_set_rows(*args, **kwargs)
            marks["filtered"] = time.perf_counter()
            return result

        def refresh(*args, **kwargs):
            result = original_refresh(*args, **kwargs)
            if marks["filtered"] is not None and marks["painted"] is None:
                marks["painted"] = time.perf_counter()
            return result

        table.set_rows, screen._compositor_refresh = set_rows, refresh
        filtered, painted = [], []
        for key in typed:
            marks.update(filtered=None, painted=None)
            event = events.Key(key, key)
            event.set_sender(app)
            start = time.perf_counter()
            app._driver.send_message(event)
            while marks["painted"] is None and time.perf_counter() - start < 10:
                await asyncio.sleep(0)
            filtered.append(((marks["filtered"] or start) - start) * 1000)
            painted.append(((marks["painted"] or time.perf_counter()) - start) * 1000)
            await pilot.pause()
        shown = table.row_count
        assert screen.query_one("#filter", Input).value == typed
    return {"open": opened, "listed": listed, "cases": cases, "filtered_ms": filtered, "painted_ms": painted, "shown": shown}


def measure_tui(db: Path, typed: str) -> dict:
    """The cases screen's figures, measured in a child process (its own memory and start)."""
    done = subprocess.run(
        [PYTHON, __file__, "--measure-tui", str(db), "--typed", typed], env=ENV, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"TUI measurement failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ one size
def one_size(cases: int, folder: Path, *, import_it: bool, runs: int) -> None:
    questions = len(scale_round.answered_questions())
    answers = cases * questions
    print(f"\n{cases:,} cases ({answers:,} answers: {questions} a case)", flush=True)
    db = folder / f"scale-{cases}.db"
    for leftover in folder.glob(f"scale-{cases}.db*"):
        leftover.unlink()
    if import_it:
        sheet = folder / f"scale-{cases}.csv"
        scale_round.write_case_sheet(sheet, cases)
        # the import and the floor side by side, one core each: under the same load, and the run's time halved
        seconds, peak, floor_rate = run_child(
            caseaudit(db, "import", sheet, "--round", "Scale", "--unit", "Scale PDU"),
            meanwhile=lambda: import_floor(cases, questions, folder / f"floor-{cases}.db"),
        )
        rate = answers / seconds
        for leftover in folder.glob(f"floor-{cases}.db*"):
            leftover.unlink()
        print(
            f"  import (caseaudit import, whole process): {seconds:.1f} s, {rate:,.0f} answers/s, peak {peak:,.0f} MB;"
            f" floor {floor_rate:,.0f} answers/s ({FLOOR_NAME}; the two run side by side); ratio {rate / floor_rate:.2f}",
            flush=True,
        )
        sheet.unlink()
    else:
        started = time.perf_counter()
        scale_round.build_round_directly(db, cases, name="Scale")
        print(
            f"  import not timed at this size (see --import-up-to): round written through the schema"
            f" in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    if cases <= 4000:
        seconds, _, _ = run_child(caseaudit(db, "check"))
        print(f"  caseaudit check: all well ({seconds:.1f} s)", flush=True)
    print(f"  database file: {db.stat().st_size / 2**20:,.0f} MB", flush=True)

    best, median, peak = timed(caseaudit(db, "summary", "--round", "Scale"), runs)
    print(
        f"  caseaudit summary (whole process): best {best:.2f} s, median {median:.2f} s of {runs}; peak memory {peak:,.0f} MB"
        f"{verdict(best, 1.5, cases)}{verdict(peak, 400, cases, 'MB')}",
        flush=True,
    )
    for fmt, suffix, target, report_runs in (
        ("html", "html", 4.0, runs),
        ("markdown", "md", None, runs),
        ("xlsx", "xlsx", 20.0, 1 if cases >= 40_000 else runs),
    ):
        out = folder / f"report-{cases}.{suffix}"

        def remove(out=out):
            out.unlink(missing_ok=True)

        best, median, peak = timed(caseaudit(db, "report", "--round", "Scale", "-o", out), report_runs, before=remove)
        size = out.stat().st_size / 2**20
        label = f"{fmt} report" + (" with its case-level sheet" if fmt == "xlsx" else "")
        print(
            f"  {label} (whole process): best {best:.2f} s, median {median:.2f} s of {report_runs}; peak memory {peak:,.0f} MB;"
            f" {size:,.1f} MB file{verdict(best, target, cases) if target else ''}{verdict(peak, 400, cases, 'MB')}",
            flush=True,
        )
        remove()

    tui = measure_tui(db, "licence")
    filtered, painted = tui["filtered_ms"], tui["painted_ms"]
    print(
        f"  TUI cases screen ({tui['cases']:,} cases): opens, its first cases shown, in {tui['open']:.2f} s"
        f"{verdict(tui['open'], 1.0, cases)}; every case listed (and the filter searching them all) in {tui['listed']:.2f} s",
        flush=True,
    )
    print(
        f"  TUI filter as you type ('licence', {len(painted)} keys, {tui['shown']:,} shown at the end): key -> filtered"
        f" median {statistics.median(filtered):.0f} ms, worst {max(filtered):.0f} ms; key -> repainted median"
        f" {statistics.median(painted):.0f} ms, worst {max(painted):.0f} ms{verdict(max(painted), 100, cases, 'ms')}",
        flush=True,
    )

    import sampling  # benchmarks/sampling.py: the caseload generator

    caseload = folder / f"caseload-{cases}.csv"
    sampling.make_caseload(caseload, cases)
    out = folder / f"sample-{cases}.csv"
    out.unlink(missing_ok=True)
    seconds, peak, _ = run_child(caseaudit(folder / "unused.db", "sample", caseload, "--size", "40", "--seed", "1", "-o", out))
    print(f"  caseaudit sample of a {cases:,}-case caseload (whole process): {seconds:.2f} s, peak memory {peak:,.0f} MB")
    caseload.unlink()
    out.unlink(missing_ok=True)


def start_up(folder: Path, runs: int = 10) -> None:
    db = folder / "start-up.db"
    if not db.exists():
        scale_round.build_round_directly(db, 40, name="Scale")
    run_child(caseaudit(db, "summary", "--round", "Scale"))  # once first: its bytecode written, as installed
    bare, _, _ = timed([PYTHON, "-c", "import sqlite3, json"], runs)
    summary, _, _ = timed(caseaudit(db, "summary", "--round", "Scale"), runs)
    ratio = summary / bare
    print(
        f"\nstart-up: 40-case caseaudit summary best {summary * 1000:.0f} ms, bare python -c 'import sqlite3, json'"
        f" best {bare * 1000:.0f} ms (of {runs}): {ratio:.1f}x  [target <= 6x: {'met' if ratio <= 6 else 'NOT MET'}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="40,4000,40000,250000", help="comma-separated round sizes (cases)")
    parser.add_argument(
        "--import-up-to",
        type=int,
        default=None,
        help="time `caseaudit import` only for rounds up to this size (default: every size); larger rounds are"
        " written straight through the schema (quicker, for looking at the other figures)",
    )
    parser.add_argument("--runs", type=int, default=3, help="whole-process runs of summary and reports (best and median)")
    parser.add_argument("--keep", type=Path, help="build in this folder and leave the databases there")
    parser.add_argument("--measure-tui", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--typed", default="licence", help=argparse.SUPPRESS)
    parser.add_argument("--measure-floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--questions", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_tui:
        print(json.dumps(asyncio.run(_cases_screen(args.measure_tui, args.typed))))
        return
    if args.measure_floor:
        from import_rate import measure_floor  # benchmarks/import_rate.py

        print(measure_floor(args.cases, args.questions, args.measure_floor))
        return
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    began = time.perf_counter()
    print(f"caseaudit at national scale: sizes {', '.join(f'{s:,}' for s in sizes)}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="caseaudit-scale-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start_up(folder)
        for cases in sizes:
            one_size(
                cases,
                folder,
                import_it=args.import_up_to is None or cases <= args.import_up_to,
                runs=args.runs,
            )
    print(f"\nall sizes in {(time.perf_counter() - began) / 60:.1f} minutes (target: within 20); load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
