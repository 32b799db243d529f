"""Key-question judgements to review: a judgement that contradicts every relevant prompt.

The case screen warns about such a judgement as it is given ("check"), never blocking it: a key
question is a holistic judgement. A QA lead reviews them afterwards, case by case: `caseaudit
summary` and `caseaudit check --round`, and the reports, list them. The rule is the framework's
(``framework.rules.judgement_disagrees``); this module applies it to a case's answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from framework import Framework
from framework.rules import judgement_disagrees


@attrs.frozen(kw_only=True)
class JudgementCheck:
    """One key-question judgement that contradicts every relevant prompt of its case."""

    case_ref: str
    question: str  # the key question's id
    judgement: str  # "Yes" or "No", as given
    text: str = ""  # the key question's text

    @property
    def prompts_say(self) -> str:
        """What every relevant prompt says: the opposite of the judgement."""
        return "No" if self.judgement == "Yes" else "Yes"

    def sentence(self) -> str:
        return f"Case {self.case_ref}, {self.question}: judged {self.judgement}, but every relevant prompt is {self.prompts_say}"

    def to_json(self) -> dict[str, str]:
        return {"case_ref": self.case_ref, "question": self.question, "judgement": self.judgement, "text": self.text}


def judgement_checks_of_case(framework: Framework, case_ref: str, answers: Mapping[str, str | None]) -> list[JudgementCheck]:
    """The judgements of one case (its answers by question id: "Yes", "No", "Not applicable" or
    None) that contradict every relevant prompt, in the framework's order."""
    found = []
    for kq in framework.key_questions:
        judgement = answers.get(kq.id)
        if judgement_disagrees(judgement, [answers.get(p.id) for p in kq.prompts]):
            assert judgement is not None  # judgement_disagrees is only true of a Yes or a No
            found.append(JudgementCheck(case_ref=case_ref, question=kq.id, judgement=judgement, text=kq.text))
    return found


def find_judgement_checks(
    framework: Framework, cases: Iterable[tuple[str, Mapping[str, str | None]]]
) -> tuple[JudgementCheck, ...]:
    """Every judgement to review over ``cases`` ((case reference, answers by question id) each),
    in the order given (case by case), then the framework's order within a case."""
    return tuple(check for case_ref, answers in cases for check in judgement_checks_of_case(framework, case_ref, answers))
