"""What a published report cannot show: precision, disproportionality, trend.

Pure functions over counts (no I/O). The conventions (confidence level, the
disproportionality gap and minimum cases) come from the framework definition's
[reporting] table; the band boundaries from its [rating_bands].
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from statistics import NormalDist

import attrs

from audit.core.attributes import ATTRIBUTES_BY_COLUMN, OUT_OF_COURT_DISPOSALS, RESETTLEMENT_SENTENCE_TYPES
from audit.core.summary import Summary
from framework import Framework, Rating
from framework.rules import AnswerCounts, Percentage, band, percent_yes

NOT_RECORDED = "Not recorded"


# ------------------------------------------------------------------ precision
def z_score(level: Fraction) -> float:
    """The two-sided normal quantile for a confidence level (95/100 -> 1.95996...)."""
    return NormalDist().inv_cdf(1 - (1 - float(level)) / 2)


@attrs.frozen(kw_only=True)
class Interval:
    """A Wilson score interval for Yes / (Yes + No), as percentages 0..100."""

    low: float
    high: float

    def text(self) -> str:
        return f"{self.low:.0f}-{self.high:.0f}%"


def wilson_interval(yes: int, relevant: int, level: Fraction) -> Interval | None:
    """Wilson score interval; None when no case was relevant. Always contains Yes / relevant."""
    if relevant <= 0:
        return None
    if not 0 <= yes <= relevant:
        raise ValueError("yes must be between 0 and the relevant cases")
    z = z_score(level)
    n, p = relevant, yes / relevant
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if yes == 0 else min(max(0.0, centre - half), p)
    high = 1.0 if yes == relevant else max(min(1.0, centre + half), p)
    return Interval(low=100 * low, high=100 * high)


def rating_at(framework: Framework, percent: float) -> Rating:
    for rating_band in framework.rating_bands:
        if rating_band.contains(Fraction(percent)):
            return rating_band.rating
    return framework.rating_bands[-1].rating


def unsettled(framework: Framework, interval: Interval | None) -> bool:
    """True when the interval reaches into another band: this sample does not settle the rating."""
    if interval is None:
        return False
    return rating_at(framework, interval.low) != rating_at(framework, interval.high)


def worst_case_margin(n: int, level: Fraction) -> float:
    """The widest half-width (percentage points) a Wilson interval can have with n relevant cases."""
    z = z_score(level)
    return 100 * z * math.sqrt(0.25 / n + z * z / (4 * n * n)) / (1 + z * z / n)


@attrs.frozen(kw_only=True)
class SampleSize:
    margin: float
    level: Fraction
    cases: int  # relevant cases needed
    population: int | None = None
    cases_from_population: int | None = None  # with the finite-population correction


def sample_size(margin_points: float, level: Fraction, population: int | None = None) -> SampleSize:
    """How many relevant cases keep every 95% Wilson interval within +/- ``margin_points``."""
    if not 0 < margin_points < 50:
        raise ValueError("the margin is in percentage points, between 0 and 50")
    # the worst case (50% Yes) shrinks monotonically with n: search upwards from the normal approximation
    z = z_score(level)
    n = max(1, math.floor((z * 50 / margin_points) ** 2) - z * z * 2)
    n = int(n)
    while worst_case_margin(n, level) > margin_points:
        n += 1
    while n > 1 and worst_case_margin(n - 1, level) <= margin_points:
        n -= 1
    corrected = None
    if population is not None:
        if population < 1:
            raise ValueError("the population is a number of cases, at least 1")
        corrected = min(population, math.ceil(n / (1 + (n - 1) / population)))
    return SampleSize(margin=margin_points, level=level, cases=n, population=population, cases_from_population=corrected)


# ------------------------------------------------------------------ breakdowns
@attrs.frozen(kw_only=True)
class Grouping:
    """How one attribute splits the cases: a column and a mapping from stored value to group label."""

    key: str
    label: str
    column: str
    groups: tuple[str, ...]  # in display order ("Not recorded" last, when present)

    def group_of(self, value: str | None) -> str:
        if self.key == "resettlement":
            if not value:
                return NOT_RECORDED
            if value in RESETTLEMENT_SENTENCE_TYPES:
                return "Licence / post-release (resettlement)"
            # a youth out-of-court disposal is neither a community sentence nor resettlement
            return "Out-of-court disposal" if value in OUT_OF_COURT_DISPOSALS else "Community"
        if self.key == "ethnicity_group":
            if not value or value == "Not stated":
                return NOT_RECORDED
            return "White" if value == "White" else "Ethnic minority"
        return value or NOT_RECORDED


# attributes left out of breakdowns: one value per case or per person (dates, ages, practitioners' names)
NOT_BROKEN_DOWN = ("start_date", "age", "practitioner")


def groupings() -> tuple[Grouping, ...]:
    """The breakdowns a report shows: the inspectorate's cohorts first, then every other attribute."""
    result = [
        Grouping(
            key="resettlement",
            label="Sentence: community or licence / post-release",
            column="sentence_type",
            groups=("Community", "Licence / post-release (resettlement)", "Out-of-court disposal"),
        ),
        Grouping(
            key="ethnicity_group",
            label="Ethnicity: white or ethnic minority",
            column="ethnicity",
            groups=("White", "Ethnic minority"),
        ),
    ]
    for column in (
        "rosh_level",
        "gender",
        "young_adult",
        "sentence_type",
        "ethnicity",
        "mappa_level",
        "iom",
        "practitioner_grade",
        "team",
    ):
        attribute = ATTRIBUTES_BY_COLUMN[column]
        result.append(Grouping(key=column, label=attribute.label, column=column, groups=tuple(attribute.options)))
    known = {g.column for g in result} | set(NOT_BROKEN_DOWN)
    for column, attribute in ATTRIBUTES_BY_COLUMN.items():
        if column not in known:
            result.append(Grouping(key=column, label=attribute.label, column=column, groups=tuple(attribute.options)))
    return tuple(result)


