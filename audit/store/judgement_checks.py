"""A stored round's key-question judgements to review (``audit.core.judgement_checks``): the one
place that reads them, for `caseaudit summary`, `caseaudit check --round`, the reports and the TUI."""

from __future__ import annotations

import json

from audit.core.judgement_checks import JudgementCheck, find_judgement_checks
from audit.store.audit_store import IN_SAMPLE, AuditStore
from audit.store.rounds import Round


def judgement_checks(store: AuditStore, round_row: Round) -> tuple[JudgementCheck, ...]:
    """Every key-question judgement in the round's sample (reserves and swapped-out cases are not
    counted) that contradicts every relevant prompt of its case, in case-reference order, then the
    framework's order. A case screen's "check" warning, for the whole round.

    Only the cases that may hold one are read in full: a judgement with a prompt agreeing with it
    (the usual case) is passed over in SQL, using the (case, question) key.
    """
    framework = store.framework_for(round_row)
    prompts_of = {kq.id: [p.id for p in kq.prompts] for kq in framework.key_questions if kq.prompts}
    if not prompts_of:
        return ()
    # a Yes or No judgement none of whose prompts gives the same answer: the candidates
    candidates = store.db.conn.execute(
        f"""
        SELECT DISTINCT k.case_id, c.case_ref FROM answers k JOIN cases c ON c.id = k.case_id
        WHERE k.round_id = ? AND k.value IN ('Yes', 'No') AND {IN_SAMPLE}
          AND k.question_id IN (SELECT key FROM json_each(?))
          AND NOT EXISTS (
              SELECT 1 FROM json_each(json_extract(?, '$."' || k.question_id || '"')) p
              JOIN answers a ON a.case_id = k.case_id AND a.question_id = p.value
              WHERE a.value = k.value
          )
        ORDER BY c.case_ref
        """,
        [round_row.id, json.dumps(prompts_of), json.dumps(prompts_of)],
    ).fetchall()
    if not candidates:
        return ()
    answers: dict[int, dict[str, str]] = {case_id: {} for case_id, _ in candidates}
    for case_id, question_id, value in store.db.conn.execute(
        "SELECT case_id, question_id, value FROM answers WHERE case_id IN (SELECT value FROM json_each(?)) AND value IS NOT NULL",
        [json.dumps(list(answers))],
    ):
        answers[case_id][question_id] = value
    return find_judgement_checks(framework, ((case_ref, answers[case_id]) for case_id, case_ref in candidates))
