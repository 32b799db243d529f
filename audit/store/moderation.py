"""A stored round's moderation: its blind second marking compared with the first (``audit.core.moderation``),
and settling a disagreement back into the original round through the normal answer write."""

from __future__ import annotations

import attrs

from audit.core.moderation import Agreement, compare_markings
from audit.errors import InvalidValue, UnknownQuestion
from audit.store.audit_store import IN_SAMPLE, AuditStore
from audit.store.rounds import Round

SOURCE = "moderation"


@attrs.frozen(kw_only=True)
class Moderation:
    """An original round, the round moderating it, and how far the two markings agree."""

    original: Round
    moderation: Round
    agreement: Agreement


def _marking(store: AuditStore, round_row: Round) -> dict[tuple[str, str], str]:
    return {
        (row["case_ref"], row["question_id"]): row["value"]
        for row in store.db.query(
            "SELECT c.case_ref, a.question_id, a.value FROM answers a JOIN cases c ON c.id = a.case_id"
            f" WHERE c.round_id = ? AND a.value IS NOT NULL AND {IN_SAMPLE}",
            [round_row.id],
        )
    }


def moderation_of(store: AuditStore, original: Round, moderation_name: str | None = None) -> Moderation:
    """The agreement between ``original`` and its moderation round (the newest, or the one named)."""
    moderation = store.moderation_round(original, moderation_name)
    framework = store.framework_for(original)
    questions = [(q.id, str(q.kind)) for q in framework.iter_questions()]
    return Moderation(
        original=original,
        moderation=moderation,
        agreement=compare_markings(questions, _marking(store, original), _marking(store, moderation)),
    )


def latest_moderation(store: AuditStore, original: Round) -> Moderation | None:
    """The newest moderation of ``original``, or None when it has none (or is itself a moderation round)."""
    if original.moderates is not None or not store.moderation_rounds(original):
        return None
    return moderation_of(store, original)


def settle(
    store: AuditStore,
    original: Round,
    case_ref: str,
    question_id: str,
    keep: str,
    *,
    reason: str | None = None,
    moderation_name: str | None = None,
    auditor: str | None = None,
) -> bool:
    """Record the moderated answer in ``original``: the first marker's (``keep='first'``) or the second's.

    Written through ``record_answer`` with source 'moderation' and the auditor's name; the reason, when
    given, becomes the answer's note. Keeping a first answer that is already there still records an event
    (old = new), so the history shows the answer was moderated. Returns True when the answer changed.
    """
    if keep not in ("first", "second"):
        raise InvalidValue(f"{keep!r}: settle keeps 'first' or 'second'")
    framework = store.framework_for(original)
    if not framework.has_question(question_id):
        raise UnknownQuestion(f"{question_id!r} is not a question of {framework.id} version {framework.version}")
    moderation = store.moderation_round(original, moderation_name)
    first_case = store.case(original, case_ref)
    second_case = store.case(moderation, case_ref)
    chosen_case = first_case if keep == "first" else second_case
    chosen = store.answer(chosen_case["id"], question_id) or {}
    if not chosen.get("value"):
        marker = (
            "first marker (round " + repr(original.name) if keep == "first" else "second marker (round " + repr(moderation.name)
        )
        raise InvalidValue(f"the {marker}) has not answered {question_id} for {first_case['case_ref']}; nothing to keep")
    before = store.answer(first_case["id"], question_id) or {}
    note = (reason or "").strip() or None
    store.record_answer(
        original,
        case_ref,
        question_id,
        chosen["value"],
        reason=chosen.get("reason"),
        note=note,
        keep_note=True,
        auditor=auditor,
        source=SOURCE,
        always_record=True,
    )
    return (before.get("value"), before.get("reason")) != (chosen["value"], chosen.get("reason"))
