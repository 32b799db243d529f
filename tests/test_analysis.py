"""Breakdown, interval, sample-size and trend maths: hand-computed values and properties."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.core.analysis import (
    NOT_RECORDED,
    Grouping,
    build_breakdown,
    compare,
    groupings,
    sample_size,
    unsettled,
    wilson_interval,
    worst_case_margin,
)
from audit.store import AuditStore
from audit.store.figures import summarise

LEVEL = Fraction(95, 100)


# ------------------------------------------------------------------ intervals
@pytest.mark.parametrize(
    "yes, n, low, high",
    [
        # Wilson's interval, worked by hand: centre (p + z^2/2n) / (1 + z^2/n), half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
        (8, 10, 49.02, 94.33),
        (0, 10, 0.0, 27.75),
        (10, 10, 72.25, 100.0),
        (12, 33, 22.19, 53.38),  # Newham 2.2.3, 36%: centre 0.3779, half-width 0.1560
        (1, 1, 20.65, 100.0),
    ],
)
def test_wilson_interval_hand_computed(yes, n, low, high):
    interval = wilson_interval(yes, n, LEVEL)
    assert interval.low == pytest.approx(low, abs=0.01)
    assert interval.high == pytest.approx(high, abs=0.01)


def test_no_relevant_cases_has_no_interval():
    assert wilson_interval(0, 0, LEVEL) is None


@given(n=st.integers(1, 5000), data=st.data())
def test_interval_contains_the_estimate(n, data):
    yes = data.draw(st.integers(0, n))
    interval = wilson_interval(yes, n, LEVEL)
    assert 0 <= interval.low <= 100 * yes / n <= interval.high <= 100


@given(n=st.integers(1, 400), yes_fraction=st.fractions(0, 1), k=st.integers(2, 20))
def test_interval_shrinks_as_cases_grow(n, yes_fraction, k):
    yes = int(yes_fraction * n)
    small = wilson_interval(yes, n, LEVEL)
    large = wilson_interval(yes * k, n * k, LEVEL)
    assert large.high - large.low < small.high - small.low


def test_band_crossing_flag(framework):
    assert unsettled(framework, wilson_interval(12, 33, LEVEL))  # 22-53%: Inadequate or Requires improvement
    assert not unsettled(framework, wilson_interval(30, 1000, LEVEL))  # 2-4%: Inadequate either way
    assert not unsettled(framework, None)


def test_sample_size_hand_computed():
    # n = 93: half-width 1.96 sqrt(0.25/93 + 1.96^2/(4 x 93^2)) / (1 + 1.96^2/93) = 9.96 points; n = 92 gives 10.01
    result = sample_size(10, LEVEL)
    assert result.cases == 93
    assert worst_case_margin(93, LEVEL) <= 10 < worst_case_margin(92, LEVEL)
    # finite population: 93 / (1 + 92/300) = 71.2 -> 72
    assert sample_size(10, LEVEL, population=300).cases_from_population == 72
    assert sample_size(10, LEVEL, population=50).cases_from_population <= 50
    with pytest.raises(ValueError):
        sample_size(0, LEVEL)


@given(margin=st.floats(1, 40))
def test_sample_size_is_the_smallest_that_gives_the_margin(margin):
    n = sample_size(margin, LEVEL).cases
    assert worst_case_margin(n, LEVEL) <= margin
    assert n == 1 or worst_case_margin(n - 1, LEVEL) > margin


# ------------------------------------------------------------------ breakdowns
SENTENCE = next(g for g in groupings() if g.key == "resettlement")


def rows(*entries):
    """(sentence type, question, yes, no, n/a) -> grouped answer rows."""
    return [{"sentence_type": s, "question_id": q, "yes": y, "no": n, "not_applicable": a} for s, q, y, n, a in entries]


def test_breakdown_hand_computed(framework):
    answers = rows(
        ("Community order", "2.2.1", 8, 2, 0),  # community 8/10 = 80%
        ("Suspended sentence order", "2.2.1", 2, 0, 0),  # community now 10/12 = 83%
        ("Licence", "2.2.1", 3, 3, 1),  # resettlement 3/6 = 50%
        (None, "2.2.1", 1, 0, 0),
    )
    cases = [
        {"sentence_type": "Community order", "cases": 10},
        {"sentence_type": "Suspended sentence order", "cases": 2},
        {"sentence_type": "Licence", "cases": 7},
        {"sentence_type": None, "cases": 1},
    ]
    breakdown = build_breakdown(framework, SENTENCE, answers, cases, ["2.2.1"])
    labels = [g.label for g in breakdown.groups]
    assert labels == ["Community", "Licence / post-release (resettlement)", NOT_RECORDED]
    community, licence, unknown = breakdown.groups
    assert (community.cases, community.percentage("2.2.1").printed) == (12, 83)
    assert (licence.cases, licence.percentage("2.2.1").printed, licence.counts["2.2.1"].not_applicable) == (7, 50, 1)
    # community 83% against the rest (3+1)/(6+1) = 57%: 26 points; resettlement 50% against (10+1)/13 = 85%: 35 points.
    # Two groups: one difference, stated once, for the smaller group (6 relevant cases against 12)
    flagged = [(f.group, f.group_percent, f.rest_percent) for f in breakdown.flags]
    assert flagged == [("Licence / post-release (resettlement)", 50, 85)]
    assert breakdown.flags[0].sentence() == (
        "2.2.1 Does assessment focus sufficiently on engaging the person on probation? Licence / post-release "
        "(resettlement): 50% of 6 relevant cases against 85% of 13 for the rest, 35 points lower."
    )
    assert unknown.label == NOT_RECORDED and not breakdown.flagged(NOT_RECORDED, "2.2.1")


def test_no_flag_below_the_minimum_cases_or_the_gap(framework):
    few = rows(("Community order", "2.2.1", 4, 0, 0), ("Licence", "2.2.1", 0, 10, 0))  # 4 relevant community cases
    cases = [{"sentence_type": "Community order", "cases": 4}, {"sentence_type": "Licence", "cases": 10}]
    assert build_breakdown(framework, SENTENCE, few, cases, ["2.2.1"]).flags == ()
    close = rows(("Community order", "2.2.1", 6, 4, 0), ("Licence", "2.2.1", 5, 5, 0))  # 60% against 50%: exactly 10 points
    cases = [{"sentence_type": "Community order", "cases": 10}, {"sentence_type": "Licence", "cases": 10}]
    assert len(build_breakdown(framework, SENTENCE, close, cases, ["2.2.1"]).flags) == 1  # stated once, not both ways
    closer = rows(("Community order", "2.2.1", 6, 4, 0), ("Licence", "2.2.1", 6, 5, 0))  # 60% against 55%
    assert build_breakdown(framework, SENTENCE, closer, cases, ["2.2.1"]).flags == ()


VALUES = st.sampled_from(
    ["Community order", "Suspended sentence order", "Licence", "Post-sentence supervision", "Pre-release", None]
)


@settings(max_examples=200)
@given(
    case_list=st.lists(st.tuples(VALUES, st.sampled_from(["Yes", "No", "Not applicable", None])), min_size=0, max_size=60),
    grouping=st.sampled_from([g for g in groupings() if g.column == "sentence_type"]),
)
def test_groups_add_up_to_the_whole(framework, case_list, grouping: Grouping):
    answers: dict[tuple, dict] = {}
    cases: dict = {}
    for value, answer in case_list:
        cases[value] = cases.get(value, 0) + 1
        if answer is None:
            continue
        row = answers.setdefault(
            (value, "2.3.1"), {"sentence_type": value, "question_id": "2.3.1", "yes": 0, "no": 0, "not_applicable": 0}
        )
        row[{"Yes": "yes", "No": "no", "Not applicable": "not_applicable"}[answer]] += 1
    breakdown = build_breakdown(
        framework, grouping, list(answers.values()), [{"sentence_type": v, "cases": n} for v, n in cases.items()], ["2.3.1"]
    )
    assert sum(g.cases for g in breakdown.groups) == len(case_list)
    assert sum(g.counts["2.3.1"].yes for g in breakdown.groups) == sum(a == "Yes" for _, a in case_list)
    assert sum(g.counts["2.3.1"].no for g in breakdown.groups) == sum(a == "No" for _, a in case_list)
    assert sum(g.counts["2.3.1"].cases for g in breakdown.groups) == len(case_list)
    for flag in breakdown.flags:
        assert abs(flag.gap) >= framework.reporting.disproportion_points
        assert min(flag.group_relevant, flag.rest_relevant) >= framework.reporting.disproportion_min_cases


def test_store_breakdown_matches_filtered_summaries(demo_db):
    """The one-pass SQL breakdown equals a summary filtered to each group."""
    from audit.reports.model import build_report

    with AuditStore.open(demo_db) as store:
        report = build_report(store, store.round("Lewisham and Bromley 2022"), case_level=False)
        white = summarise(store, store.round("Lewisham and Bromley 2022"), where="c.ethnicity = ?", params=("White",))
        minority = summarise(store, store.round("Lewisham and Bromley 2022"), where="c.ethnicity NOT IN ('White', 'Not stated')")
    ethnicity = next(b for b in report.breakdowns if b.grouping.key == "ethnicity_group")
    groups = {g.label: g for g in ethnicity.groups}
    for kq in ("2.2.1", "2.2.2", "2.4.1", "2.5.3"):
        assert groups["White"].counts[kq].yes == white.key_question(kq).counts.yes
        assert groups["White"].counts[kq].no == white.key_question(kq).counts.no
        assert groups["Ethnic minority"].counts[kq].yes == minority.key_question(kq).counts.yes
        assert groups["Ethnic minority"].counts[kq].relevant == minority.key_question(kq).counts.relevant
    assert groups["White"].cases == white.cases and groups["Ethnic minority"].cases == minority.cases


# ------------------------------------------------------------------ trend
def test_trend_hand_computed(demo_db):
    with AuditStore.open(demo_db) as store:
        now = summarise(store, store.round("Newham 2022"))
        before = summarise(store, store.round("Lewisham and Bromley 2022"))
    comparison = compare(now, before)
    changes = {k.id: k for k in comparison.key_questions}
    assert (changes["2.2.1"].before, changes["2.2.1"].now, changes["2.2.1"].points) == (43, 64, 21)
    assert (changes["2.4.3"].points, changes["2.5.3"].points) == (27 - 19, 30 - 24)
    assert changes["2.2.1"].band_before.value == "Inadequate" and changes["2.2.1"].band_now.value == "Requires improvement"
    standards = {s.id: s for s in comparison.standards}
    assert standards["1.2"].changed and not standards["2.2"].changed
    assert comparison.score_before == (4, 24) and comparison.score_now == (6, 24)
