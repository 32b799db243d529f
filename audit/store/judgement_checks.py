"""A stored round's key-question judgements to review (``audit.core.judgement_checks``): the one
place that reads them, for `caseaudit summary`, `caseaudit check --round`, the reports and the TUI."""

from __future__ import annotations

import json

from audit.core.judgement_checks import JudgementCheck
from audit.store.audit_store import IN_SAMPLE, AuditStore
from audit.store.rounds import Round
from framework import Framework
from framework.rules import judgement_disagrees


def judgement_checks(store: AuditStore, round_row: Round, *, in_sample_only: bool = True) -> tuple[JudgementCheck, ...]:
    """Every key-question judgement in the round's sample (reserves and swapped-out cases are not
    counted, unless ``in_sample_only`` is False: the cases screen flags every case it lists) that contradicts every relevant prompt of its case, in case-reference order, then the
    framework's order. A case screen's "check" warning, for the whole round.

    SQL picks the candidates: a Yes or No judgement with a Yes or No prompt and no prompt giving the
    same answer, read case by case (CROSS JOIN keeps that order: each case's answers are one short
    range of the case-ordered table). The framework's rule then decides on each candidate's answers.
    """
    framework = store.framework_for(round_row)
    prompts_of = {kq.id: [p.id for p in kq.prompts] for kq in framework.key_questions if kq.prompts}
    if not prompts_of:
        return ()
    if _prompts_are_id_ranges(framework):
        # a key question's prompts are its id and one letter (as framework files write them): one short
        # range of the case's answers, by the (case, question) key
        prompts_params: list[str] = []
        in_prompts = (
            "a.question_id BETWEEN k.question_id || 'a' AND k.question_id || 'z'"
            " AND length(a.question_id) = length(k.question_id) + 1"
        )
    else:  # each key question's prompts as a small JSON list picked by a CASE
        prompts_params = [x for kq, prompts in prompts_of.items() for x in (kq, json.dumps(prompts))]
        prompts_list = "json_each(CASE k.question_id " + " ".join("WHEN ? THEN ?" for _ in prompts_of) + " END)"
        in_prompts = f"a.question_id IN (SELECT value FROM {prompts_list})"
    relevant_prompts = f"FROM answers a WHERE a.case_id = k.case_id AND a.value IN ('Yes', 'No') AND {in_prompts}"
    rows = store.db.conn.execute(
        f"""
        SELECT c.case_ref, k.question_id, k.value, (SELECT json_group_array(a.value) {relevant_prompts})
        FROM cases c CROSS JOIN answers k ON k.case_id = c.id
        WHERE c.round_id = ? AND {IN_SAMPLE if in_sample_only else "1"} AND k.value IN ('Yes', 'No')
          AND k.question_id IN (SELECT value FROM json_each(?))
          AND NOT EXISTS (SELECT 1 {relevant_prompts} AND a.value = k.value)
        ORDER BY c.case_ref
        """,
        [*prompts_params, round_row.id, json.dumps(list(prompts_of)), *prompts_params],
    ).fetchall()
    order = {kq.id: n for n, kq in enumerate(framework.key_questions)}
    text = {kq.id: kq.text for kq in framework.key_questions}
    checks = [
        JudgementCheck(case_ref=case_ref, question=question_id, judgement=judgement, text=text[question_id])
        for case_ref, question_id, judgement, prompts in rows
        if judgement_disagrees(judgement, json.loads(prompts))
    ]
    return tuple(sorted(checks, key=lambda c: (c.case_ref, order[c.question])))  # stable: case-reference order kept


def judgement_check_counts(store: AuditStore, round_row: Round) -> dict[str, int]:
    """Per case reference (cases with none left out), reserves and swapped-out cases included: how many of its
    judgements to review. The cases screen's flag."""
    counts: dict[str, int] = {}
    for check in judgement_checks(store, round_row, in_sample_only=False):
        counts[check.case_ref] = counts.get(check.case_ref, 0) + 1
    return counts


def _prompts_are_id_ranges(framework: Framework) -> bool:
    """True when each key question's prompts are exactly the questions whose id is the key question's
    and one letter (a-z): what the framework loader asks of prompt ids, checked here all the same."""
    ids = framework.question_ids
    for kq in framework.key_questions:
        in_range = {q for q in ids if len(q) == len(kq.id) + 1 and kq.id + "a" <= q <= kq.id + "z"}
        if in_range != {p.id for p in kq.prompts}:
            return False
    return True
