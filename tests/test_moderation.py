"""Moderation: blind second marking, agreement and Cohen's kappa."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.core.moderation import CATEGORIES, cohens_kappa, compare_markings, kappa_text, landis_koch

Y, N, NA = CATEGORIES


def pairs_from_table(table: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [pair for pair, count in table.items() for _ in range(count)]


# ------------------------------------------------------------------ kappa by hand
def test_kappa_two_by_two_by_hand():
    #              second Yes  second No   | first's total
    # first Yes         4          1       |  5
    # first No          1          4       |  5
    # second's total    5          5       | 10
    # p_o = (4 + 4) / 10 = 0.8
    # p_e = (5 * 5 + 5 * 5) / 10² = 50 / 100 = 0.5
    # κ = (0.8 − 0.5) / (1 − 0.5) = 0.3 / 0.5 = 0.6  -> "moderate" (0.41–0.60)
    kappa = cohens_kappa(pairs_from_table({(Y, Y): 4, (Y, N): 1, (N, Y): 1, (N, N): 4}))
    assert kappa is not None
    assert kappa.observed == Fraction(4, 5) and kappa.expected == Fraction(1, 2)
    assert kappa.exact == Fraction(3, 5)
    assert kappa.printed == "0.60" and kappa.words == "moderate"


def test_kappa_three_by_three_by_hand():
    #              Yes  No  N/A  (second) | first's total
    # first Yes      5   1    0           |  6
    # first No       2   3    0           |  5
    # first N/A      0   1    3           |  4
    # second's total 7   5    3           | 15
    # p_o = (5 + 3 + 3) / 15 = 11/15
    # p_e = (6·7 + 5·5 + 4·3) / 15² = (42 + 25 + 12) / 225 = 79/225
    # κ = (165/225 − 79/225) / (146/225) = 86/146 = 43/73 ≈ 0.589 -> printed 0.59, "moderate"
    table = {(Y, Y): 5, (Y, N): 1, (N, Y): 2, (N, N): 3, (NA, N): 1, (NA, NA): 3}
    kappa = cohens_kappa(pairs_from_table(table))
    assert kappa is not None
    assert kappa.observed == Fraction(11, 15) and kappa.expected == Fraction(79, 225)
    assert kappa.exact == Fraction(43, 73)
    assert str(kappa) == "0.59 (moderate)"


def test_kappa_below_chance_is_poor_and_negative():
    # first Yes,No ; second No,Yes: p_o = 0, p_e = (1·1 + 1·1)/4 = 1/2, κ = −0.5/0.5 = −1
    kappa = cohens_kappa([(Y, N), (N, Y)])
    assert kappa is not None and kappa.exact == -1 and kappa.printed == "-1.00" and kappa.words == "poor"


def test_kappa_undefined_when_both_markers_used_one_answer_throughout():
    assert cohens_kappa([(Y, Y)] * 7) is None
    assert kappa_text(cohens_kappa([(NA, NA)] * 3)) == "undefined"
    assert cohens_kappa([]) is None
    # one marker used one answer, the other two: p_e < 1, so kappa is defined (and 0 here)
    # first Yes×4; second Yes×2, No×2: p_o = 1/2, p_e = (4·2)/16 = 1/2, κ = 0
    kappa = cohens_kappa([(Y, Y), (Y, Y), (Y, N), (Y, N)])
    assert kappa is not None and kappa.exact == 0 and kappa.words == "slight"


@pytest.mark.parametrize(
    "value, word",
    [
        ("-0.01", "poor"),
        ("0", "slight"),
        ("0.20", "slight"),
        ("0.21", "fair"),
        ("0.40", "fair"),
        ("0.41", "moderate"),
        ("0.60", "moderate"),
        ("0.61", "substantial"),
        ("0.80", "substantial"),
        ("0.81", "almost perfect"),
        ("1", "almost perfect"),
    ],
)
def test_landis_koch_words(value, word):
    assert landis_koch(Fraction(value)) == word


answers = st.sampled_from(CATEGORIES)
pair_lists = st.lists(st.tuples(answers, answers), min_size=1, max_size=40)


@given(st.lists(answers, min_size=2, max_size=40).filter(lambda xs: len(set(xs)) >= 2))
def test_identical_marking_with_two_or_more_answers_is_kappa_one(marks):
    kappa = cohens_kappa([(m, m) for m in marks])
    assert kappa is not None and kappa.exact == 1 and kappa.words == "almost perfect"


@given(pair_lists)
def test_kappa_is_symmetric_in_the_two_markers(pairs):
    forward, backward = cohens_kappa(pairs), cohens_kappa([(b, a) for a, b in pairs])
    assert (forward is None) == (backward is None)
    if forward is not None and backward is not None:
        assert forward.exact == backward.exact


@given(pair_lists)
def test_kappa_is_at_most_one(pairs):
    kappa = cohens_kappa(pairs)
    if kappa is not None:
        assert kappa.exact <= 1


@given(answers, st.integers(1, 30))
def test_kappa_undefined_for_one_shared_answer(answer, n):
    assert cohens_kappa([(answer, answer)] * n) is None


# ------------------------------------------------------------------ agreement over questions
def test_compare_markings_per_question_overall_and_disagreements():
    questions = [("q1", "prompt"), ("q2", "key question")]
    first = {("A1", "q1"): Y, ("A2", "q1"): N, ("A3", "q1"): Y, ("A1", "q2"): Y, ("A2", "q2"): Y, ("A3", "q2"): None}
    second = {("A1", "q1"): Y, ("A2", "q1"): Y, ("A3", "q1"): Y, ("A1", "q2"): Y, ("A2", "q2"): Y, ("A3", "q2"): N}
    result = compare_markings(questions, first, second)
    q1, q2 = result.questions
    # q1: 3 compared, 2 agreed = 66.67% -> 67; first Y2 N1, second Y3: p_o = 2/3, p_e = 2·3/9 = 2/3 -> κ = 0
    assert (q1.compared, q1.agreed, q1.percent) == (3, 2, 67)
    assert q1.kappa is not None and q1.kappa.exact == 0
    # q2: A3 unanswered by the first marker -> not compared; both Yes throughout -> undefined, never 0
    assert (q2.compared, q2.agreed, q2.percent, q2.kappa) == (2, 2, 100, None)
    assert q2.as_dict()["kappa"] is None and q2.as_dict()["kappa_words"] == "undefined"
    # overall pools the five pairs: 4 agreed = 80%; first Y4 N1, second Y5: p_o = 4/5, p_e = 20/25 = 4/5 -> κ = 0
    assert (result.overall.compared, result.overall.agreed, result.overall.percent) == (5, 4, 80)
    assert [d.as_dict() for d in result.disagreements] == [{"case_ref": "A2", "question": "q1", "first": N, "second": Y}]


def test_percent_agreement_rounds_halves_up():
    # 7 of 8 agreed = 87.5% -> 88 (Python's round would give 88 too; 1 of 8 = 12.5% -> 13, round gives 12)
    first = {(f"C{i}", "q"): Y for i in range(8)}
    second = {**{(f"C{i}", "q"): N for i in range(7)}, ("C7", "q"): Y}
    assert compare_markings([("q", "prompt")], first, second).questions[0].percent == 13


def test_compare_markings_refuses_other_values():
    with pytest.raises(ValueError):
        compare_markings([("q", "prompt")], {("A", "q"): "Maybe"}, {("A", "q"): Y})
