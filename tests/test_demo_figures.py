"""Every prompt-level sentence mapped in data/demo/figures.toml holds in the demo data."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from audit.core.attributes import RESETTLEMENT_SENTENCE_TYPES
from audit.store import AuditStore
from audit.store.figures import summarise

FIGURES = tomllib.loads((Path(__file__).resolve().parents[1] / "data" / "demo" / "figures.toml").read_text(encoding="utf-8"))

COHORT_SQL = {
    "resettlement": (
        "c.sentence_type IN ({})".format(",".join("?" * len(RESETTLEMENT_SENTENCE_TYPES))),
        tuple(sorted(RESETTLEMENT_SENTENCE_TYPES)),
    ),
    "community": (
        "c.sentence_type NOT IN ({})".format(",".join("?" * len(RESETTLEMENT_SENTENCE_TYPES))),
        tuple(sorted(RESETTLEMENT_SENTENCE_TYPES)),
    ),
    "young adult": ("c.young_adult = ?", ("Yes",)),
}


def test_there_are_many_figures():
    assert len(FIGURES["figure"]) >= 50


@pytest.mark.parametrize("figure", FIGURES["figure"], ids=lambda f: f"{f['round'][:7]}-{f['question']}-{f.get('cohort', 'all')}")
def test_figure(demo_db, figure):
    with AuditStore.open(demo_db) as store:
        if "cohort" in figure:
            where, params = COHORT_SQL[figure["cohort"]]
            summary = summarise(store, store.round(figure["round"]), where=where, params=params)
        else:
            summary = summarise(store, store.round(figure["round"]))
    counts = summary.question(figure["question"]).counts
    assert (counts.yes, counts.no) == (figure["yes"], figure["no"]), figure["quote"]
    assert counts.not_applicable == figure.get("not_applicable", 0), figure["quote"]
    assert counts.unanswered == 0


def test_cohort_sizes_match_the_reports(demo_db):
    with AuditStore.open(demo_db) as store:
        newham = store.round("Newham 2022")
        rows = store.cases(newham)
        assert sum(r["sentence_type"] in RESETTLEMENT_SENTENCE_TYPES for r in rows) == 10
        assert sum(r["young_adult"] == "Yes" for r in rows) == 5
        assert len(store.cases(store.round("Lewisham and Bromley 2022"))) == 42


def test_newham_resettlement_cases_fare_worse(demo_db):
    """'work undertaken with people being released from prison was undertaken less well'."""
    with AuditStore.open(demo_db) as store:
        where, params = COHORT_SQL["resettlement"]
        licence = summarise(store, store.round("Newham 2022"), where=where, params=params)
        where, params = COHORT_SQL["community"]
        community = summarise(store, store.round("Newham 2022"), where=where, params=params)
    worse = [
        kq
        for kq in ("2.2.2", "2.2.3", "2.3.3", "2.4.2", "2.4.3")
        if licence.key_question(kq).percentage.exact < community.key_question(kq).percentage.exact
    ]
    assert len(worse) == 5


def test_lewisham_white_people_better_served_on_assessment(demo_db):
    """'Assessments for white people on probation were more likely to have a sufficient focus on the factors linked to offending'."""
    with AuditStore.open(demo_db) as store:
        white = summarise(store, store.round("Lewisham and Bromley 2022"), where="c.ethnicity = ?", params=("White",))
        minority = summarise(store, store.round("Lewisham and Bromley 2022"), where="c.ethnicity NOT IN ('White', 'Not stated')")
    assert white.key_question("2.2.2").percentage.exact > minority.key_question("2.2.2").percentage.exact
    assert white.key_question("2.4.1").percentage.exact > minority.key_question("2.4.1").percentage.exact
