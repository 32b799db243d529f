"""Converging slots: an answer, a domain-1 rating or a case attribute, worked out from its events.

The rules are ``audit.core.events``'; this module reads the events of many slots at once and writes back
only what moved."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from audit.core.attributes import ATTRIBUTE_COLUMNS, CASE_STATE_COLUMNS
from audit.errors import (
    InvalidValue,
)
from audit.store.clock import now

if TYPE_CHECKING:
    import sqlite_utils


# ------------------------------------------------------------------ slots that converge
@attrs.frozen
class SlotKind:
    """Where the events of one kind of slot live and which columns make up its value."""

    history: str
    key: tuple[str, str]
    state: tuple[str, ...]
    by: str


SLOT_KINDS = {
    "answer": SlotKind("answer_history", ("case_id", "question_id"), ("new_value", "new_reason", "new_note"), "auditor"),
    "rating": SlotKind("rating_history", ("round_id", "standard_id"), ("new_rating", "override_reason", "evidence"), "rater"),
    "attribute": SlotKind("attribute_history", ("case_id", "attribute"), ("new_value",), "changed_by"),
}


@attrs.frozen
class SettleOutcome:
    changed: int = 0  # how many slots now show a different value
    opened: int = 0  # conflicts found
    settled: int = 0  # conflicts settled (by an event from another copy, or here)


def slot_events(db: sqlite_utils.Database, kind_name: str, key: tuple) -> list:
    """Every event of one answer / rating / attribute, as the convergence rules see them."""
    from audit.core.events import SlotEvent, parse_based_on

    kind = SLOT_KINDS[kind_name]
    return [
        SlotEvent(
            event_id=r["event_id"],
            based_on=parse_based_on(r["based_on"]),
            generation=r["generation"] or 1,
            changed_at=r["changed_at"],
            state=tuple(r[c] for c in kind.state),
            by=r[kind.by],
        )
        for r in db.query(f"SELECT * FROM {kind.history} WHERE {kind.key[0]} = ? AND {kind.key[1]} = ?", list(key))
    ]


def settle_slot(db: sqlite_utils.Database, kind_name: str, key: tuple, *, from_file: str = "this database") -> SettleOutcome:
    """Within a write: make the current value and the open conflicts of one slot what its events say."""
    return settle_slots(db, kind_name, [key], from_file=from_file)


def settle_slots(
    db: sqlite_utils.Database, kind_name: str, keys: Iterable[tuple], *, from_file: str = "this database"
) -> SettleOutcome:
    """Within a write: make the current values and open conflicts of these slots what their events say.

    Reads each kind of row once per 500 cases (or rounds), works every slot out in Python by the
    rules in ``audit.core.events`` and writes back only the slots whose current value moved."""
    from audit.core.events import SlotEvent, format_based_on, heads, open_conflicts, parse_based_on, superseded_by

    kind = SLOT_KINDS[kind_name]
    keys = set(keys)
    if not keys:
        return SettleOutcome()
    owners = sorted({k[0] for k in keys}, key=str)
    chunks = [owners[i : i + 500] for i in range(0, len(owners), 500)]
    events: dict[tuple, list[SlotEvent]] = {}
    current: dict[tuple, tuple] = {}
    round_of: dict[Any, str] = {}
    conflict_rows: dict[tuple, list[dict]] = {}
    columns = ", ".join(("event_id", "based_on", "generation", "changed_at", kind.by, *kind.state, *kind.key))
    for chunk in chunks:
        marks = ", ".join("?" for _ in chunk)
        for r in db.conn.execute(f"SELECT {columns} FROM {kind.history} WHERE {kind.key[0]} IN ({marks})", chunk):
            slot = (r[-2], r[-1])
            if slot in keys:
                events.setdefault(slot, []).append(
                    SlotEvent(
                        event_id=r[0],
                        based_on=parse_based_on(r[1]),
                        generation=r[2] or 1,
                        changed_at=r[3],
                        by=r[4],
                        state=tuple(r[5 : 5 + len(kind.state)]),
                    )
                )
        if kind_name == "answer":
            for r in db.conn.execute(
                f"SELECT case_id, question_id, value, reason, note, event_id, heads, generation FROM answers WHERE case_id IN ({marks})",
                chunk,
            ):
                current[(r[0], r[1])] = (tuple(r[2:5]), r[5], r[6], r[7])
        elif kind_name == "rating":
            for r in db.conn.execute(
                "SELECT round_id, standard_id, rating, override_reason, evidence, event_id, heads, generation"
                f" FROM domain_ratings WHERE round_id IN ({marks})",
                chunk,
            ):
                current[(r[0], r[1])] = (tuple(r[2:5]), r[5], r[6], r[7])
        else:
            for case in db.query(f"SELECT * FROM cases WHERE id IN ({marks})", chunk):
                for attribute in ATTRIBUTE_COLUMNS:
                    current[(case["id"], attribute)] = ((case[attribute],), None, None, None)
                for column in CASE_STATE_COLUMNS:  # events hold text; draw_order is stored as a number
                    value = case.get(column)
                    current[(case["id"], column)] = ((None if value is None else str(value),), None, None, None)
        if kind_name == "rating":
            round_of.update({r: r for r in chunk})
        else:
            round_of.update(dict(db.conn.execute(f"SELECT id, round_id FROM cases WHERE id IN ({marks})", chunk).fetchall()))
        owner_column = "round_id" if kind_name == "rating" else "case_id"
        for row in db.query(f"SELECT * FROM conflicts WHERE kind = ? AND {owner_column} IN ({marks})", [kind_name, *chunk]):
            conflict_rows.setdefault((row[owner_column], row["subject"]), []).append(row)

    changed = opened = settled = 0
    answer_writes: list[tuple] = []
    rating_writes: list[tuple] = []
    attribute_writes: dict[str, list[tuple]] = {}  # attribute -> (value, case id)
    for slot in keys:
        head_events = heads(events.get(slot, ()))
        if not head_events:
            continue
        top = head_events[0]
        heads_text = format_based_on(h.event_id for h in head_events) if len(head_events) > 1 else None
        before = current.get(slot)
        if kind_name == "attribute":
            if slot[1] not in ATTRIBUTE_COLUMNS and slot[1] not in CASE_STATE_COLUMNS:
                raise InvalidValue(f"{slot[1]!r} is not a case attribute")
            if before is None or before[0] != top.state:
                attribute_writes.setdefault(slot[1], []).append((top.state[0], slot[0]))
                changed += 1
        elif before != (top.state, top.event_id, heads_text, top.generation):
            changed += before is None or before[0] != top.state
            shown = (*slot, *top.state, top.by, top.changed_at, top.event_id, heads_text, top.generation)
            (answer_writes if kind_name == "answer" else rating_writes).append(
                (slot[0], slot[1], round_of[slot[0]], *shown[2:]) if kind_name == "answer" else shown
            )
        rows = conflict_rows.get(slot, [])
        if len(head_events) == 1 and not any(r["resolved_at"] is None for r in rows):
            continue
        # open conflicts: one row per head whose value differs from the one shown
        wanted = {h.event_id: h for h in open_conflicts(head_events)}
        head_ids = {h.event_id for h in head_events}
        by_event = {r["their_event_id"]: r for r in rows}
        unlisted = [h for event_id, h in wanted.items() if event_id not in by_event]
        for row in rows:
            if row["resolved_at"] or row["their_event_id"] in wanted:
                continue
            their_state = (row["their_value"], row["their_reason"], row["their_note"])[: len(kind.state)]
            if row["their_event_id"] in head_ids:
                if unlisted:
                    # the value it listed is shown now: the row lists the value that was displaced instead,
                    # keeping its number (a conflict is never deleted, and numbers are never reused)
                    head = unlisted.pop(0)
                    state = (*head.state, None, None)[:3]
                    db.execute(
                        "UPDATE conflicts SET their_event_id = ?, their_value = ?, their_reason = ?, their_note = ?,"
                        " their_by = ?, their_at = ? WHERE id = ?",
                        [head.event_id, *state, head.by, head.changed_at, row["id"]],
                    )
                    by_event[head.event_id] = row
                    continue
                # both sides now give the same value (someone answered with theirs): settled by agreement
                settled += 1
                db.execute(
                    "UPDATE conflicts SET resolved_at = ?, resolved_by = ?, kept = 'theirs' WHERE id = ?",
                    [top.changed_at, top.by, row["id"]],
                )
                continue
            settled += 1
            settler = superseded_by(row["their_event_id"], events.get(slot, ()))
            db.execute(
                "UPDATE conflicts SET resolved_at = ?, resolved_by = ?, kept = ? WHERE id = ?",
                [
                    settler.changed_at if settler else now(),
                    settler.by if settler else "merge",
                    "theirs" if settler and settler.state == their_state else "ours",
                    row["id"],
                ],
            )
        for event_id, head in wanted.items():
            existing = by_event.get(event_id)
            if existing is not None:
                if existing["resolved_at"]:
                    db.execute(
                        "UPDATE conflicts SET resolved_at = NULL, resolved_by = NULL, kept = NULL WHERE id = ?", [existing["id"]]
                    )
                    opened += 1
                continue
            opened += 1
            state = (*head.state, None, None)[:3]
            db.execute(
                """
                INSERT INTO conflicts (round_id, kind, case_id, subject, their_event_id, their_value, their_reason, their_note,
                    their_by, their_at, from_file, found_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    round_of[slot[0]],
                    kind_name,
                    None if kind_name == "rating" else slot[0],
                    slot[1],
                    event_id,
                    *state,
                    head.by,
                    head.changed_at,
                    from_file,
                    now(),
                ],
            )
    if answer_writes:
        db.conn.executemany(
            """
            INSERT INTO answers (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id, heads, generation)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (case_id, question_id) DO UPDATE SET
                value = excluded.value, reason = excluded.reason, note = excluded.note, auditor = excluded.auditor,
                answered_at = excluded.answered_at, event_id = excluded.event_id, heads = excluded.heads,
                generation = excluded.generation
            """,
            answer_writes,
        )
    if rating_writes:
        db.conn.executemany(
            """
            INSERT INTO domain_ratings (round_id, standard_id, rating, override_reason, evidence, rater, rated_at, event_id, heads, generation)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (round_id, standard_id) DO UPDATE SET
                rating = excluded.rating, override_reason = excluded.override_reason, evidence = excluded.evidence,
                rater = excluded.rater, rated_at = excluded.rated_at, event_id = excluded.event_id, heads = excluded.heads,
                generation = excluded.generation
            """,
            rating_writes,
        )
    for attribute, writes in attribute_writes.items():
        db.conn.executemany(f"UPDATE cases SET {attribute} = ? WHERE id = ?", writes)
    return SettleOutcome(changed=changed, opened=opened, settled=settled)
