"""One Summary value per round: stored counts + framework rules.

Every output (text table, Markdown, CSV, JSON, the TUI, reports) renders this
value, so they can never disagree with one another.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import attrs

from audit.core.judgement_checks import JudgementCheck
from framework import Framework, Rating
from framework.model import DataItem, Prompt, RatingMethod, Standard
from framework.rules import (
    AdvisoryCap,
    AnswerCounts,
    Banding,
    Percentage,
    advisory_cap,
    band,
    exceeds_cap,
    percent_yes,
    score,
    standard_result,
)


@attrs.frozen(kw_only=True)
class QuestionFigures:
    id: str
    text: str
    counts: AnswerCounts
    percentage: Percentage | None
    banding: Banding | None = None

    @property
    def percent(self) -> int | None:
        return self.percentage.printed if self.percentage else None

    def out_of(self) -> str:
        """The reports' prompt-level wording: 'X out of Y relevant cases'."""
        c = self.counts
        return f"{c.yes} out of {c.relevant} relevant cases" if c.relevant else "no relevant cases"


@attrs.frozen(kw_only=True)
class KeyQuestionFigures(QuestionFigures):
    prompts: tuple[QuestionFigures, ...] = ()
    data_items: tuple[QuestionFigures, ...] = ()


@attrs.frozen(kw_only=True)
class StandardSummary:
    id: str
    name: str
    headline: str
    domain_id: str
    method: RatingMethod
    rated: bool
    rating: Rating | None
    scored: bool = True  # False: rated and shown but not counted in the score (or not rated at all)
    key_questions: tuple[KeyQuestionFigures, ...] = ()
    lowest: tuple[str, ...] = ()
    lowest_percent: int | None = None
    sentence: str = ""
    basis_note: str = ""  # set when the exact and printed percentages fall in different bands
    # domain 1 only
    evidence: str | None = None
    cap: AdvisoryCap | None = None
    above_cap: bool = False
    override_reason: str | None = None


@attrs.frozen(kw_only=True)
class Summary:
    round: str
    round_id: str
    unit: str
    framework: Framework
    cases: int
    incomplete_cases: int
    standards: tuple[StandardSummary, ...]
    score: int
    max_score: int
    overall_rating: Rating | None
    unrated_judgements: tuple[str, ...]  # domain-1 standards still to be rated
    # key-question judgements contradicting every relevant prompt, to review; None: not looked for
    judgement_checks: tuple[JudgementCheck, ...] | None = None

    @property
    def provisional(self) -> bool:
        return bool(self.incomplete_cases or self.unrated_judgements)

    def standard(self, standard_id: str) -> StandardSummary:
        for s in self.standards:
            if s.id == standard_id:
                return s
        raise KeyError(standard_id)

    def key_question(self, key_question_id: str) -> KeyQuestionFigures:
        for s in self.standards:
            for kq in s.key_questions:
                if kq.id == key_question_id:
                    return kq
        raise KeyError(key_question_id)

    def question(self, question_id: str) -> QuestionFigures:
        for s in self.standards:
            for kq in s.key_questions:
                if kq.id == question_id:
                    return kq
                for q in (*kq.prompts, *kq.data_items):
                    if q.id == question_id:
                        return q
        raise KeyError(question_id)


def _figures(question: Prompt | DataItem, counts: dict[str, dict], cases: int) -> QuestionFigures:
    c = _counts(counts.get(question.id), cases)
    return QuestionFigures(id=question.id, text=question.text, counts=c, percentage=percent_yes(c.yes, c.no))


def _counts(row: dict | None, cases: int) -> AnswerCounts:
    yes = int(row["yes"]) if row else 0
    no = int(row["no"]) if row else 0
    na = int(row["not_applicable"]) if row else 0
    return AnswerCounts(yes=yes, no=no, not_applicable=na, unanswered=max(cases - yes - no - na, 0))


