"""Load the demo rounds that reproduce the two published 2022 reports."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

from audit.core.answers import parse_rating
from audit.core.summary import case_supervision_ratings
from audit.errors import CaseauditError, UnknownRound
from audit.sheets.case_sheet import import_sheet
from audit.store import AuditStore, write_lock
from audit.store.figures import summarise

DEMO_DIR_ENV = "CASEAUDIT_DEMO_DIR"


def demo_dir() -> Path:
    """CASEAUDIT_DEMO_DIR if set; else the copy a wheel installs as audit/demo_data; else the checkout's data/demo."""
    if os.environ.get(DEMO_DIR_ENV):
        return Path(os.environ[DEMO_DIR_ENV])
    here = Path(__file__).resolve().parent
    installed = here / "demo_data"  # pyproject.toml maps data/demo to the package audit.demo_data
    if (installed / "figures.toml").is_file():
        return installed
    return here.parent / "data" / "demo"


def demo_spec() -> dict:
    path = demo_dir() / "figures.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CaseauditError(f"{path}: demo data not found ({error.strerror}); set {DEMO_DIR_ENV}") from None


def load_demo(store: AuditStore) -> Iterator[str]:
    """Import each demo round not already present, with its domain-1 ratings. Idempotent."""
    for spec in demo_spec()["round"]:
        name = spec["name"]
        try:
            loaded = store.round(name, removed_ok=True)
            yield f"{name}: already loaded" + (" (removed: restore it with 'caseaudit restore-round')" if loaded.removed else "")
            continue
        except UnknownRound:
            pass
        with write_lock(store.db):
            result = import_sheet(store, demo_dir() / spec["sheet"], name, unit=spec["unit"], auditor="demo")
            round_row = store.round_by_id(result.round_id)
            summary = summarise(store, round_row)
            for rating in spec.get("rating", []):
                store.rate_standard(
                    round_row,
                    rating["standard"],
                    parse_rating(rating["rating"]),
                    case_ratings=case_supervision_ratings(summary),
                    evidence=rating.get("evidence"),
                    override_reason=rating.get("override_reason"),
                    rater="demo",
                )
        yield f"{name}: loaded {result.cases_added} cases and {len(spec.get('rating', []))} domain-1 ratings"
