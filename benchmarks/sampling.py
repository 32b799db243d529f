"""Time to draw a sample from a 250,000-case caseload (target: under 5 s).

    .venv/bin/python benchmarks/sampling.py [CASES]

Generates a caseload (the five strata's attributes in realistic shares, 400 practitioners in
40 teams, start dates over a year, a few cases that no stratum places), writes it as CSV, then
times `caseaudit sample` end to end in-process (reading and validating the CSV, drawing, writing
the sample CSV) and the pure algorithm alone (audit.core.sampling.draw_sample on the parsed cases).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.cli import main  # noqa: E402
from audit.cli.sampling import read_caseload  # noqa: E402
from audit.core.sampling import Window, draw_sample  # noqa: E402
from framework import load_framework  # noqa: E402

TODAY = dt.date(2022, 2, 1)


def make_caseload(path: Path, cases: int, seed: int = 11, practitioners: int = 400) -> None:
    rng = random.Random(seed)
    start = TODAY - dt.timedelta(days=365)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_ref", "gender", "sentence_type", "rosh_level", "practitioner", "team", "start_date", "ethnicity"])
        for n in range(cases):
            practitioner = rng.randrange(practitioners)
            writer.writerow(
                [
                    f"X{n:06d}",
                    rng.choices(["Male", "Female", "Not stated"], [85, 14, 1])[0],
                    rng.choices(
                        ["Community order", "Suspended sentence order", "Licence", "Post-sentence supervision"], [40, 22, 30, 8]
                    )[0],
                    rng.choices(["Low", "Medium", "High", "Very high"], [30, 50, 18, 2])[0],
                    f"Practitioner {practitioner}",
                    f"Team {practitioner % 40}",
                    (start + dt.timedelta(days=rng.randrange(365))).isoformat(),
                    rng.choice(["White", "Black", "Asian", "Mixed", "Other"]),
                ]
            )


def main_benchmark(cases: int) -> None:
    scheme = load_framework().sampling
    with tempfile.TemporaryDirectory() as folder:
        caseload = Path(folder) / "caseload.csv"
        make_caseload(caseload, cases)
        out = Path(folder) / "sample.csv"
        argv = ["--db", str(Path(folder) / "unused.db"), "sample", str(caseload), "--size", "40", "--seed", "1"]
        argv += ["--started-from", "2021-12-01", "--started-to", "2022-01-31", "-o", str(out)]
        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
        cli_seconds = time.perf_counter() - began
        assert status == 0, status

        parsed, _ = read_caseload(caseload, scheme)
        for label, window in (
            ("two-month window", Window(today=TODAY, started_from=dt.date(2021, 12, 1), started_to=dt.date(2022, 1, 31))),
            ("whole caseload", Window(today=TODAY)),
        ):
            began = time.perf_counter()
            sample = draw_sample(parsed, scheme, size=40, window=window, seed=1)
            seconds = time.perf_counter() - began
            print(f"pure draw_sample, {cases:,} cases, {label}: {seconds:.2f} s ({len(sample.cases)} drawn)")
    verdict = "ok" if cli_seconds < 5 else "OVER the 5 s target"
    print(f"caseaudit sample end to end (CSV in, CSV out), {cases:,} cases: {cli_seconds:.2f} s ({verdict})")


def crowded_benchmark(cases: int = 100_000, practitioners: int = 20_000, size: int = 20_000) -> None:
    """A hostile shape: many practitioners, a cap of one, so thousands of cases are given back and placed again."""
    scheme = load_framework().sampling
    with tempfile.TemporaryDirectory() as folder:
        caseload = Path(folder) / "caseload.csv"
        make_caseload(caseload, cases, practitioners=practitioners)
        parsed, _ = read_caseload(caseload, scheme)
        began = time.perf_counter()
        sample = draw_sample(parsed, scheme, size=size, cap=1, window=Window(today=TODAY), seed=1)
        seconds = time.perf_counter() - began
    print(
        f"pure draw_sample, {cases:,} cases, {practitioners:,} practitioners, size {size:,}, cap 1: {seconds:.2f} s "
        f"({len(sample.cases):,} drawn)"
    )


if __name__ == "__main__":
    main_benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 250_000)
    crowded_benchmark()
