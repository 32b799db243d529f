"""Report generation time for 40 and 40,000 cases (target: <= 2 s at 40,000).

    .venv/bin/python benchmarks/report_time.py [CASES ...]

Builds a round of random answers and attributes on a real database file (6 Yes : 3 No :
1 N/A, half the N/As with a reason, 5% of cases still in progress), then times
`caseaudit report` end to end in-process for each format: reading the store, the summary,
every breakdown, intervals, and writing the file. The largest size is also timed mid-audit
(half its cases in progress), where more cases are read answer by answer.
"""

from __future__ import annotations

import contextlib
import io
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.cli import main  # noqa: E402
from audit.core.attributes import ATTRIBUTES_BY_COLUMN  # noqa: E402
from audit.store import AuditStore, now, write_lock  # noqa: E402

REASONS = (
    "No pre-sentence report prepared in the PDU",
    "Not a licence case",
    "No identifiable victim",
    "No breach or recall required",
    "Accommodation not linked to offending",
)


def make_round(path: Path, cases: int, seed: int = 7, partly_answered: float = 0.05) -> None:
    """A round like a real one: answers 6 Yes : 3 No : 1 N/A, half the N/As with a reason, and
    ``partly_answered`` of the cases still in progress (a random number of questions left)."""
    rng = random.Random(seed)
    with AuditStore.open(path) as store:
        round_row = store.create_round("Bench", "Bench PDU", "hmip-probation-pdu-2021")
        questions = list(store.framework_for(round_row).question_ids)
        stamp = now()
        options = {
            c: ATTRIBUTES_BY_COLUMN[c].options
            for c in (
                "sentence_type",
                "rosh_level",
                "gender",
                "ethnicity",
                "young_adult",
                "mappa_level",
                "iom",
                "practitioner_grade",
            )
        }
        with write_lock(store.db):
            store.db["cases"].insert_all(
                (
                    {
                        "round_id": round_row.id,
                        "case_ref": f"B{n:06d}",
                        "created_at": stamp,
                        "team": f"Team {n % 6 + 1}",
                        **{c: rng.choice(o) for c, o in options.items()},
                    }
                    for n in range(cases)
                ),
                batch_size=2000,
            )
            ids = [r[0] for r in store.db.execute("SELECT id FROM cases WHERE round_id = ?", [round_row.id])]

            def answers():
                for case_id in ids:
                    answered = (
                        questions if rng.random() >= partly_answered else rng.sample(questions, rng.randrange(len(questions)))
                    )
                    for q in answered:
                        value = rng.choices(("Yes", "No", "Not applicable"), (6, 3, 1))[0]
                        reason = rng.choice(REASONS) if value == "Not applicable" and rng.random() < 0.5 else None
                        yield case_id, q, round_row.id, value, reason, stamp

            store.db.conn.executemany(
                "INSERT INTO answers (case_id, question_id, round_id, value, reason, auditor, answered_at) VALUES (?, ?, ?, ?, ?, 'bench', ?)",
                answers(),
            )


def time_reports(db: Path, out_dir: Path, label: str, formats) -> None:
    for fmt, suffix, extra in formats:
        out = out_dir / f"report.{suffix}"
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(["--db", str(db), "report", "--round", "Bench", "--format", fmt, *extra, "-o", str(out)])
            runs.append(time.perf_counter() - started)
            assert code == 0
        name = f"{fmt} {' '.join(extra) or ('(with case-level answers)' if fmt == 'xlsx' else '')}".strip()
        print(
            f"{label}: {name:<36} best {min(runs):.2f} s, worst {max(runs):.2f} s of 3, {out.stat().st_size / 1024:,.0f} KiB"
            " (target <= 2 s at 40,000)"
        )


ALL_FORMATS = (("html", "html", []), ("markdown", "md", []), ("xlsx", "xlsx", ["--no-cases"]), ("xlsx", "xlsx", []))


def main_benchmark(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for cases in sizes:
            db = Path(tmp) / f"bench-{cases}.db"
            started = time.perf_counter()
            make_round(db, cases)
            print(f"{cases:>6} cases: round built in {time.perf_counter() - started:.1f} s")
            time_reports(db, Path(tmp), f"{cases:>6} cases", ALL_FORMATS)
        cases = max(sizes)
        db = Path(tmp) / f"bench-{cases}-mid-audit.db"
        make_round(db, cases, partly_answered=0.5)
        time_reports(db, Path(tmp), f"{cases:>6} cases mid-audit", ALL_FORMATS[-1:])


if __name__ == "__main__":
    main_benchmark([int(a) for a in sys.argv[1:]] or [40, 40_000])
