"""The scoring rules: hand-checked values and hypothesis properties."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import Rating
from framework.model import BandBasis
from framework.rules import (
    AnswerCounts,
    advisory_cap,
    band,
    exceeds_cap,
    judgement_disagrees,
    overall_rating,
    percent_yes,
    round_half_up,
    score,
    standard_result,
)

counts = st.integers(min_value=0, max_value=500)


# ------------------------------------------------------------------ rounding
@pytest.mark.parametrize(
    "yes,no,printed",
    [
        (15, 25, 38),
        (1, 7, 13),
        (21, 12, 64),
        (16, 17, 48),
        (12, 21, 36),
        (9, 42 - 9, 21),
        (0, 5, 0),
        (5, 0, 100),
        (1, 1, 50),
        (1, 199, 1),
    ],
)
def test_published_roundings(yes, no, printed):
    assert percent_yes(yes, no).printed == printed


def test_halves_round_up_not_to_even():
    assert round_half_up(Fraction(25, 2)) == 13
    assert round_half_up(Fraction(5, 2)) == 3  # Python's round(2.5) is 2
    assert round(2.5) == 2


def test_no_relevant_cases_has_no_percentage():
    assert percent_yes(0, 0) is None


@given(yes=counts, no=counts)
def test_percentage_matches_decimal_half_up(yes, no):
    p = percent_yes(yes, no)
    if yes + no == 0:
        assert p is None
        return
    reference = (Decimal(100 * yes) / Decimal(yes + no)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert p.printed == int(reference)
    assert 0 <= p.printed <= 100
    assert 0 <= p.exact <= 100


@given(yes=counts, no=counts, na=counts)
def test_not_applicable_answers_never_change_a_percentage(yes, no, na):
    a = AnswerCounts(yes=yes, no=no, not_applicable=0)
    b = AnswerCounts(yes=yes, no=no, not_applicable=na)
    assert percent_yes(a.yes, a.no) == percent_yes(b.yes, b.no)


@given(yes=counts, no=counts)
def test_one_more_yes_never_lowers_a_percentage(yes, no):
    before = percent_yes(yes, no)
    after = percent_yes(yes + 1, no)
    if before is not None:
        assert after.exact >= before.exact
        assert after.printed >= before.printed


# ------------------------------------------------------------------ bands and standards
def test_band_edges(framework):
    assert band(framework, percent_yes(1, 1)).rating == Rating.REQUIRES_IMPROVEMENT  # 50
    assert band(framework, percent_yes(49, 51)).rating == Rating.INADEQUATE
    assert band(framework, percent_yes(65, 35)).rating == Rating.GOOD
    assert band(framework, percent_yes(4, 1)).rating == Rating.OUTSTANDING  # 80


def test_band_basis_matters_is_reported(framework):
    # 64.6% exactly (31/48 = 64.58...) prints as 65%
    p = percent_yes(31, 17)
    assert p.printed == 65
    banding = band(framework, p)
    assert banding.basis_matters
    assert banding.exact_rating == Rating.REQUIRES_IMPROVEMENT
    assert banding.printed_rating == Rating.GOOD
    assert banding.rating == (Rating.GOOD if framework.band_basis is BandBasis.PRINTED else Rating.REQUIRES_IMPROVEMENT)
    exact_framework = attrs.evolve(framework, band_basis=BandBasis.EXACT)
    assert band(exact_framework, p).rating == Rating.REQUIRES_IMPROVEMENT


def kq_counts_for(standard, draw_counts):
    return {
        kq.id: AnswerCounts(yes=y, no=n, not_applicable=a)
        for kq, (y, n, a) in zip(standard.key_questions, draw_counts, strict=False)
    }


triples = st.tuples(counts, counts, counts)


@given(data=st.data())
def test_standard_rating_is_the_band_of_the_minimum(framework, data):
    standard = framework.standard(data.draw(st.sampled_from(["2.2", "2.3", "2.4", "2.5"])))
    drawn = data.draw(st.lists(triples, min_size=3, max_size=3))
    kq_counts = kq_counts_for(standard, drawn)
    result = standard_result(framework, standard, kq_counts, "Test PDU")
    percentages = [percent_yes(c.yes, c.no) for c in kq_counts.values()]
    relevant = [p for p in percentages if p is not None]
    if not relevant:
        assert result.rating == Rating.NOT_APPLICABLE
        return
    lowest = min(relevant, key=lambda p: p.exact)
    assert result.rating == band(framework, lowest).rating
    assert result.lowest_percentage.printed == lowest.printed
    assert f"was {lowest.printed} per cent" in result.sentence


@given(data=st.data())
def test_case_order_never_changes_anything(framework, data):
    """Counts are order-free; key questions given in any order rate the same."""
    standard = framework.standard("2.4")
    drawn = data.draw(st.lists(triples, min_size=3, max_size=3))
    kq_counts = kq_counts_for(standard, drawn)
    shuffled = dict(data.draw(st.permutations(list(kq_counts.items()))))
    assert standard_result(framework, standard, kq_counts, "U") == standard_result(framework, standard, shuffled, "U")


@given(data=st.data())
def test_one_more_yes_never_lowers_a_standard_rating(framework, data):
    standard = framework.standard("2.3")
    drawn = data.draw(st.lists(triples, min_size=3, max_size=3))
    kq_counts = kq_counts_for(standard, drawn)
    target = data.draw(st.sampled_from([kq.id for kq in standard.key_questions]))
    before = standard_result(framework, standard, kq_counts, "U").rating
    bumped = dict(kq_counts)
    bumped[target] = attrs.evolve(kq_counts[target], yes=kq_counts[target].yes + 1)
    after = standard_result(framework, standard, bumped, "U").rating
    if before is not Rating.NOT_APPLICABLE:
        assert framework.points_for(after) >= framework.points_for(before)


def test_tie_sentence(framework):
    standard = framework.standard("2.5")
    kq = {"2.5.1": AnswerCounts(yes=16, no=17), "2.5.2": AnswerCounts(yes=10, no=23), "2.5.3": AnswerCounts(yes=10, no=23)}
    result = standard_result(framework, standard, kq, "Newham PDU")
    assert result.lowest == ("2.5.2", "2.5.3")
    assert result.sentence.endswith("was 30 per cent for two key questions.")


def test_unrated_standard_has_no_rating(framework):
    result = standard_result(framework, framework.standard("2.6"), {"2.6.1": AnswerCounts(yes=9, no=24)}, "U")
    assert result.rating is None and not result.rated and result.lowest_percentage.printed == 27


# ------------------------------------------------------------------ score and overall
ratings_strategy = st.sampled_from(
    [Rating.OUTSTANDING, Rating.GOOD, Rating.REQUIRES_IMPROVEMENT, Rating.INADEQUATE, Rating.NOT_APPLICABLE, None]
)


@given(
    choices=st.fixed_dictionaries(
        {s: ratings_strategy for s in ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6"]}
    )
)
def test_score_never_exceeds_three_times_rated_standards(framework, choices):
    result = score(framework, choices)
    rated = [s for s in framework.standards if s.rated and choices.get(s.id) not in (None, Rating.NOT_APPLICABLE)]
    assert result.maximum == 3 * len(rated)
    assert 0 <= result.score <= result.maximum
    assert "2.6" not in result.rated_standards
    if rated:
        assert result.overall_rating == overall_rating(framework, result.score, result.maximum)


@pytest.mark.parametrize(
    "maximum,bands",
    [
        (24, [(0, 4), (5, 12), (13, 20), (21, 24)]),
        (27, [(0, 4), (5, 13), (14, 22), (23, 27)]),
        (30, [(0, 5), (6, 15), (16, 25), (26, 30)]),
        (36, [(0, 6), (7, 18), (19, 30), (31, 36)]),
    ],
)
def test_overall_score_bands(framework, maximum, bands):
    words = [Rating.INADEQUATE, Rating.REQUIRES_IMPROVEMENT, Rating.GOOD, Rating.OUTSTANDING]
    for (low, high), word in zip(bands, words, strict=False):
        for s in range(low, high + 1):
            assert overall_rating(framework, s, maximum) == word, (s, maximum)


@given(maximum=st.integers(1, 20).map(lambda n: 3 * n), data=st.data())
def test_overall_rating_is_monotonic(framework, maximum, data):
    a = data.draw(st.integers(0, maximum))
    b = data.draw(st.integers(a, maximum))
    assert framework.points_for(overall_rating(framework, a, maximum)) <= framework.points_for(
        overall_rating(framework, b, maximum)
    )


def test_reports_scores(framework):
    newham = {
        "1.1": Rating.REQUIRES_IMPROVEMENT,
        "1.2": Rating.GOOD,
        "1.3": Rating.REQUIRES_IMPROVEMENT,
        "1.4": Rating.GOOD,
        "2.1": Rating.NOT_APPLICABLE,
        **{s: Rating.INADEQUATE for s in ("2.2", "2.3", "2.4", "2.5")},
    }
    result = score(framework, newham)
    assert (result.score, result.maximum, result.overall_rating) == (6, 24, Rating.REQUIRES_IMPROVEMENT)
    with_court = {**newham, "2.1": Rating.INADEQUATE}
    assert score(framework, with_court).maximum == 27


# ------------------------------------------------------------------ advisory caps
def test_caps(framework):
    all_inadequate = {"2.1": Rating.NOT_APPLICABLE, **{s: Rating.INADEQUATE for s in ("2.2", "2.3", "2.4", "2.5")}}
    cap = advisory_cap(framework, "1.1", all_inadequate)
    assert cap.cap == Rating.INADEQUATE and cap.rule.id == "leadership-all-domain-two-inadequate"
    assert exceeds_cap(framework, Rating.REQUIRES_IMPROVEMENT, cap)
    assert not exceeds_cap(framework, Rating.INADEQUATE, cap)
    one_better = {**all_inadequate, "2.4": Rating.REQUIRES_IMPROVEMENT}
    assert advisory_cap(framework, "1.1", one_better) is None
    assert advisory_cap(framework, "1.3", one_better).rule.id == "services-planning-inadequate"
    assert advisory_cap(framework, "1.2", all_inadequate) is None
    assert advisory_cap(framework, "1.1", {}) is None


def test_inconsistency_warning():
    assert judgement_disagrees("Yes", ["No", "No", "Not applicable"])
    assert judgement_disagrees("No", ["Yes", "Yes"])
    assert not judgement_disagrees("Yes", ["No", "Yes"])
    assert not judgement_disagrees("Yes", ["Not applicable", None])
    assert not judgement_disagrees(None, ["No"])
