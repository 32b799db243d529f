"""A stored round's figures: its counts read from the database, scored by the framework's rules (``audit.core.summary``)."""

from __future__ import annotations

import attrs

from audit.core.summary import Summary, build_summary
from audit.store.audit_store import AuditStore
from audit.store.judgement_checks import judgement_checks
from audit.store.rounds import Round


def summarise(
    store: AuditStore, round_row: Round, *, where: str = "", params: tuple = (), with_judgement_checks: bool = False
) -> Summary:
    """The Summary of a stored round (optionally of the cases matching a SQL filter on ``c``).

    Counted by the round's id; named as ``round_row`` was read (read it again by id for a later name).
    ``with_judgement_checks``: also list the judgements that contradict every relevant prompt (whole round only)."""
    if with_judgement_checks and where:
        raise ValueError("judgement checks are listed for a whole round")
    questions = tuple(store.framework_for(round_row).question_ids)
    block = store.answer_code_block(round_row, where, params)  # one read of the cases, for the counts and the checks
    summary = summary_from_counts(store, round_row, block.counts(questions, questions), block.cases, block.incomplete())
    if with_judgement_checks:
        summary = attrs.evolve(summary, judgement_checks=judgement_checks(store, round_row, block=block))
    return summary


def summary_from_counts(store: AuditStore, round_row: Round, counts: dict[str, dict], cases: int, incomplete: int) -> Summary:
    """The Summary of a stored round from counts already made (the report counts its case table)."""
    return build_summary(
        store.framework_for(round_row),
        round_name=round_row.name,
        round_id=round_row.id,
        unit=round_row.unit,
        counts=counts,
        cases=cases,
        incomplete_cases=incomplete,
        domain_ratings=store.domain_ratings(round_row),
    )
