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
    answers_since: int = 0  # answers given in the original round since the moderation round was made: not compared

    @property
    def first_marking_as_of(self) -> str:
        """When the first marking was taken: the moderation round's making (UTC)."""
        return self.moderation.created_at


def _marking(store: AuditStore, round_row: Round) -> dict[tuple[str, str], str]:
    return {
        (row["case_ref"], row["question_id"]): row["value"]
        for row in store.db.query(
            "SELECT c.case_ref, a.question_id, a.value FROM answers a JOIN cases c ON c.id = a.case_id"
            f" WHERE c.round_id = ? AND a.value IS NOT NULL AND {IN_SAMPLE}",
            [round_row.id],
        )
    }


def first_marking(
    store: AuditStore, original: Round, moderation: Round, *, counted_only: bool = True
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """The first marker's answers: the original round's answers as they stood when the moderation round was
    made (value, not-applicable reason), from its history. Answers given or settled since — by anyone, or by
    settling this moderation — do not change what the first marker said (``answers_given_since`` counts them).
    ``counted_only``: leave out cases the figures do not count now (swapped out, removed), as agreement does."""
    marking: dict[tuple[str, str], tuple[str, str | None]] = {}
    for row in store.db.query(
        f"""
        SELECT case_ref, question_id, new_value, new_reason FROM (
            SELECT c.case_ref, h.question_id, h.new_value, h.new_reason,
                   row_number() OVER (PARTITION BY h.case_id, h.question_id ORDER BY h.changed_at DESC, h.id DESC) AS latest
            FROM answer_history h JOIN cases c ON c.id = h.case_id
            WHERE c.round_id = ? AND h.changed_at <= ? AND {IN_SAMPLE if counted_only else "1"}
        ) WHERE latest = 1 AND new_value IS NOT NULL
        """,
        [original.id, moderation.created_at],
    ):
        marking[(row["case_ref"], row["question_id"])] = (row["new_value"], row["new_reason"])
    return marking


def copied_first_marking(store: AuditStore, moderation: Round) -> tuple[int, int] | None:
    """For a moderation round: (answers identical to the first marking, answers both have). A blind second
    marking that equals the first in every answer (and every not-applicable reason) over many answers was most
    likely imported from the original round's export; None for a round that moderates nothing."""
    if not moderation.moderates:
        return None
    original = store.round_by_id(moderation.moderates)
    first = first_marking(store, original, moderation)
    second = {
        (row["case_ref"], row["question_id"]): (row["value"], row["reason"])
        for row in store.db.query(
            "SELECT c.case_ref, a.question_id, a.value, a.reason FROM answers a JOIN cases c ON c.id = a.case_id"
            " WHERE c.round_id = ? AND a.value IS NOT NULL",
            [moderation.id],
        )
    }
    both = first.keys() & second.keys()
    return sum(first[key] == second[key] for key in both), len(both)


def answers_given_since(store: AuditStore, original: Round, moderation: Round, first: dict[tuple[str, str], str]) -> int:
    """How many answers to the moderated cases were given (or changed) in the original round after the moderation
    round was made, other than by settling a disagreement: agreement does not compare them, since the first
    marking is what the round held when the moderation began (``first``: that marking, (case, question) -> value)."""
    given = {
        (row["case_ref"], row["question_id"])
        for row in store.db.query(
            f"""
            SELECT c.case_ref, h.question_id, h.new_value FROM answer_history h JOIN cases c ON c.id = h.case_id
            WHERE c.round_id = ? AND {IN_SAMPLE} AND h.changed_at > ? AND h.source != ?
              AND c.case_ref IN (SELECT case_ref FROM cases WHERE round_id = ?)
            """,
            [original.id, moderation.created_at, SOURCE, moderation.id],
        )
        if row["new_value"] != first.get((row["case_ref"], row["question_id"]))
    }
    return len(given)


def _compare(store: AuditStore, original: Round, moderation: Round) -> tuple[Agreement, int]:
    framework = store.framework_for(original)
    questions = [(q.id, str(q.kind)) for q in framework.iter_questions()]
    first = {key: value for key, (value, _reason) in first_marking(store, original, moderation).items()}
    return compare_markings(questions, first, _marking(store, moderation)), answers_given_since(
        store, original, moderation, first
    )


def moderation_of(
    store: AuditStore, original: Round, moderation_name: str | None = None, *, newest_if_several: bool = False
) -> Moderation:
    """The agreement between the first marking of ``original`` and its moderation round (the one named, or
    its only one): settling a disagreement never changes the figures."""
    moderation = store.moderation_round(original, moderation_name, newest_if_several=newest_if_several)
    agreement, answers_since = _compare(store, original, moderation)
    return Moderation(original=original, moderation=moderation, agreement=agreement, answers_since=answers_since)


def latest_moderation(store: AuditStore, original: Round) -> Moderation | None:
    """The newest moderation of ``original`` (outputs name it), or None when it has none (or is itself a
    moderation round)."""
    if original.moderates is not None or not store.moderation_rounds(original):
        return None
    return moderation_of(store, original, newest_if_several=True)


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
    question_id = framework.canonical_question_id(question_id) or question_id  # without regard to case
    if not framework.has_question(question_id):
        raise UnknownQuestion(f"{question_id!r} is not a question of {framework.id} version {framework.version}")
    moderation = store.moderation_round(original, moderation_name)
    first_case = store.case(original, case_ref)
    store._refuse_a_removed_case(first_case, original)  # a removed case takes no answers: restore it first
    second_case = store.case(moderation, case_ref)
    ref = first_case["case_ref"]
    if keep == "first":  # what the first marker said, whatever the round holds now
        value, first_reason = first_marking(store, original, moderation, counted_only=False).get((ref, question_id), (None, None))
        chosen = {"value": value, "reason": first_reason}
        if not value:
            raise InvalidValue(
                f"the first marker (round {original.name!r}) had not answered {question_id} for {ref} when moderation round "
                f"{moderation.name!r} was made ({moderation.created_at[:16].replace('T', ' ')} UTC): the first marking is "
                "what the round held then; nothing to keep"
            )
    else:
        chosen = store.answer(second_case["id"], question_id) or {}
        if not chosen.get("value"):
            raise InvalidValue(
                f"the second marker (round {moderation.name!r}) has not answered {question_id} for {ref}; nothing to keep"
            )
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
        reason_required=False,  # the marker's answer as given (a sheet may carry a bare N/A)
    )
    return (before.get("value"), before.get("reason")) != (chosen["value"], chosen.get("reason"))


