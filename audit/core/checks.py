"""Checks an auditor is shown but never blocked by."""

from __future__ import annotations

from collections.abc import Mapping

from framework import Framework
from framework.model import KeyQuestion
from framework.rules import judgement_disagrees


def judgement_checks(framework: Framework, values: Mapping[str, str | None]) -> list[KeyQuestion]:
    """The key questions of one case whose judgement contradicts every relevant prompt (Yes with every
    prompt answered Yes or No being No, or the reverse), in the framework's order: the case screen's
    "check" warning. ``values`` maps question ids to "Yes", "No", "Not applicable" or None."""
    return [
        key_question
        for standard in framework.standards
        for key_question in standard.key_questions
        if judgement_disagrees(values.get(key_question.id), [values.get(p.id) for p in key_question.prompts])
    ]
