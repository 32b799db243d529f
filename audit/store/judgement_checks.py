"""A stored round's key-question judgements to review (``audit.core.judgement_checks``): the one
place that reads them, for `caseaudit summary`, `caseaudit check --round`, the reports and the TUI."""

from __future__ import annotations

from audit.core.judgement_checks import JudgementCheck
from audit.store.answer_codes import NO_CODE, YES_CODE, CodeBlock, code_bits
from audit.store.audit_store import AuditStore
from audit.store.case_table import CaseAnswerTable
from audit.store.rounds import Round
from framework import Framework
from framework.rules import judgement_disagrees


def judgement_checks(
    store: AuditStore, round_row: Round, *, in_sample_only: bool = True, block: CodeBlock | None = None
) -> tuple[JudgementCheck, ...]:
    """Every key-question judgement in the round's sample (reserves and swapped-out cases are not
    counted, unless ``in_sample_only`` is False: the cases screen flags every case it lists) that
    contradicts every relevant prompt of its case, in case-reference order, then the framework's order.
    A case screen's "check" warning, for the whole round.

    Read from the cases' answer codes (``AuditStore.answer_code_block``; ``block``: the ones a summary
    has read already, of the same cases); only the cases flagged are looked up by reference."""
    if block is None:
        block = store.answer_code_block(round_row, in_sample_only=in_sample_only)
    framework = store.framework_for(round_row)
    found = flagged_judgements(framework, block)
    if not found:
        return ()
    ids = block.case_ids_at(n for n, *_ in found)
    refs = _case_refs(store, sorted(set(ids)))
    named = [
        (refs[case_id], question, judgement, text) for case_id, (_, question, judgement, text) in zip(ids, found, strict=True)
    ]
    return in_order(framework, named)


def judgement_checks_of_table(framework: Framework, table: CaseAnswerTable, block: CodeBlock) -> tuple[JudgementCheck, ...]:
    """``judgement_checks`` of a round read as a case table (a report's), from its ``code_block()``: no second read."""
    found = flagged_judgements(framework, block)
    return in_order(framework, [(table.cases[n][0], question, judgement, text) for n, question, judgement, text in found])


def in_order(framework: Framework, found: list[tuple[str, str, str, str]]) -> tuple[JudgementCheck, ...]:
    """(case reference, key question, judgement, its text) as checks, in case-reference order, then the framework's."""
    order = {kq.id: n for n, kq in enumerate(framework.key_questions)}
    checks = [JudgementCheck(case_ref=ref, question=q, judgement=j, text=t) for ref, q, j, t in found]
    return tuple(sorted(checks, key=lambda c: (c.case_ref, order[c.question])))


def flagged_judgements(framework: Framework, block: CodeBlock) -> list[tuple[int, str, str, str]]:
    """(place of the case in the block, key question, judgement, its text) of each judgement to review.

    The candidates are found a key question at a time over every case at once: each question's codes
    (the block's columns, one character per case) become a number with a byte per case (``code_bits``: 1 where "answered Yes"),
    so "Yes with some prompt No and no prompt Yes" is a few integer operations; the framework's rule
    then decides on each. Any code but Yes and No (a not-applicable reason's) counts as neither."""
    questions = tuple(framework.question_ids)
    cases = block.cases
    if not cases:
        return []
    columns = block.columns
    everyone = int.from_bytes(b"\x01" * cases, "big")

    def answered(question_id: str, code: str) -> int:
        return code_bits(columns[questions.index(question_id)], code)

    # a case's code, as a bytes column gives it (a number) or a text one (a character)
    word: dict[int | str, str] = {ord(YES_CODE): "Yes", ord(NO_CODE): "No", YES_CODE: "Yes", NO_CODE: "No"}
    found: list[tuple[int, str, str, str]] = []
    for kq in framework.key_questions:
        if not kq.prompts:
            continue
        prompt_yes = prompt_no = 0
        for prompt in kq.prompts:
            prompt_yes |= answered(prompt.id, YES_CODE)
            prompt_no |= answered(prompt.id, NO_CODE)
        candidates = (answered(kq.id, YES_CODE) & prompt_no & (everyone ^ prompt_yes)) | (
            answered(kq.id, NO_CODE) & prompt_yes & (everyone ^ prompt_no)
        )
        if not candidates:
            continue
        flags = candidates.to_bytes(cases, "big")
        own = columns[questions.index(kq.id)]
        of_prompts = [columns[questions.index(p.id)] for p in kq.prompts]
        n = flags.find(1)
        while n != -1:
            judgement = word.get(own[n])
            if judgement is not None and judgement_disagrees(judgement, [word.get(column[n]) for column in of_prompts]):
                found.append((n, kq.id, judgement, kq.text))
            n = flags.find(1, n + 1)
    return found


def _case_refs(store: AuditStore, case_ids: list[int]) -> dict[int, str]:
    refs: dict[int, str] = {}
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        refs.update(store.db.conn.execute(f"SELECT id, case_ref FROM cases WHERE id IN ({marks})", chunk).fetchall())
    return refs


def judgement_check_counts(store: AuditStore, round_row: Round) -> dict[str, int]:
    """Per case reference (cases with none left out), reserves and swapped-out cases included: how many of its
    judgements to review. The cases screen's flag."""
    counts: dict[str, int] = {}
    for check in judgement_checks(store, round_row, in_sample_only=False):
        counts[check.case_ref] = counts.get(check.case_ref, 0) + 1
    return counts
