"""The inspection framework as immutable values.

A :class:`Framework` is loaded from a versioned TOML definition (see
``framework/load.py``). Nothing here knows about files, databases or screens.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from fractions import Fraction

import attrs


class Answer(enum.StrEnum):
    """What an auditor can say about one prompt, key question or data item."""

    YES = "Yes"
    NO = "No"
    NOT_APPLICABLE = "Not applicable"


class Rating(enum.StrEnum):
    """The inspectorate's rating words, spelt as the reports spell them."""

    OUTSTANDING = "Outstanding"
    GOOD = "Good"
    REQUIRES_IMPROVEMENT = "Requires improvement"
    INADEQUATE = "Inadequate"
    NOT_APPLICABLE = "Not applicable"


class RatingMethod(enum.StrEnum):
    """How a standard gets its rating."""

    RULE = "rule"  # from case answers: the band of its lowest key question
    JUDGEMENT = "judgement"  # chosen by a rater with evidence (domain 1)
    UNRATED = "unrated"  # shown for information, never rated or scored (outcomes)


class Origin(enum.StrEnum):
    """Where a framework definition came from."""

    SHIPPED = "shipped"  # framework/definitions, part of caseaudit: never replaced
    USER = "user"  # the user's frameworks folder (``caseaudit frameworks add``)


class BandBasis(enum.StrEnum):
    """Whether rating bands apply to the exact fraction or the printed whole number."""

    EXACT = "exact"
    PRINTED = "printed"


class QuestionKind(enum.StrEnum):
    PROMPT = "prompt"
    DATA_ITEM = "data item"
    KEY_QUESTION = "key question"


def _tuple(value) -> tuple:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Prompt:
    id: str
    key_question_id: str
    text: str
    guidance: str = ""
    kind: QuestionKind = attrs.field(default=QuestionKind.PROMPT, init=False)


@attrs.frozen(kw_only=True)
class DataItem:
    """A recorded fact beside a key question (Yes / No / Not required)."""

    id: str
    key_question_id: str
    text: str
    not_applicable_label: str = "Not required"
    guidance: str = ""
    kind: QuestionKind = attrs.field(default=QuestionKind.DATA_ITEM, init=False)


@attrs.frozen(kw_only=True)
class KeyQuestion:
    id: str
    standard_id: str
    text: str
    guidance: str = ""
    prompts: tuple[Prompt, ...] = attrs.field(default=(), converter=_tuple)
    data_items: tuple[DataItem, ...] = attrs.field(default=(), converter=_tuple)
    kind: QuestionKind = attrs.field(default=QuestionKind.KEY_QUESTION, init=False)


Question = Prompt | DataItem | KeyQuestion


@attrs.frozen(kw_only=True)
class Standard:
    id: str
    domain_id: str
    name: str  # "Implementation and delivery"
    headline: str
    method: RatingMethod
    # How the rating sentence names the standard: "implementation and delivery".
    sentence_name: str = ""
    key_questions: tuple[KeyQuestion, ...] = attrs.field(default=(), converter=_tuple)
    # Whether its rating counts toward the score. A rated standard may be shown but not
    # scored (the youth framework's resettlement standard); an unrated one is never scored.
    scored: bool = attrs.field(default=attrs.Factory(lambda self: self.method is not RatingMethod.UNRATED, takes_self=True))

    @property
    def rated(self) -> bool:
        return self.method is not RatingMethod.UNRATED


@attrs.frozen(kw_only=True)
class Domain:
    id: str
    name: str


@attrs.frozen(kw_only=True)
class RatingBand:
    """Percentages ``lower <= p < upper`` (``upper`` None: up to and including 100)."""

    rating: Rating
    lower: Fraction
    upper: Fraction | None

    def contains(self, percent: Fraction) -> bool:
        return percent >= self.lower and (self.upper is None or percent < self.upper)


@attrs.frozen(kw_only=True)
class ScoreBand:
    """Scores up to ``floor(up_to * maximum)`` inclusive, above the previous band."""

    rating: Rating
    up_to: Fraction


@attrs.frozen(kw_only=True)
class LimitingRule:
    """Advisory guidance: when every listed standard has ``when_rating``, cap ``standard_id``."""

    id: str
    standard_id: str
    when_all_of: tuple[str, ...] = attrs.field(converter=_tuple)
    when_rating: Rating
    cap: Rating
    guidance: str  # the sentence the report prints, e.g. "A rating of 'Inadequate' for ..."
    override: str  # the sentence printed when the rater goes above the cap


@attrs.frozen(kw_only=True)
class SentenceTemplates:
    """Report sentences with ``str.format`` fields: unit, rating, standard, count, percent, ties."""

    lowest: str
    lowest_tie: str
    single: str
    not_applicable: str


@attrs.frozen(kw_only=True)
class ReportingConventions:
    """How QA reports qualify the figures (not part of the inspectorate's rating rules)."""

    confidence_level: Fraction  # for Wilson intervals, e.g. 95/100
    disproportion_points: int  # a group differing from the rest by this many points or more is flagged...
    disproportion_min_cases: int  # ...when each side has at least this many relevant cases