@attrs.frozen(kw_only=True)
class GroupFigures:
    label: str
    cases: int
    counts: dict[str, AnswerCounts]  # key question id -> counts in this group

    def percentage(self, key_question_id: str) -> Percentage | None:
        c = self.counts.get(key_question_id)
        return percent_yes(c.yes, c.no) if c else None


@attrs.frozen(kw_only=True)
class Disproportion:
    group: str
    key_question_id: str
    group_percent: int
    rest_percent: int
    group_relevant: int
    rest_relevant: int
    key_question_text: str = ""

    @property
    def gap(self) -> int:
        return self.group_percent - self.rest_percent

    def sentence(self, grouping_label: str = "") -> str:
        """'2.2.1 Does assessment ...? Female: 40% of 10 relevant cases against 75% of 23 for the rest, 35 points lower.'"""
        direction = "higher" if self.gap > 0 else "lower"
        question = f"{self.key_question_id} {self.key_question_text}".strip()
        return (
            f"{question} {self.group}: {self.group_percent}% of {self.group_relevant} relevant cases against "
            f"{self.rest_percent}% of {self.rest_relevant} for the rest, {abs(self.gap)} points {direction}."
        )


@attrs.frozen(kw_only=True)
class Breakdown:
    grouping: Grouping
    groups: tuple[GroupFigures, ...]
    flags: tuple[Disproportion, ...]

    @property
    def label(self) -> str:
        return self.grouping.label

    def flagged(self, group: str, key_question_id: str) -> Disproportion | None:
        for flag in self.flags:
            if flag.group == group and flag.key_question_id == key_question_id:
                return flag
        return None


def _add(a: AnswerCounts, b: AnswerCounts) -> AnswerCounts:
    return AnswerCounts(
        yes=a.yes + b.yes,
        no=a.no + b.no,
        not_applicable=a.not_applicable + b.not_applicable,
        unanswered=a.unanswered + b.unanswered,
    )


def _minus(a: AnswerCounts, b: AnswerCounts) -> AnswerCounts:
    return AnswerCounts(
        yes=a.yes - b.yes,
        no=a.no - b.no,
        not_applicable=a.not_applicable - b.not_applicable,
        unanswered=a.unanswered - b.unanswered,
    )


