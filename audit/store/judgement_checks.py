"""A stored round's key-question judgements to review (``audit.core.judgement_checks``): the one
place that reads them, for `caseaudit summary`, `caseaudit check --round`, the reports and the TUI."""

from __future__ import annotations

from audit.core.judgement_checks import JudgementCheck
from audit.store.answer_codes import padded_codes_sql
from audit.store.audit_store import IN_SAMPLE, AuditStore
from audit.store.rounds import Round
from framework.rules import judgement_disagrees


def judgement_checks(store: AuditStore, round_row: Round, *, in_sample_only: bool = True) -> tuple[JudgementCheck, ...]:
    """Every key-question judgement in the round's sample (reserves and swapped-out cases are not
    counted, unless ``in_sample_only`` is False: the cases screen flags every case it lists) that
    contradicts every relevant prompt of its case, in case-reference order, then the framework's order.
    A case screen's "check" warning, for the whole round.

    Read from each case's answer codes (``audit.store.answer_codes``), one row per case. The
    candidates are found a key question at a time over every case at once: each question's codes,
    one byte per case, become a number with a bit per case ("answered Yes"), so "Yes with some prompt
    No and no prompt Yes" is a few integer operations; the framework's rule then decides on each."""
    framework = store.framework_for(round_row)
    questions = tuple(framework.question_ids)
    width = len(questions)
    rows = store.db.conn.execute(
        f"SELECT c.case_ref, {padded_codes_sql(width)} FROM cases c"
        f" WHERE c.round_id = ? AND {IN_SAMPLE if in_sample_only else '1'} ORDER BY c.case_ref",
        [round_row.id],
    ).fetchall()
    if not rows:
        return ()
    refs = [row[0] for row in rows]
    joined = "".join(row[1] for row in rows).encode("ascii")  # the plain codes: Y, N, A and blank
    cases = len(refs)
    everyone = int.from_bytes(b"\x01" * cases, "big")

    def answered(question_id: str, code: bytes) -> int:
        column = joined[questions.index(question_id) :: width]
        return int.from_bytes(column.translate(_ONE_FOR[code]), "big")

    word = {b"Y": "Yes", b"N": "No"}
    checks = []
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
                checks.append(JudgementCheck(case_ref=refs[n], question=kq.id, judgement=judgement, text=kq.text))
            n = flags.find(1, n + 1)
    order = {kq.id: n for n, kq in enumerate(framework.key_questions)}
    return tuple(sorted(checks, key=lambda c: (c.case_ref, order[c.question])))


# a byte per case: 1 where a question's code is the one asked for, else 0
_ONE_FOR = {code: bytes(1 if byte == code[0] else 0 for byte in range(256)) for code in (b"Y", b"N")}


def judgement_check_counts(store: AuditStore, round_row: Round) -> dict[str, int]:
    """Per case reference (cases with none left out), reserves and swapped-out cases included: how many of its
    judgements to review. The cases screen's flag."""
    counts: dict[str, int] = {}
    for check in judgement_checks(store, round_row, in_sample_only=False):
        counts[check.case_ref] = counts.get(check.case_ref, 0) + 1
    return counts
