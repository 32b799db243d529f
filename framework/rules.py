"""The scoring rules, as pure functions over counts and framework data.

Every threshold comes from the :class:`Framework`; nothing here is a magic number
except the arithmetic of a percentage and of rounding half up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

import attrs

from .model import BandBasis, Framework, LimitingRule, Rating, RatingMethod, Standard

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


# -------------------------------------------------------------- percentages
def round_half_up(value: Fraction) -> int:
    """Round to a whole number, halves up (12.5 -> 13), as the reports print."""
    value = Fraction(value)
    return (value.numerator * 2 + value.denominator) // (value.denominator * 2)


@attrs.frozen(kw_only=True)
class AnswerCounts:
    """How one question was answered across a set of cases."""

    yes: int = 0
    no: int = 0
    not_applicable: int = 0
    unanswered: int = 0

    def __attrs_post_init__(self) -> None:
        for name in ("yes", "no", "not_applicable", "unanswered"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} count cannot be negative")

    @property
    def relevant(self) -> int:
        """Cases in the denominator: Yes + No."""
        return self.yes + self.no

    @property
    def cases(self) -> int:
        return self.yes + self.no + self.not_applicable + self.unanswered


@attrs.frozen(kw_only=True)
class Percentage:
    """Yes / (Yes + No), exact and as printed."""

    yes: int
    relevant: int
    exact: Fraction  # 0..100
    printed: int  # whole number, halves rounded up

    def __str__(self) -> str:
        return f"{self.printed}%"


def percent_yes(yes: int, no: int) -> Percentage | None:
    """Percentage 'Yes' among relevant answers; None when no case was relevant."""
    if yes < 0 or no < 0:
        raise ValueError("counts cannot be negative")
    relevant = yes + no
    if relevant == 0:
        return None
    # printed: round_half_up of the exact value, in whole numbers (a national round's breakdowns ask tens of thousands)
    printed = (200 * yes + relevant) // (2 * relevant)
    return Percentage(yes=yes, relevant=relevant, exact=Fraction(100 * yes, relevant), printed=printed)


# -------------------------------------------------------------- bands
@attrs.frozen(kw_only=True)
class Banding:
    """The band of a percentage; says when the exact and printed values disagree."""

    rating: Rating  # by the framework's basis
    exact_rating: Rating
    printed_rating: Rating
    basis: BandBasis

    @property
    def basis_matters(self) -> bool:
        return self.exact_rating != self.printed_rating


def _band_of(framework: Framework, value: Fraction) -> Rating:
    for band in framework.rating_bands:
        if band.contains(value):
            return band.rating
    raise ValueError(f"{value} is outside every rating band of {framework.id}")


def band(framework: Framework, percentage: Percentage) -> Banding:
    exact_rating = _band_of(framework, percentage.exact)
    printed_rating = _band_of(framework, Fraction(percentage.printed))
    chosen = exact_rating if framework.band_basis is BandBasis.EXACT else printed_rating
    return Banding(rating=chosen, exact_rating=exact_rating, printed_rating=printed_rating, basis=framework.band_basis)


def basis_value(framework: Framework, percentage: Percentage) -> Fraction:
    """The value bands and 'lowest' comparisons use under the framework's basis."""
    if framework.band_basis is BandBasis.EXACT:
        return percentage.exact
    return Fraction(percentage.printed)


# -------------------------------------------------------------- standards
@attrs.frozen(kw_only=True)
class StandardResult:
    standard_id: str
    rated: bool
    rating: Rating | None  # None for an unrated standard (outcomes)
    lowest: tuple[str, ...]  # key-question ids sharing the lowest percentage
    lowest_percentage: Percentage | None
    banding: Banding | None  # of the lowest key question
    sentence: str


def standard_result(
    framework: Framework,
    standard: Standard,
    counts: Mapping[str, AnswerCounts],
    unit: str,
) -> StandardResult:
    """Rate a case-supervision standard: the band of its lowest key question.

    Key questions with no relevant answers are left out; when none has any,
    the standard is 'Not applicable' (and leaves the score).
    """
    if standard.method is RatingMethod.JUDGEMENT:
        raise ValueError(f"standard {standard.id} is rated by judgement, not from case answers")
    scored = []
    for key_question in standard.key_questions:
        c = counts.get(key_question.id, AnswerCounts())
        percentage = percent_yes(c.yes, c.no)
        if percentage is not None:
            scored.append((key_question.id, percentage))
    fields: dict[str, object] = {
        "unit": unit,
        "standard": standard.sentence_name,
        "count": _number_word(len(standard.key_questions)),
    }
    if not scored:
        rating = Rating.NOT_APPLICABLE if standard.rated else None
        return StandardResult(
            standard_id=standard.id,
            rated=standard.rated,
            rating=rating,
            lowest=(),
            lowest_percentage=None,
            banding=None,
            sentence=framework.sentences.not_applicable.format(rating=Rating.NOT_APPLICABLE, percent="", ties="", **fields),
        )
    lowest_value = min(basis_value(framework, p) for _, p in scored)
    lowest = [(kq, p) for kq, p in scored if basis_value(framework, p) == lowest_value]
    lowest_percentage = min((p for _, p in lowest), key=lambda p: p.exact)
    banding = band(framework, lowest_percentage)
    rating = banding.rating if standard.rated else None
    fields.update(rating=banding.rating, percent=lowest_percentage.printed, ties=_number_word(len(lowest)))
    if not standard.rated:
        sentence = ""
    elif len(standard.key_questions) == 1:
        sentence = framework.sentences.single.format(**fields)
    elif len(lowest) > 1:
        sentence = framework.sentences.lowest_tie.format(**fields)
    else:
        sentence = framework.sentences.lowest.format(**fields)
    return StandardResult(
        standard_id=standard.id,
        rated=standard.rated,
        rating=rating,
        lowest=tuple(kq for kq, _ in lowest),
        lowest_percentage=lowest_percentage,
        banding=banding,
        sentence=sentence,
    )


