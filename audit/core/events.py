"""The rules that make copies of a round converge: pure, no SQLite.

Every change to an answer, a case attribute or a domain-1 rating is an event. Each
event names the events it was *based on* (the value the person saw when they
changed it) and has a *generation*, one more than the highest it was based on.
For one answer (a "slot"), the events of every copy merged together form a graph:

- its **heads** are the events no other event is based on: the latest word of
  each line of work;
- one head: that is the answer;
- several heads with the same value: the copies agree, nothing to settle;
- several heads with different values: an **open conflict**. The answer shown
  while it is open is the head of the highest generation (then the latest, then
  the highest event id), so every copy shows the same one; each other head is
  listed as a conflict until someone settles it with an event based on all of them.

Because the answer and the open conflicts are worked out from the set of events
alone, copies that have exchanged every event show the same answers and the same
open conflicts, whatever the order in which they were merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class SlotEvent:
    """One change to one answer, attribute or rating, as the graph needs it."""

    event_id: str
    based_on: tuple[str, ...] = ()
    generation: int = 1
    changed_at: str = ""
    state: tuple[Any, ...] = ()
    by: str | None = None


def parse_based_on(text: str | None) -> tuple[str, ...]:
    return tuple(sorted(set((text or "").split())))


def format_based_on(event_ids: Iterable[str]) -> str | None:
    ids = sorted(set(event_ids))
    return " ".join(ids) if ids else None


def heads(events: Iterable[SlotEvent]) -> list[SlotEvent]:
    """The events nothing else is based on, in display order (the shown one first)."""
    events = list(events)
    superseded = {parent for e in events for parent in e.based_on}
    return sorted((e for e in events if e.event_id not in superseded), key=display_key, reverse=True)


def display_key(event: SlotEvent) -> tuple:
    return (event.generation, event.changed_at, event.event_id)


def shown(head_events: Sequence[SlotEvent]) -> SlotEvent | None:
    """The head every copy shows while a conflict is open."""
    return max(head_events, key=display_key) if head_events else None


def open_conflicts(head_events: Sequence[SlotEvent]) -> list[SlotEvent]:
    """The heads whose value differs from the one shown: each is an open conflict."""
    top = shown(head_events)
    return [h for h in head_events if top is not None and h.state != top.state]


def superseded_by(event_id: str, events: Iterable[SlotEvent]) -> SlotEvent | None:
    """The first event (in display order) that was based on ``event_id``: what settled it."""
    successors = [e for e in events if event_id in e.based_on]
    return min(successors, key=display_key) if successors else None


def stable_event_id(*parts: Any) -> str:
    """An event id derived from what happened (the same parts give the same id in every copy): for events
    that two copies can each make alike, such as a database migrated in both or one sheet imported into both."""
    import hashlib

    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:32]


def next_generation(parents: Iterable[SlotEvent]) -> int:
    return 1 + max((p.generation for p in parents), default=0)


def legacy_parents(history: Sequence[tuple[str, tuple, tuple]]) -> list[tuple[str, ...]]:
    """Derive what each event of an older database was based on, from its old and new values.

    ``history`` is the slot's events in the order this database recorded them, each as
    (event_id, old_state, new_state). An event is based on the latest earlier event whose
    new value is the value it replaced; failing that (a value written outside caseaudit),
    on the event just before it. A first answer (replacing nothing) is based on nothing.
    """
    parents: list[tuple[str, ...]] = []
    for index, (_, old_state, _) in enumerate(history):
        parent = None
        for earlier_id, _, earlier_new in reversed(history[:index]):
            if earlier_new == old_state:
                parent = earlier_id
                break
        if parent is None and index and any(v is not None for v in old_state):
            parent = history[index - 1][0]
        parents.append((parent,) if parent else ())
    return parents


def generations(events: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Generation of each event from what it was based on (parents outside the set count as 0)."""
    result: dict[str, int] = {}

    def of(event_id: str, trail: frozenset = frozenset()) -> int:
        if event_id in result:
            return result[event_id]
        if event_id not in events or event_id in trail:
            return 0
        value = 1 + max((of(p, trail | {event_id}) for p in events[event_id]), default=0)
        result[event_id] = value
        return value

    for event_id in events:
        of(event_id)
    return result


# Settling a merge conflict: keep the value shown (in every copy the same, by ``shown``) or take the other. Either may
# have come from either copy, so neither is "ours"; the conflicts table stores 'ours' / 'theirs' for them.
KEEP_CHOICES = {"shown": "ours", "other": "theirs", "ours": "ours", "theirs": "theirs"}
KEPT_WORDS = {"ours": "kept the shown value", "theirs": "took the other value"}
