"""Second marking: how far two markers agree, question by question, and Cohen's kappa.

The inspectorate quality-assures its judgements by a blind second marking of a dip sample. This
module compares the two markings as values: nothing here reads a database.

- A case and question is *compared* when both markers answered it (Yes, No or Not applicable);
  an answer left blank by either marker is not a judgement to compare.
- Percentage agreement is agreed / compared, a whole number with halves rounded up (as the reports print).
- Cohen's kappa over the three answers: ``κ = (p_o − p_e) / (1 − p_e)``, with ``p_e`` the sum over answers
  of the product of the two markers' shares. When ``p_e = 1`` (both markers gave one and the same
  answer throughout) kappa is undefined: ``None``, shown as "undefined", never 0.
- Landis & Koch's words go with the kappa *as printed* (two decimals, halves up), so the word a reader
  sees always fits the number beside it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import attrs

from framework.rules import round_half_up

CATEGORIES = ("Yes", "No", "Not applicable")
UNDEFINED = "undefined"

# Landis & Koch (1977): the upper bound of each band (inclusive, on the printed two-decimal value)
_BANDS = (
    (Fraction(20, 100), "slight"),
    (Fraction(40, 100), "fair"),
    (Fraction(60, 100), "moderate"),
    (Fraction(80, 100), "substantial"),
    (Fraction(1), "almost perfect"),
)


def landis_koch(value: Fraction) -> str:
    """Landis & Koch's word for a kappa: below 0 poor, 0–0.20 slight, 0.21–0.40 fair,
    0.41–0.60 moderate, 0.61–0.80 substantial, 0.81–1 almost perfect."""
    if value < 0:
        return "poor"
    for upper, word in _BANDS:
        if value <= upper:
            return word
    return "almost perfect"


@attrs.frozen(kw_only=True)
class Kappa:
    """Cohen's kappa, exact and as printed (two decimals, halves up), with its Landis & Koch word."""

    exact: Fraction
    observed: Fraction  # p_o
    expected: Fraction  # p_e

    @property
    def hundredths(self) -> int:
        return round_half_up(self.exact * 100)

    @property
    def printed(self) -> str:
        h = self.hundredths
        sign = "-" if h < 0 else ""
        return f"{sign}{abs(h) // 100}.{abs(h) % 100:02d}"

    @property
    def words(self) -> str:
        return landis_koch(Fraction(self.hundredths, 100))

    def __str__(self) -> str:
        return f"{self.printed} ({self.words})"


def cohens_kappa(pairs: Iterable[tuple[str, str]]) -> Kappa | None:
    """Kappa for (first, second) answer pairs; None when undefined (nothing compared, or p_e = 1)."""
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return None
    agreed = sum(1 for a, b in pairs if a == b)
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    observed = Fraction(agreed, n)
    expected = sum((Fraction(first[c] * second[c], n * n) for c in set(first) | set(second)), Fraction(0))
    if expected == 1:
        return None
    return Kappa(exact=(observed - expected) / (1 - expected), observed=observed, expected=expected)


def kappa_text(kappa: Kappa | None) -> str:
    """How every output shows a kappa: '0.47 (moderate)' or 'undefined'."""
    return UNDEFINED if kappa is None else str(kappa)


@attrs.frozen(kw_only=True)
class QuestionAgreement:
    id: str
    kind: str
    compared: int
    agreed: int
    kappa: Kappa | None

    @property
    def percent(self) -> int | None:
        """Agreed / compared as a whole percentage, halves up; None when nothing was compared."""
        return round_half_up(Fraction(100 * self.agreed, self.compared)) if self.compared else None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "compared": self.compared,
            "agreed": self.agreed,
            "percent": self.percent,
            "kappa": None if self.kappa is None else float(self.kappa.hundredths) / 100,
            "kappa_words": UNDEFINED if self.kappa is None else self.kappa.words,
        }


@attrs.frozen(kw_only=True)
class Disagreement:
    case_ref: str
    question: str
    first: str
    second: str

    def as_dict(self) -> dict:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class Agreement:
    """Per-question agreement, the pooled overall line, and every disagreement."""

    questions: tuple[QuestionAgreement, ...]
    overall: QuestionAgreement
    disagreements: tuple[Disagreement, ...]

    def question(self, question_id: str) -> QuestionAgreement:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)


def _line(question_id: str, kind: str, pairs: list[tuple[str, str]]) -> QuestionAgreement:
    return QuestionAgreement(
        id=question_id,
        kind=kind,
        compared=len(pairs),
        agreed=sum(1 for a, b in pairs if a == b),
        kappa=cohens_kappa(pairs),
    )


def compare_markings(
    questions: Sequence[tuple[str, str]],
    first: Mapping[tuple[str, str], str | None],
    second: Mapping[tuple[str, str], str | None],
) -> Agreement:
    """Compare two markings.

    ``questions``: (question id, kind) in the order to report; ``first`` / ``second``: (case_ref, question id)
    -> answer (Yes, No, Not applicable; None or absent for unanswered). Only cases and questions both
    markers answered are compared; answers outside the three categories are refused.
    """
    for marking in (first, second):
        for key, value in marking.items():
            if value is not None and value not in CATEGORIES:
                raise ValueError(f"{value!r} (case {key[0]}, question {key[1]}) is not Yes, No or Not applicable")
    cases = sorted({case for case, _ in second} & {case for case, _ in first})
    lines: list[QuestionAgreement] = []
    pooled: list[tuple[str, str]] = []
    disagreements: list[Disagreement] = []
    for question_id, kind in questions:
        pairs: list[tuple[str, str]] = []
        for case in cases:
            a, b = first.get((case, question_id)), second.get((case, question_id))
            if a is None or b is None:
                continue
            pairs.append((a, b))
            if a != b:
                disagreements.append(Disagreement(case_ref=case, question=question_id, first=a, second=b))
        lines.append(_line(question_id, kind, pairs))
        pooled.extend(pairs)
    return Agreement(questions=tuple(lines), overall=_line("overall", "overall", pooled), disagreements=tuple(disagreements))


def choose_cases(case_refs: Iterable[str], n: int, seed: int) -> list[str]:
    """``n`` cases for a second marking, chosen at random but reproducibly from ``seed``
    (the same references and seed always choose the same cases), in reference order."""
    import random

    refs = sorted(set(case_refs))
    if n < 1:
        raise ValueError("choose at least one case")
    if n > len(refs):
        raise ValueError(f"{n} cases asked for, but the round has only {len(refs)}")
    return sorted(random.Random(seed).sample(refs, n))
