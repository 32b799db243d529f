"""A stored round's key-question judgements to review (``audit.core.judgement_checks``): the one
place that reads them, for `caseaudit summary`, `caseaudit check --round`, the reports and the TUI."""

from __future__ import annotations

from audit.core.judgement_checks import JudgementCheck
from audit.store.answer_codes import CodeBlock
from audit.store.audit_store import AuditStore
from audit.store.rounds import Round
from framework.rules import judgement_disagrees


def judgement_checks(
    store: AuditStore, round_row: Round, *, in_sample_only: bool = True, block: CodeBlock | None = None
) -> tuple[JudgementCheck, ...]:
    """Every key-question judgement in the round's sample (reserves and swapped-out cases are not
    counted, unless ``in_sample_only`` is False: the cases screen flags every case it lists) that
    contradicts every relevant prompt of its case, in case-reference order, then the framework's order.
    A case screen's "check" warning, for the whole round.

    Read from the cases' answer codes (``AuditStore.answer_code_block``; ``block``: the ones a summary
    has read already, of the same cases). The candidates are found a key question at a time over every
    case at once: each question's codes, one byte per case, become a number with a bit per case
    ("answered Yes"), so "Yes with some prompt No and no prompt Yes" is a few integer operations; the
    framework's rule then decides on each, and only the cases it flags are looked up by reference."""
    framework = store.framework_for(round_row)
    questions = tuple(framework.question_ids)
    width = len(questions)
    if block is None:
        block = store.answer_code_block(round_row, in_sample_only=in_sample_only)
    if not block.cases:
        return ()
    joined = block.joined if isinstance(block.joined, bytes) else block.joined.encode("ascii", "replace")
    cases = block.cases
    everyone = int.from_bytes(b"\x01" * cases, "big")

    def answered(question_id: str, code: bytes) -> int:
        column = joined[questions.index(question_id) :: width]
        return int.from_bytes(column.translate(_ONE_FOR[code]), "big")

    word = {b"Y": "Yes", b"N": "No"}
    found: list[tuple[int, str, str, str]] = []  # (place of the case in the block, key question, judgement, its text)
    for kq in framework.key_questions:
        if not kq.prompts:
            continue
        prompt_yes = prompt_no = 0
        for prompt in kq.prompts:
            prompt_yes |= answered(prompt.id, b"Y")
            prompt_no |= answered(prompt.id, b"N")
        candidates = (answered(kq.id, b"Y") & prompt_no & (everyone ^ prompt_yes)) | (
            answered(kq.id, b"N") & prompt_yes & (everyone ^ prompt_no)
        )
        flags = candidates.to_bytes(cases, "big")
        n = flags.find(1)
        while n != -1:
            codes = joined[n * width : (n + 1) * width]
            judgement = word.get(codes[questions.index(kq.id) : questions.index(kq.id) + 1])
            prompts = [word.get(codes[i : i + 1]) for i in (questions.index(p.id) for p in kq.prompts)]
            if judgement is not None and judgement_disagrees(judgement, prompts):
                found.append((n, kq.id, judgement, kq.text))
            n = flags.find(1, n + 1)
    if not found:
        return ()
    ids = block.case_ids()
    refs = _case_refs(store, sorted({ids[n] for n, *_ in found}))
    order = {kq.id: n for n, kq in enumerate(framework.key_questions)}
    checks = [JudgementCheck(case_ref=refs[ids[n]], question=q, judgement=j, text=t) for n, q, j, t in found]
    return tuple(sorted(checks, key=lambda c: (c.case_ref, order[c.question])))


def _case_refs(store: AuditStore, case_ids: list[int]) -> dict[int, str]:
    refs: dict[int, str] = {}
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        refs.update(store.db.conn.execute(f"SELECT id, case_ref FROM cases WHERE id IN ({marks})", chunk).fetchall())
    return refs


# a byte per case: 1 where a question's code is the one asked for, else 0
_ONE_FOR = {code: bytes(1 if byte == code[0] else 0 for byte in range(256)) for code in (b"Y", b"N")}


def judgement_check_counts(store: AuditStore, round_row: Round) -> dict[str, int]:
    """Per case reference (cases with none left out), reserves and swapped-out cases included: how many of its
    judgements to review. The cases screen's flag."""
    counts: dict[str, int] = {}
    for check in judgement_checks(store, round_row, in_sample_only=False):
        counts[check.case_ref] = counts.get(check.case_ref, 0) + 1
    return counts