def _number_word(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def rating_order(framework: Framework, rating: Rating) -> int:
    """Higher is better; taken from the framework's points."""
    return framework.points_for(rating)


# -------------------------------------------------------------- score
@attrs.frozen(kw_only=True)
class Score:
    score: int
    maximum: int
    rated_standards: tuple[str, ...]
    overall_rating: Rating | None  # None when nothing is rated yet


def score(framework: Framework, ratings: Mapping[str, Rating | None]) -> Score:
    """Points over rated, scored standards; maximum = best points x those standards.

    ``ratings`` maps standard id to its rating (None or absent: not rated yet).
    'Not applicable' standards, unrated standards and standards rated but not
    scored (``scored = false`` in the definition) leave the score.
    """
    total = 0
    counted = []
    for standard in framework.standards:
        if not standard.scored:
            continue
        rating = ratings.get(standard.id)
        if rating is None or rating is Rating.NOT_APPLICABLE:
            continue
        total += framework.points_for(rating)
        counted.append(standard.id)
    maximum = framework.best_points * len(counted)
    overall = overall_rating(framework, total, maximum) if counted else None
    return Score(score=total, maximum=maximum, rated_standards=tuple(counted), overall_rating=overall)


def overall_rating(framework: Framework, total: int, maximum: int) -> Rating:
    """The overall rating from the score bands (fractions of the maximum, floored)."""
    if maximum <= 0 or not 0 <= total <= maximum:
        raise ValueError(f"score {total} out of {maximum} is not a valid score")
    for score_band in framework.score_bands:
        ceiling = (score_band.up_to * maximum).__floor__()
        if total <= ceiling:
            return score_band.rating
    return framework.score_bands[-1].rating


@attrs.frozen(kw_only=True)
class ScoreRange:
    """The whole scores a score band covers for one maximum (``lowest > highest``: none at this maximum)."""

    rating: Rating
    lowest: int
    highest: int


def score_ranges(framework: Framework, maximum: int | None = None) -> tuple[ScoreRange, ...]:
    """Each score band as whole points, for a maximum (default: every scored standard rated).

    The same floors :func:`overall_rating` uses, so what ``frameworks show`` prints is what the rule does.
    """
    maximum = framework.max_score if maximum is None else maximum
    ranges = []
    lowest = 0
    for score_band in framework.score_bands:
        highest = min((score_band.up_to * maximum).__floor__(), maximum)
        ranges.append(ScoreRange(rating=score_band.rating, lowest=lowest, highest=highest))
        lowest = max(lowest, highest + 1)
    return tuple(ranges)


# -------------------------------------------------------------- limiting guidance
@attrs.frozen(kw_only=True)
class AdvisoryCap:
    standard_id: str
    cap: Rating
    rule: LimitingRule


def advisory_cap(framework: Framework, standard_id: str, ratings: Mapping[str, Rating | None]) -> AdvisoryCap | None:
    """The lowest cap any limiting rule proposes for a domain-1 standard, or None.

    A rule applies when every standard it lists that has a rating (ignoring
    'Not applicable' and not-yet-rated ones) has the rule's rating, and at
    least one does.
    """
    applying: list[LimitingRule] = []
    for rule in framework.limiting_rules:
        if rule.standard_id != standard_id:
            continue
        considered = [ratings.get(s) for s in rule.when_all_of]
        considered = [r for r in considered if r is not None and r is not Rating.NOT_APPLICABLE]
        if considered and all(r == rule.when_rating for r in considered):
            applying.append(rule)
    if not applying:
        return None
    strictest = min(applying, key=lambda rule: rating_order(framework, rule.cap))
    return AdvisoryCap(standard_id=standard_id, cap=strictest.cap, rule=strictest)


def exceeds_cap(framework: Framework, rating: Rating, cap: AdvisoryCap | None) -> bool:
    if cap is None or rating is Rating.NOT_APPLICABLE:
        return False
    return rating_order(framework, rating) > rating_order(framework, cap.cap)


# -------------------------------------------------------------- consistency
def judgement_disagrees(key_question_answer: str | None, prompt_answers: Iterable[str | None]) -> bool:
    """True when a key-question judgement contradicts every relevant prompt.

    Yes with every relevant prompt No, or No with every relevant prompt Yes.
    A warning for the auditor, never a block: the key question is a holistic judgement.
    """
    relevant = [a for a in prompt_answers if a in ("Yes", "No")]
    if not relevant or key_question_answer not in ("Yes", "No"):
        return False
    opposite = "No" if key_question_answer == "Yes" else "Yes"
    return all(a == opposite for a in relevant)