def build_breakdown(
    framework: Framework,
    grouping: Grouping,
    answer_rows: Iterable[dict],
    case_rows: Iterable[dict],
    key_question_ids: Iterable[str],
) -> Breakdown:
    """Split key-question counts by a grouping and flag groups that differ from the rest.

    ``answer_rows``: {<attribute columns>..., question_id, yes, no, not_applicable} grouped by attributes;
    ``case_rows``: {<attribute columns>..., cases}. Every case lands in exactly one group
    (blank values in "Not recorded"), so the groups add up to the whole round.
    """
    kq_ids = tuple(key_question_ids)
    cases: dict[str, int] = {}
    for row in case_rows:
        label = grouping.group_of(row[grouping.column])
        cases[label] = cases.get(label, 0) + int(row["cases"])
    answered: dict[str, dict[str, AnswerCounts]] = {}
    for row in answer_rows:
        if row["question_id"] not in kq_ids:
            continue
        label = grouping.group_of(row[grouping.column])
        by_question = answered.setdefault(label, {})
        counts = AnswerCounts(yes=int(row["yes"]), no=int(row["no"]), not_applicable=int(row["not_applicable"]))
        by_question[row["question_id"]] = _add(by_question.get(row["question_id"], AnswerCounts()), counts)
    order = [g for g in grouping.groups if g in cases] + sorted(
        g for g in cases if g not in grouping.groups and g != NOT_RECORDED
    )
    if NOT_RECORDED in cases:
        order.append(NOT_RECORDED)
    groups = []
    for label in order:
        group_counts = {}
        for kq in kq_ids:
            c = answered.get(label, {}).get(kq, AnswerCounts())
            group_counts[kq] = attrs.evolve(c, unanswered=max(cases[label] - c.yes - c.no - c.not_applicable, 0))
        groups.append(GroupFigures(label=label, cases=cases[label], counts=group_counts))
    totals = {kq: AnswerCounts() for kq in kq_ids}
    for g in groups:
        for kq in kq_ids:
            totals[kq] = _add(totals[kq], g.counts[kq])
    conventions = framework.reporting
    texts = {kq.id: kq.text for kq in framework.key_questions}
    flags: list[Disproportion] = []
    for g in groups:
        if g.label == NOT_RECORDED or len(groups) < 2:
            continue
        for kq in kq_ids:
            mine = g.counts[kq]
            rest = _minus(totals[kq], mine)
            if min(mine.relevant, rest.relevant) < conventions.disproportion_min_cases:
                continue
            group_percentage, rest_percentage = percent_yes(mine.yes, mine.no), percent_yes(rest.yes, rest.no)
            if group_percentage is None or rest_percentage is None:  # neither is: both have relevant cases
                continue
            group_percent, rest_percent = group_percentage.printed, rest_percentage.printed
            if abs(group_percent - rest_percent) >= conventions.disproportion_points:
                flags.append(
                    Disproportion(
                        group=g.label,
                        key_question_id=kq,
                        group_percent=group_percent,
                        rest_percent=rest_percent,
                        group_relevant=mine.relevant,
                        rest_relevant=rest.relevant,
                        key_question_text=texts.get(kq, ""),
                    )
                )
    return Breakdown(grouping=grouping, groups=tuple(groups), flags=tuple(_each_difference_once(flags, groups, kq_ids)))


def _each_difference_once(flags: list[Disproportion], groups: list[GroupFigures], kq_ids: tuple[str, ...]) -> list[Disproportion]:
    """The flags with each difference stated once, largest first. Where the cases split into two
    groups (besides any not recorded), one group against the rest is the other against the rest
    turned round: only the smaller group's side is kept (the later one in display order on a tie)."""
    recorded = [g for g in groups if g.label != NOT_RECORDED]
    if len(recorded) == 2:
        kept = []
        for kq in kq_ids:
            pair = [f for f in flags if f.key_question_id == kq]
            if len(pair) == 2:
                pair = [max(pair, key=lambda f: (-f.group_relevant, [g.label for g in recorded].index(f.group)))]
            kept += pair
        flags = kept
    order = {kq: n for n, kq in enumerate(kq_ids)}
    return sorted(flags, key=lambda f: (-abs(f.gap), order.get(f.key_question_id, 0)))


# ------------------------------------------------------------------ trend
@attrs.frozen(kw_only=True)
class KeyQuestionChange:
    id: str
    now: int | None
    before: int | None
    band_now: Rating | None
    band_before: Rating | None

    @property
    def points(self) -> int | None:
        return None if self.now is None or self.before is None else self.now - self.before

    def points_text(self) -> str:
        return "n/a" if self.points is None else f"{self.points:+d}"


@attrs.frozen(kw_only=True)
class StandardChange:
    id: str
    name: str
    now: Rating | None
    before: Rating | None

    @property
    def changed(self) -> bool:
        return self.now != self.before


@attrs.frozen(kw_only=True)
class Comparison:
    earlier_round: str
    key_questions: tuple[KeyQuestionChange, ...]
    standards: tuple[StandardChange, ...]
    score_now: tuple[int, int]
    score_before: tuple[int, int]
    overall_now: Rating | None
    overall_before: Rating | None


def compare(now: Summary, earlier: Summary) -> Comparison:
    """Per key question the change in points and band; per standard any change of rating."""
    changes = []
    for s in now.standards:
        for kq in s.key_questions:
            try:
                old = earlier.key_question(kq.id)
            except KeyError:
                old = None
            changes.append(
                KeyQuestionChange(
                    id=kq.id,
                    now=kq.percent,
                    before=old.percent if old else None,
                    band_now=band(now.framework, kq.percentage).rating if kq.percentage else None,
                    band_before=band(earlier.framework, old.percentage).rating if old and old.percentage else None,
                )
            )
    standards = []
    for s in now.standards:
        try:
            before = earlier.standard(s.id).rating
        except KeyError:
            before = None
        standards.append(StandardChange(id=s.id, name=s.name, now=s.rating, before=before))
    return Comparison(
        earlier_round=earlier.round,
        key_questions=tuple(changes),
        standards=tuple(standards),
        score_now=(now.score, now.max_score),
        score_before=(earlier.score, earlier.max_score),
        overall_now=now.overall_rating,
        overall_before=earlier.overall_rating,
    )