@attrs.frozen(kw_only=True)
class DisagreementLine:
    """One case and question the two markers answered differently, as the first marker answered it
    (before any moderation), the second marker's answer, and how it was settled, if it was."""

    case_ref: str
    question: str
    first: str
    second: str
    settled: str | None  # the original round's answer after settling; None while open
    settled_by: str | None

    @property
    def key(self) -> str:
        return f"{self.case_ref}|{self.question}"


@attrs.frozen(kw_only=True)
class Disagreements:
    """Every disagreement of ``moderation`` (settled or not), with the agreement as `caseaudit agreement` gives it."""

    moderation: Moderation
    lines: tuple[DisagreementLine, ...]

    @property
    def open(self) -> int:
        return sum(1 for line in self.lines if line.settled is None)


def disagreements(
    store: AuditStore, original: Round, moderation_name: str | None = None, *, newest_if_several: bool = False
) -> Disagreements:
    """Disagreements between the first marking (``first_marking``: the original round's answers when the
    moderation round was made) and the second, each with how it was settled, if it was."""
    moderation = moderation_of(store, original, moderation_name, newest_if_several=newest_if_several)
    settled: dict[tuple[str, str], tuple[str | None, str]] = {}
    for row in store.db.query(
        "SELECT c.case_ref, h.question_id, h.new_value, h.auditor FROM answer_history h"
        " JOIN cases c ON c.id = h.case_id WHERE c.round_id = ? AND h.source = ? AND h.changed_at > ?"
        " ORDER BY h.changed_at, h.id",
        [original.id, SOURCE, moderation.moderation.created_at],
    ):
        settled[(row["case_ref"], row["question_id"])] = (row["new_value"], row["auditor"])
    lines = tuple(
        DisagreementLine(
            case_ref=d.case_ref,
            question=d.question,
            first=d.first,
            second=d.second,
            settled=settled[(d.case_ref, d.question)][0] if (d.case_ref, d.question) in settled else None,
            settled_by=settled[(d.case_ref, d.question)][1] if (d.case_ref, d.question) in settled else None,
        )
        for d in moderation.agreement.disagreements
    )
    return Disagreements(moderation=moderation, lines=lines)