def build_summary(
    framework: Framework,
    *,
    round_name: str,
    round_id: str,
    unit: str,
    counts: dict[str, dict],
    cases: int,
    incomplete_cases: int,
    domain_ratings: dict[str, dict],
) -> Summary:
    """Pure: counts per question and stored domain-1 ratings -> Summary."""
    case_standards: dict[str, StandardSummary] = {}
    case_ratings: dict[str, Rating | None] = {}
    for standard in framework.standards:
        if standard.method is RatingMethod.JUDGEMENT:
            continue
        case_standards[standard.id] = _case_standard(framework, standard, counts, cases, unit)
        case_ratings[standard.id] = case_standards[standard.id].rating

    standards = []
    ratings: dict[str, Rating | None] = dict(case_ratings)
    unrated = []
    for standard in framework.standards:
        if standard.id in case_standards:
            standards.append(case_standards[standard.id])
            continue
        stored = domain_ratings.get(standard.id)
        rating = Rating(stored["rating"]) if stored else None
        cap = advisory_cap(framework, standard.id, case_ratings)
        if rating is None:
            unrated.append(standard.id)
        ratings[standard.id] = rating
        standards.append(
            StandardSummary(
                id=standard.id,
                name=standard.name,
                headline=standard.headline,
                domain_id=standard.domain_id,
                method=standard.method,
                rated=True,
                rating=rating,
                scored=standard.scored,
                evidence=stored["evidence"] if stored else None,
                cap=cap,
                above_cap=bool(rating and exceeds_cap(framework, rating, cap)),
                override_reason=stored["override_reason"] if stored else None,
            )
        )
    result = score(framework, ratings)
    return Summary(
        round=round_name,
        round_id=round_id,
        unit=unit,
        framework=framework,
        cases=cases,
        incomplete_cases=incomplete_cases,
        standards=tuple(standards),
        score=result.score,
        max_score=result.maximum,
        overall_rating=result.overall_rating,
        unrated_judgements=tuple(unrated),
    )


def _case_standard(framework: Framework, standard: Standard, counts: dict[str, dict], cases: int, unit: str) -> StandardSummary:
    key_questions = []
    kq_counts: dict[str, AnswerCounts] = {}
    for kq in standard.key_questions:
        c = _counts(counts.get(kq.id), cases)
        kq_counts[kq.id] = c
        percentage = percent_yes(c.yes, c.no)
        key_questions.append(
            KeyQuestionFigures(
                id=kq.id,
                text=kq.text,
                counts=c,
                percentage=percentage,
                banding=band(framework, percentage) if percentage else None,
                prompts=tuple(_figures(p, counts, cases) for p in kq.prompts),
                data_items=tuple(_figures(d, counts, cases) for d in kq.data_items),
            )
        )
    result = standard_result(framework, standard, kq_counts, unit)
    basis_note = ""
    banding = result.banding
    p = result.lowest_percentage
    if banding is not None and p is not None and banding.basis_matters and standard.rated:
        basis_note = (
            f"The lowest key question is {float(p.exact):.1f}% exactly ({p.yes}/{p.relevant}), printed as {p.printed}%: "
            f"'{banding.exact_rating}' on the exact value, '{banding.printed_rating}' on the printed one; "
            f"this framework bands the {banding.basis} value."
        )
    return StandardSummary(
        id=standard.id,
        name=standard.name,
        headline=standard.headline,
        domain_id=standard.domain_id,
        method=standard.method,
        rated=standard.rated,
        rating=result.rating,
        scored=standard.scored,
        key_questions=tuple(key_questions),
        lowest=result.lowest,
        lowest_percent=result.lowest_percentage.printed if result.lowest_percentage else None,
        sentence=result.sentence,
        basis_note=basis_note,
    )


def case_supervision_ratings(summary: Summary) -> dict[str, Rating | None]:
    """Ratings of the standards rated from case answers, for advisory caps."""
    return {s.id: s.rating for s in summary.standards if s.method is not RatingMethod.JUDGEMENT}


# ------------------------------------------------------------------ shared wording
def rating_word(s: StandardSummary) -> str:
    """A standard's rating as every output prints it."""
    if not s.rated:
        return "Not rated (for information)"
    word = "Not yet rated" if s.rating is None else s.rating.value
    # rated and shown but outside the score (the youth framework's resettlement standard)
    return word if s.scored else f"{word} (not counted in the score)"