@attrs.frozen(kw_only=True)
class Framework:
    id: str
    version: str
    title: str
    source: str  # the file it was read from, for messages
    origin: Origin = Origin.SHIPPED  # shipped with caseaudit, or added by the user from ``source``
    band_basis: BandBasis
    rating_bands: tuple[RatingBand, ...] = attrs.field(converter=_tuple)
    points: tuple[tuple[Rating, int], ...] = attrs.field(converter=_tuple)
    score_bands: tuple[ScoreBand, ...] = attrs.field(converter=_tuple)
    domains: tuple[Domain, ...] = attrs.field(converter=_tuple)
    standards: tuple[Standard, ...] = attrs.field(converter=_tuple)
    limiting_rules: tuple[LimitingRule, ...] = attrs.field(converter=_tuple)
    sentences: SentenceTemplates
    reporting: ReportingConventions
    # The case-sampling strata (an optional section; None when the definition has none).
    sampling: SamplingScheme | None = None
    _questions: dict = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        index: dict[str, Question] = {}
        for question in self.iter_questions():
            index[question.id] = question
        object.__setattr__(self, "_questions", index)

    # -- lookups ---------------------------------------------------------
    def iter_questions(self) -> Iterator[Question]:
        """Every answerable question in the inspectorate's order.

        Under each key question: its prompts, then its data items, then the
        key-question judgement itself.
        """
        for standard in self.standards:
            for key_question in standard.key_questions:
                yield from key_question.prompts
                yield from key_question.data_items
                yield key_question

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(self._questions)

    def question(self, question_id: str) -> Question:
        try:
            return self._questions[question_id]
        except KeyError:
            raise KeyError(f"unknown question id {question_id!r} in framework {self.id} {self.version}") from None

    def has_question(self, question_id: str) -> bool:
        return question_id in self._questions

    def canonical_question_id(self, text: str) -> str | None:
        """The question id ``text`` names, without regard to case or surrounding spaces ('2.2.3.DA' is
        2.2.3.da); None if it names none. Ids never differ only in case (checked when a framework loads)."""
        text = text.strip()
        if text in self._questions:
            return text
        folded = text.casefold()
        return next((q for q in self._questions if q.casefold() == folded), None)

    def standard(self, standard_id: str) -> Standard:
        for standard in self.standards:
            if standard.id == standard_id:
                return standard
        raise KeyError(f"unknown standard {standard_id!r} in framework {self.id} {self.version}")

    def standard_of(self, question_id: str) -> Standard:
        question = self.question(question_id)
        if isinstance(question, KeyQuestion):
            return self.standard(question.standard_id)
        return self.standard(self.key_question(question.key_question_id).standard_id)

    def key_question(self, key_question_id: str) -> KeyQuestion:
        question = self.question(key_question_id)
        if not isinstance(question, KeyQuestion):
            raise KeyError(f"{key_question_id!r} is a {question.kind}, not a key question")
        return question

    @property
    def key_questions(self) -> tuple[KeyQuestion, ...]:
        return tuple(kq for s in self.standards for kq in s.key_questions)

    def points_for(self, rating: Rating) -> int:
        for band_rating, points in self.points:
            if band_rating == rating:
                return points
        raise KeyError(f"no points defined for {rating!r} in framework {self.id}")

    @property
    def best_points(self) -> int:
        return max(points for _rating, points in self.points)

    @property
    def scored_standards(self) -> tuple[Standard, ...]:
        return tuple(s for s in self.standards if s.scored)

    @property
    def max_score(self) -> int:
        """The maximum when every scored standard is rated (a 'Not applicable' one lowers a round's maximum)."""
        return self.best_points * len(self.scored_standards)

    @property
    def where_from(self) -> str:
        """'shipped', or the user's file it was added as."""
        return "shipped" if self.origin is Origin.SHIPPED else self.source

    def domain(self, domain_id: str) -> Domain:
        for domain in self.domains:
            if domain.id == domain_id:
                return domain
        raise KeyError(f"unknown domain {domain_id!r}")


# -------------------------------------------------------------- sampling (optional section)
@attrs.frozen(kw_only=True)
class Stratum:
    """One stratum of a case sample: a case belongs when each ``match`` attribute has one of the
    listed values and no ``unless`` attribute has one of its listed values."""

    id: str
    name: str
    match: tuple[tuple[str, frozenset[str]], ...] = attrs.field(default=(), converter=_tuple)
    unless: tuple[tuple[str, frozenset[str]], ...] = attrs.field(default=(), converter=_tuple)

    def places(self, attributes) -> bool:
        """True when a case with these attribute values (column -> value) belongs here."""
        for column, values in self.match:
            if attributes.get(column) not in values:
                return False
        for column, values in self.unless:
            value = attributes.get(column)
            if not value or value in values:  # a missing value is not known to be outside the list
                return False
        return True


@attrs.frozen(kw_only=True)
class SamplingScheme:
    """How the inspectorate draws a case sample: the case-start field and the strata, in order."""

    start_field: str
    strata: tuple[Stratum, ...] = attrs.field(converter=_tuple)
