"""Report generation time for 40 and 40,000 cases (target: <= 2 s at 40,000).

    .venv/bin/python benchmarks/report_time.py [CASES ...]

Builds a round of random (but complete) answers and random attributes on a real
database file, then times `caseaudit report` end to end in-process for each format:
reading the store, the summary, every breakdown, intervals, and writing the file.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.attributes import ATTRIBUTES_BY_COLUMN  # noqa: E402
from audit.cli import main  # noqa: E402
from audit.store import AuditStore, now, write_lock  # noqa: E402


def make_round(path: Path, cases: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with AuditStore.open(path) as store:
        round_row = store.create_round("Bench", "Bench PDU", "hmip-probation-pdu-2021")
        questions = list(store.framework_for(round_row).question_ids)
        stamp = now()
        options = {c: ATTRIBUTES_BY_COLUMN[c].options for c in ("sentence_type", "rosh_level", "gender", "ethnicity", "young_adult",
                                                                  "mappa_level", "iom", "practitioner_grade")}
        with write_lock(store.db):
            store.db["cases"].insert_all(
                ({"round_id": round_row["id"], "case_ref": f"B{n:06d}", "created_at": stamp, "team": f"Team {n % 6 + 1}",
                  **{c: rng.choice(o) for c, o in options.items()}} for n in range(cases)),
                batch_size=2000,
            )
            ids = [r[0] for r in store.db.execute("SELECT id FROM cases WHERE round_id = ?", [round_row["id"]])]
            store.db.conn.executemany(
                "INSERT INTO answers (case_id, question_id, round_id, value, auditor, answered_at) VALUES (?, ?, ?, ?, 'bench', ?)",
                ((case_id, q, round_row["id"], rng.choices(("Yes", "No", "Not applicable"), (6, 3, 1))[0], stamp)
                 for case_id in ids for q in questions),
            )


def main_benchmark(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for cases in sizes:
            db = Path(tmp) / f"bench-{cases}.db"
            started = time.perf_counter()
            make_round(db, cases)
            print(f"{cases:>6} cases: round built in {time.perf_counter() - started:.1f} s")
            for fmt, suffix, extra in (("html", "html", []), ("markdown", "md", []), ("xlsx", "xlsx", ["--no-cases"]), ("xlsx", "xlsx", [])):
                out = Path(tmp) / f"report-{cases}.{suffix}"
                runs = []
                for _ in range(3 if cases <= 1000 else 1):
                    started = time.perf_counter()
                    code = main(["--db", str(db), "report", "--round", "Bench", "--format", fmt, *extra, "-o", str(out)])
                    runs.append(time.perf_counter() - started)
                    assert code == 0
                label = f"{fmt} {' '.join(extra) or ('(with case-level answers)' if fmt == 'xlsx' else '')}".strip()
                print(f"{cases:>6} cases: {label:<36} {min(runs):.2f} s, {out.stat().st_size / 1024:.0f} KiB (target <= 2 s at 40,000)")


if __name__ == "__main__":
    main_benchmark([int(a) for a in sys.argv[1:]] or [40, 40_000])