def bound_text(value: Fraction) -> str:
    """A band bound as printed: 50, 62.5."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def band_lines(framework: Framework) -> tuple[Fraction, ...]:
    """Where the framework's rating bands meet: each band's lower bound above 0, lowest first."""
    return tuple(sorted({b.lower for b in framework.rating_bands if b.lower > 0}))


def band_lines_text(framework: Framework) -> str:
    """The band lines as a list for titles: '50, 65, 80'."""
    return ", ".join(bound_text(line) for line in band_lines(framework))


def judgement_standards(framework: Framework) -> tuple[Standard, ...]:
    """The standards a rater rates by judgement (the PDU framework's domain 1)."""
    return tuple(s for s in framework.standards if s.method is RatingMethod.JUDGEMENT)


def case_standards(framework: Framework) -> tuple[Standard, ...]:
    """The standards answered case by case (those with key questions), in the framework's order."""
    return tuple(s for s in framework.standards if s.key_questions)


def judgement_label(framework: Framework) -> str:
    """What the judgement-rated standards are called: their domain, by the framework's own number and name.

    'Domain 1 Organisational delivery'; 'Domains 1, 3, 4 (judgement-rated)' when they span domains;
    'Judgement' when the framework has none."""
    ids: list[str] = []
    for standard in judgement_standards(framework):
        if standard.domain_id not in ids:
            ids.append(standard.domain_id)
    if not ids:
        return "Judgement"
    if len(ids) == 1:
        try:
            return f"Domain {ids[0]} {framework.domain(ids[0]).name}"
        except KeyError:
            return f"Domain {ids[0]}"
    return f"Domains {', '.join(ids)} (judgement-rated)"


def percent_text(q: QuestionFigures) -> str:
    return f"{q.percent}%" if q.percent is not None else "n/a"


# ------------------------------------------------------------------ JSON shape
def _percentage_json(p: Percentage | None) -> Any:
    return p.printed if p else None


def _question_json(q: QuestionFigures) -> dict:
    c = q.counts
    return {
        "id": q.id,
        "text": q.text,
        "yes": c.yes,
        "no": c.no,
        "not_applicable": c.not_applicable,
        "unanswered": c.unanswered,
        "percent": _percentage_json(q.percentage),
        "exact_percent": float(q.percentage.exact) if q.percentage else None,
    }


def to_json(summary: Summary) -> dict:
    """The stable JSON shape other tools rely on (keys documented in README)."""
    standards = []
    for s in summary.standards:
        item: dict[str, Any] = {
            "id": s.id,
            "name": s.name,
            "domain": s.domain_id,
            "method": s.method.value,
            "rated": s.rated,
            "scored": s.scored,
            "rating": s.rating.value if s.rating else None,
            "lowest": {"key_questions": list(s.lowest), "percent": s.lowest_percent} if s.lowest else None,
            "sentence": s.sentence or None,
            "basis_note": s.basis_note or None,
            "key_questions": [],
        }
        for kq in s.key_questions:
            kq_json = _question_json(kq)
            kq_json["band"] = kq.banding.rating.value if kq.banding else None
            kq_json["prompts"] = [{**_question_json(p), "out_of": p.out_of()} for p in kq.prompts]
            kq_json["data_items"] = [_question_json(d) for d in kq.data_items]
            item["key_questions"].append(kq_json)
        if s.method is RatingMethod.JUDGEMENT:
            item["evidence"] = s.evidence
            item["advisory_cap"] = (
                {"rating": s.cap.cap.value, "rule": s.cap.rule.id, "guidance": s.cap.rule.guidance} if s.cap else None
            )
            item["above_cap"] = s.above_cap
            item["override_reason"] = s.override_reason
        standards.append(item)
    return {
        "round": summary.round,
        "unit": summary.unit,
        "framework": {
            "id": summary.framework.id,
            "version": summary.framework.version,
            "band_basis": summary.framework.band_basis.value,
        },
        "cases": summary.cases,
        "incomplete_cases": summary.incomplete_cases,
        "standards": standards,
        "score": summary.score,
        "max_score": summary.max_score,
        "overall_rating": summary.overall_rating.value if summary.overall_rating else None,
        "provisional": summary.provisional,
        "unrated_judgements": list(summary.unrated_judgements),
        "judgement_checks": [c.to_json() for c in summary.judgement_checks or ()],
    }
