"""Writing a whole case sheet into a round at once: what ``upsert_case``, recording how a case was drawn
and ``write_answers_in_bulk`` (answers and notes) do case by case, done for every case of the sheet in a
few statements.

Within the caller's write (one transaction, all or nothing), for each group of cases:
the round's current cases, attributes, attribute events and answers are read once, the changes are
worked out in Python, and the cases, attribute events, answers and answer events are written with
``executemany``. The rules are those of the one-at-a-time writes:

- each attribute and answer that changes is an event in its history, based on the value shown
  (and every head agreeing with it), with its generation and the person's name;
- blank cells never erase (the caller passes only the answers and notes given); an answer, note or
  attribute already holding the sheet's value writes nothing; a note given for a question the row
  leaves blank sets the note and keeps the stored answer;
- a slot with an open merge conflict is settled again after the write (``settle_slots``), as the
  new value may agree with the other side;
- how a case was drawn (stratum, draw order, reserve) is recorded once and never changed by an import;
  a sheet without sample columns (an export, a case list) leaves each case's place in the sample alone;
- the cases' answer codes (``audit.store.answer_codes``) are worked out once, at the end, for the
  cases whose answers were written (``deferred_codes``), within the same transaction.

Events written by an import have ids derived from what happened (the round, the case reference, the
question or attribute, the events they were based on, the new value and the person): the same
person importing the same sheet into two copies of a database makes the same events, so a merge of
the two copies recognises them as one change, not as a conflict. An event that could not be told
apart that way (its slot holds a value no event explains) gets a random id.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from audit.core.attributes import ATTRIBUTE_COLUMNS, check_sample_value, derived_young_adult
from audit.core.events import SlotEvent, format_based_on, heads, next_generation, parse_based_on, stable_event_id
from audit.errors import InvalidValue
from audit.store.answer_codes import CODE_OF_VALUE, UNANSWERED_CODE, deferred_codes
from audit.store.clock import now
from audit.store.rounds import Round

if TYPE_CHECKING:
    from audit.store.audit_store import AuditStore
    from framework import Answer

# cases worked out and written together: the reads and writes of one group stay small in memory
CASES_AT_A_TIME = 1000
# answer events for new cases from which an import sets the history's event-id index aside (``_event_index_set_aside``)
SET_ASIDE_AT = 50_000
# the most the import's transaction may cache (KiB; SQLite takes it only as pages are used, so a small sheet
# uses little): a big import's pages go to the WAL as the cache fills, and a page written again (the tail
# of an index) is written again there; 512 MB holds a 40,000-case import's working pages (a fifth quicker
# than 64 MB, measured with benchmarks/import_rate.py --cases 40000)
IMPORT_CACHE_KIB = 512 * 1024


class CaseToImport(Protocol):
    """One row of a sheet, validated (``audit.sheets.case_sheet.CaseRow``)."""

    @property
    def case_ref(self) -> str: ...
    @property
    def attributes(self) -> dict: ...
    @property
    def answers(self) -> dict[str, tuple[Answer, str | None]]: ...
    @property
    def notes(self) -> dict[str, str]: ...
    @property
    def stratum(self) -> str | None: ...
    @property
    def draw_order(self) -> str | None: ...
    @property
    def reserve(self) -> bool: ...


@attrs.frozen
class ImportCounts:
    cases_added: int = 0
    cases_updated: int = 0  # existing cases of the main sample the sheet names (whether or not anything changed)
    answers_changed: int = 0  # answers whose value, reason or note changed
    cases_changed: int = 0  # cases the round held before whose attributes (or how they were drawn) changed


def _event_id(kind: str, round_id: str, case_ref: str, slot: str, based_on: str | None, state: tuple, by: str) -> str:
    """The id of an imported change: derived from what happened (``audit.core.events.stable_event_id``)."""
    return stable_event_id("import " + kind, round_id, case_ref, slot, based_on, *state, by)


# an answer as the round holds it: (value, reason, note, event_id, heads, generation)
_ANSWER_STATE = slice(0, 3)

ANSWER_UPSERT = """
    INSERT INTO answers (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id, heads, generation)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (case_id, question_id) DO UPDATE SET
        value = excluded.value, reason = excluded.reason, note = excluded.note,
        auditor = excluded.auditor, answered_at = excluded.answered_at, event_id = excluded.event_id,
        heads = excluded.heads, generation = excluded.generation
"""
# a new case's answers are its first events, as they were just written to the history (from row id
# ``?``): copied by SQLite itself, not bound value by value from Python (a third of a big import's time)
FIRST_ANSWERS_FROM_HISTORY = """
    INSERT INTO answers (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id, heads, generation)
    SELECT case_id, question_id, ?, new_value, new_reason, new_note, auditor, changed_at, event_id, NULL, generation
    FROM answer_history WHERE id > ? ORDER BY id
"""
# the same, bound from Python: when the history's row ids could pass SQLite's largest (a row numbered near it,
# written outside caseaudit), SQLite numbers new rows at random, and "from row id ?" would miss them
FIRST_ANSWER_INSERT = """
    INSERT INTO answers (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id, heads, generation)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
LARGEST_ROW_ID = 2**63 - 1
ANSWER_EVENT_INSERT = """
    INSERT INTO answer_history (event_id, case_id, question_id, old_value, new_value, old_reason, new_reason,
        old_note, new_note, auditor, source, changed_at, based_on, generation)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
ATTRIBUTE_EVENT_INSERT = """
    INSERT INTO attribute_history (event_id, case_id, attribute, old_value, new_value, based_on, generation,
        changed_by, source, changed_at, reason)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
"""

# a sample file's reserve flag against what a case has become: a swapped-in case was a reserve in the
# file, a swapped-out one was in the main sample, so importing the file again agrees with both
_AS_DRAWN = {"reserve": "reserve", "swapped in": "reserve", "main": "main", "swapped out": "main"}


def write_imported_cases(
    store: AuditStore,
    round_row: Round,
    cases: Sequence[CaseToImport],
    *,
    by: str,
    source: str,
    sample_columns: bool = True,
    progress: Callable[[int, int], Any] | None = None,
) -> ImportCounts:
    """Within an open ``write_lock`` on a round checked writable: add or update every case of a
    validated sheet, how each was drawn (when ``sample_columns``: the sheet has stratum, reserve or
    draw_order columns), its answers and notes. Returns what was added and changed."""
    refs = [case.case_ref for case in cases]
    if len(set(refs)) != len(refs):
        raise InvalidValue("a sheet names a case twice; each case has one row")
    for case in cases:
        unknown = set(case.attributes) - set(ATTRIBUTE_COLUMNS)
        if unknown:
            raise InvalidValue(f"unknown case attribute(s): {', '.join(sorted(unknown))}")
    conn = store.db.conn
    held = {r[0] for r in conn.execute("SELECT case_ref FROM cases WHERE round_id = ?", [round_row.id])}
    # the cases the round holds first (their writes read the history by event id), then the new ones
    ordered = [case for case in cases if case.case_ref in held] + [case for case in cases if case.case_ref not in held]
    first_held = sum(1 for case in cases if case.case_ref in held)
    new_events = sum(len(case.answers) + len(case.notes or ()) for case in ordered[first_held:])
    cache_before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        with deferred_codes(store.db) as answered:  # each case's codes worked out once, from its answers
            writer = _SheetWriter(store, round_row, by=by, source=source, sample_columns=sample_columns, answered=answered)
            added = updated = changed = cases_changed = 0

            def write(part: Sequence[CaseToImport], done_before: int) -> None:
                nonlocal added, updated, changed, cases_changed
                for start in range(0, len(part), CASES_AT_A_TIME):
                    group = part[start : start + CASES_AT_A_TIME]
                    a, u, c, cc = writer.write(group)
                    added, updated, changed, cases_changed = added + a, updated + u, changed + c, cases_changed + cc
                    if progress is not None:
                        progress(done_before + start + len(group), len(cases))

            write(ordered[:first_held], 0)
            writer.settle()  # the slots with open conflicts, all among the cases held before
            try:
                with _event_index_set_aside(conn, new_events):
                    write(ordered[first_held:], first_held)
            except sqlite3.IntegrityError as error:
                # a new case's first events have ids derived from its reference: one the history holds already
                # was made for a case of that reference which the round no longer holds by it
                if "event_id" not in str(error):
                    raise
                raise InvalidValue(
                    f"{source.removeprefix('import:')}: nothing was imported: the history already holds one of its"
                    " changes to a case new to this round (a case renamed or deleted outside caseaudit?)"
                ) from None
    finally:
        conn.execute(f"PRAGMA cache_size = {cache_before}")
    return ImportCounts(cases_added=added, cases_updated=updated, answers_changed=changed, cases_changed=cases_changed)


@contextlib.contextmanager
def _event_index_set_aside(conn: sqlite3.Connection, new_events: int) -> Iterator[None]:
    """Within the import's transaction, while it writes the answers of cases new to the round: when
    they are many (``SET_ASIDE_AT`` events, and a quarter of the history already held), the history's
    unique event-id index is dropped and made again, exactly as it was, before the commit. Event ids
    are hashes, so the index would otherwise take them one at a time at random places (half of a
    20,000-case import's time, and most of a 250,000-case one's); made again, they are sorted once.
    Nothing reads the history by event id while the index is aside (a new case has no events), a
    clash with an id already held still fails the import whole (the index is unique), and other
    connections never see the table without it (the drop is never committed alone)."""
    held = conn.execute("SELECT coalesce(max(id), 0) FROM answer_history").fetchone()[0]
    if new_events < max(SET_ASIDE_AT, held // 4):
        yield
        return
    found = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'answer_history_event'").fetchone()
    if found is None:  # not this schema's (caseaudit check says so): written as it is
        yield
        return
    # dropping an index deletes its statistics (a database someone ran ANALYZE on): they are put back with it
    statistics = {
        table: conn.execute(f"SELECT * FROM {table} WHERE idx = 'answer_history_event'").fetchall()
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('sqlite_stat1', 'sqlite_stat4')"
        )
    }
    conn.execute("DROP INDEX answer_history_event")
    yield
    conn.execute(found[0])
    for table, rows in statistics.items():
        if rows:
            conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in rows[0])})", rows)


class _SheetWriter:
    """The state one import carries from one group of cases to the next."""

    def __init__(self, store: AuditStore, round_row: Round, *, by: str, source: str, sample_columns: bool, answered: set[int]):
        self.store, self.conn, self.round = store, store.db.conn, round_row
        self.by, self.source = by, source
        self.sample_columns = sample_columns
        self.answered = answered  # the cases whose answers were written: their codes are worked out at the end
        self.stamp = now()
        self.unsettled_answers: list[tuple[int, str]] = []
        self.unsettled_attributes: list[tuple[int, str]] = []
        self._answered_cases: set[int] | None = None
        # each question's place in a case's answer codes (``audit.store.answer_codes``): a new case's
        # codes are written with it, from the sheet's answers (every answer it will hold)
        self.places = dict(
            self.conn.execute("SELECT question_id, position FROM answer_code_positions WHERE round_id = ?", [round_row.id])
        )

    # -- reading what the round holds -----------------------------------------------------
    def _existing_cases(self, refs: list[str]) -> dict[str, dict]:
        marks = ", ".join("?" for _ in refs)
        return {
            row["case_ref"]: row
            for row in self.store.db.query(
                f"SELECT * FROM cases WHERE round_id = ? AND case_ref IN ({marks})", [self.round.id, *refs]
            )
        }

    def _attribute_events(self, case_ids: list[int]) -> dict[tuple[int, str], list[SlotEvent]]:
        events: dict[tuple[int, str], list[SlotEvent]] = {}
        if not case_ids:
            return events
        marks = ", ".join("?" for _ in case_ids)
        for r in self.conn.execute(
            "SELECT case_id, attribute, event_id, based_on, generation, changed_at, new_value, changed_by"
            f" FROM attribute_history WHERE case_id IN ({marks})",
            case_ids,
        ):
            events.setdefault((r[0], r[1]), []).append(
                SlotEvent(
                    event_id=r[2], based_on=parse_based_on(r[3]), generation=r[4] or 1, changed_at=r[5], state=(r[6],), by=r[7]
                )
            )
        return events

    def _answers(self, case_ids: list[int]) -> dict[tuple[int, str], tuple]:
        if not case_ids:
            return {}
        marks = ", ".join("?" for _ in case_ids)
        return {
            (r[0], r[1]): r[2:]
            for r in self.conn.execute(
                "SELECT case_id, question_id, value, reason, note, event_id, heads, generation"
                f" FROM answers WHERE case_id IN ({marks})",
                case_ids,
            )
        }

    def _has_answers(self, case_id: int) -> bool:
        if self._answered_cases is None:
            self._answered_cases = {
                r[0]
                for r in self.conn.execute(
                    "SELECT DISTINCT a.case_id FROM cases c JOIN answers a ON a.case_id = c.id"
                    " WHERE c.round_id = ? AND a.value IS NOT NULL",
                    [self.round.id],
                )
            }
        return case_id in self._answered_cases

    def _ids_already_recorded(self, table: str, event_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(r[0] for r in self.conn.execute(f"SELECT event_id FROM {table} WHERE event_id IN ({marks})", chunk))
        return found

    # -- one group of cases ----------------------------------------------------------------
    def write(self, group: Sequence[CaseToImport]) -> tuple[int, int, int, int]:
        existing = self._existing_cases([case.case_ref for case in group])
        added = sum(1 for case in group if case.case_ref not in existing and not case.reserve)
        updated = sum(1 for case in group if case.case_ref in existing and not case.reserve)
        new_cases = [case for case in group if case.case_ref not in existing]
        if new_cases:
            self._insert_cases(new_cases)
        rows = {**existing, **self._existing_cases([case.case_ref for case in new_cases])} if new_cases else existing
        old_ids = [existing[case.case_ref]["id"] for case in group if case.case_ref in existing]
        attribute_events = self._attribute_events(old_ids)

        attribute_rows: list[tuple] = []
        case_updates: dict[str, list[tuple]] = {}
        unsure: list[int] = []  # rows whose id an earlier event of the slot might already hold
        cases_changed = 0
        for case in group:
            row = rows[case.case_ref]
            is_new = case.case_ref not in existing
            changes = self._attribute_changes(case, row, is_new)
            if self.sample_columns:  # only a sample file says how its cases were drawn
                current = {**row, **changes}
                changes.update(self._sample_changes(case, current, attribute_events))
            if changes and not is_new:
                cases_changed += 1
            for attribute, value in changes.items():
                old = None if is_new and attribute in ATTRIBUTE_COLUMNS else row[attribute]
                old = None if old is None else str(old)  # a draw order is stored as a number, its events as text
                head_events = heads(attribute_events.get((row["id"], attribute), ()))
                agreeing = [h for h in head_events if h.state == (old,)]
                if len(agreeing) < len(head_events):
                    self.unsettled_attributes.append((row["id"], attribute))
                based_on = format_based_on(h.event_id for h in agreeing)
                if head_events and not agreeing:  # a value no event explains: not a change two copies make alike
                    event_id = uuid.uuid4().hex
                else:
                    event_id = _event_id("attribute", self.round.id, case.case_ref, attribute, based_on, (value,), self.by)
                    if head_events:
                        unsure.append(len(attribute_rows))
                attribute_rows.append(
                    (
                        event_id,
                        row["id"],
                        attribute,
                        old,
                        value,
                        based_on,
                        next_generation(agreeing),
                        self.by,
                        self.source,
                        self.stamp,
                    )
                )
                if not is_new or attribute not in ATTRIBUTE_COLUMNS:  # a new case was inserted with its attributes
                    case_updates.setdefault(attribute, []).append((value, row["id"]))
        self._make_unique(attribute_rows, unsure, "attribute_history")
        if attribute_rows:
            self.conn.executemany(ATTRIBUTE_EVENT_INSERT, attribute_rows)
        for attribute, writes in case_updates.items():
            self.conn.executemany(f"UPDATE cases SET {attribute} = ? WHERE id = ?", writes)
        changed = self._write_answers(group, rows, existing, old_ids)
        return added, updated, changed, cases_changed

    def _insert_cases(self, new_cases: list[CaseToImport]) -> None:
        """New cases with their attributes as given (the young-adult flag derived from an age)."""
        records = []
        places, blank = self.places, [UNANSWERED_CODE] * len(self.places)
        for case in new_cases:
            merged = {c: case.attributes.get(c) or None for c in ATTRIBUTE_COLUMNS}
            merged["young_adult"] = derived_young_adult(merged.get("age"), merged.get("young_adult"))
            codes = None  # no answer yet (as refresh_case_codes leaves a case without answers or places)
            if places and (case.answers or case.notes):
                letters = blank.copy()
                for question_id, (answer, _) in case.answers.items():
                    place = places.get(question_id)
                    if place is not None:
                        letters[place] = CODE_OF_VALUE.get(answer._value_, UNANSWERED_CODE)
                codes = "".join(letters)
            records.append((self.round.id, case.case_ref, *(merged[c] for c in ATTRIBUTE_COLUMNS), self.stamp, codes))
        columns = ", ".join(ATTRIBUTE_COLUMNS)
        marks = ", ".join("?" for _ in range(len(ATTRIBUTE_COLUMNS) + 4))
        self.conn.executemany(
            f"INSERT INTO cases (round_id, case_ref, {columns}, created_at, answer_codes) VALUES ({marks})", records
        )

    @staticmethod
    def _attribute_changes(case: CaseToImport, row: dict, is_new: bool) -> dict[str, Any]:
        """The attributes the sheet sets or changes (``AuditStore.upsert_case``'s rule): others are kept."""
        if is_new:
            return {c: row[c] for c in ATTRIBUTE_COLUMNS if row[c] not in (None, "")}
        values = {k: v for k, v in case.attributes.items() if v not in (None, "")}
        if not values:
            return {}
        merged = {**{c: row[c] for c in ATTRIBUTE_COLUMNS}, **values}
        rederived = "age" in values and "young_adult" not in values and merged["age"] != row["age"]
        if rederived:
            merged["young_adult"] = derived_young_adult(merged.get("age"), None)
        # a changed age re-derives the young-adult flag as an event even when the flag stays the same:
        # merged with another copy's age change, the flag then follows the age shown (or is a conflict)
        return {c: merged[c] for c in ATTRIBUTE_COLUMNS if merged[c] != row[c] or (rederived and c == "young_adult")}

    def _sample_changes(self, case: CaseToImport, current: dict, events: dict) -> dict[str, Any]:
        """How the case was drawn: recorded once; a case whose sample
        status has events keeps it (a swap is never undone by importing the sample file again)."""
        changes = {
            "stratum": check_sample_value("stratum", case.stratum or None),
            "draw_order": check_sample_value("draw_order", case.draw_order or None),
            "sample_status": "reserve" if case.reserve else "main",
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        drawn_before = bool(events.get((current["id"], "sample_status")))
        self._refuse_a_changed_draw(current, changes, drawn_before)
        if drawn_before:
            return {}
        if changes == {"sample_status": "main"} and current["sample_status"] == "main":
            return {}  # an ordinary case sheet: nothing to say about a sample
        return changes

    def _refuse_a_changed_draw(self, current: dict, changes: dict, drawn_before: bool) -> None:
        """An import never changes how a case was drawn (its sample status, stratum or draw order): that
        would move answered cases in or out of the figures without a swap and its reason."""
        ref = current["case_ref"]
        drawn_as = _AS_DRAWN.get(current["sample_status"] or "main", "main")
        if changes["sample_status"] != drawn_as and (
            drawn_before or current["sample_status"] != "main" or self._has_answers(current["id"])
        ):
            raise InvalidValue(
                f"case {ref} is already in the round as {current['sample_status']}; the sheet marks it "
                f"{'a reserve' if changes['sample_status'] == 'reserve' else 'in the main sample'}. An import does "
                "not change a case's place in the sample: use 'caseaudit swap' (with a reason)"
            )
        for column in ("stratum", "draw_order"):
            if current[column] is not None and column in changes and str(changes[column]) != str(current[column]):
                raise InvalidValue(
                    f"case {ref} was drawn with {column} {current[column]!r}; the sheet says {changes[column]!r}. "
                    "An import does not change how a case was drawn"
                )

    def _write_answers(self, group: Sequence[CaseToImport], rows: dict, existing: dict, old_ids: list[int]) -> int:
        """Each answer the sheet gives that differs from the one stored: an event and the new answer."""
        round_id, by, source, stamp = self.round.id, self.by, self.source, self.stamp
        stored = self._answers(old_ids)
        heads_of = self._head_states([(slot, a) for slot, a in stored.items() if a[4]])
        first_events: list[tuple] = []  # the answers of new cases, whose derived ids no event can hold already
        events: list[tuple] = []  # changes to the answers of cases the round held already
        unsure: list[int] = []  # events whose derived id an earlier event of the slot might already hold
        left_open: dict[int, list[str]] = {}  # event (by position) -> the heads it leaves as open conflicts
        answered = self.answered
        for case in group:
            case_id = rows[case.case_ref]["id"]
            ref = case.case_ref
            notes = case.notes
            if ref in existing and (case.answers or notes):  # a new case's codes were written with it (_insert_cases)
                answered.add(case_id)
            if ref not in existing:  # a new case holds no answer: every answer is its first event
                # _event_id("answer", round_id, ref, question_id, None, (value, reason, note), by), written out:
                # the hot loop of a big import
                prefix = f"import answer\x1f{round_id}\x1f{ref}\x1f"
                for question_id, (answer, reason) in case.answers.items():
                    first_value = answer._value_
                    note = (notes.get(question_id) or "").strip() or None if notes else None
                    text = f"{prefix}{question_id}\x1f\x1f{first_value}\x1f{reason or ''}\x1f{note or ''}\x1f{by}"
                    event_id = sha256(text.encode()).hexdigest()[:32]
                    first_events.append(
                        (event_id, case_id, question_id, None, first_value, None, reason, None, note, by, source, stamp, None, 1)
                    )
                for question_id in notes.keys() - case.answers.keys() if notes else ():  # a note on an unanswered question
                    note = notes[question_id].strip() or None
                    if note is None:
                        continue
                    event_id = _event_id("answer", round_id, ref, question_id, None, (None, None, note), by)
                    first_events.append(
                        (event_id, case_id, question_id, None, None, None, None, None, note, by, source, stamp, None, 1)
                    )
                continue
            given: list[tuple[str, str | None, str | None, str | None]] = [
                (question_id, answer.value, reason, notes.get(question_id) if notes else None)
                for question_id, (answer, reason) in case.answers.items()
            ]
            if notes:  # a note for a question the row leaves blank: the stored answer and reason are kept
                for question_id in notes.keys() - case.answers.keys():
                    kept = stored.get((case_id, question_id))
                    given.append((question_id, kept[0] if kept else None, kept[1] if kept else None, notes[question_id]))
            for question_id, value, reason, given_note in given:
                current = stored.get((case_id, question_id))
                old_value, old_reason, old_note = current[_ANSWER_STATE] if current else (None, None, None)
                # a note cell left blank keeps the stored note: an import never erases one
                note = ((old_note if given_note is None else given_note) or "").strip() or None
                if (old_value, old_reason, old_note) == (value, reason, note):
                    continue
                parents, generation, other_heads = _parents(current, heads_of.get((case_id, question_id)))
                based_on = format_based_on(parents)
                if current is not None and not parents:  # an answer no event explains (written outside caseaudit)
                    event_id = uuid.uuid4().hex
                else:
                    event_id = _event_id("answer", round_id, ref, question_id, based_on, (value, reason, note), by)
                    if current is not None:
                        unsure.append(len(events))
                if other_heads:  # an open conflict on this answer: the new value may now agree with the other side
                    left_open[len(events)] = other_heads
                    self.unsettled_answers.append((case_id, question_id))
                events.append(
                    (
                        event_id,
                        case_id,
                        question_id,
                        old_value,
                        value,
                        old_reason,
                        reason,
                        old_note,
                        note,
                        by,
                        source,
                        stamp,
                        based_on,
                        generation,
                    )
                )
        self._make_unique(events, unsure, "answer_history")
        answers = [
            (e[1], e[2], round_id, e[4], e[6], e[8], by, stamp, e[0], format_based_on([e[0], *left_open[i]]), e[13])
            if i in left_open
            else (e[1], e[2], round_id, e[4], e[6], e[8], by, stamp, e[0], None, e[13])
            for i, e in enumerate(events)
        ]
        if first_events:
            last_before = self.conn.execute("SELECT coalesce(max(id), 0) FROM answer_history").fetchone()[0]
            self.conn.executemany(ANSWER_EVENT_INSERT, first_events)
            if last_before <= LARGEST_ROW_ID - len(first_events):  # numbered last_before + 1 onwards, in order
                copied = self.conn.execute(FIRST_ANSWERS_FROM_HISTORY, [round_id, last_before]).rowcount
            else:
                first_answers = [(e[1], e[2], round_id, e[4], e[6], e[8], e[9], e[11], e[0], None, e[13]) for e in first_events]
                copied = self.conn.executemany(FIRST_ANSWER_INSERT, first_answers).rowcount
            if copied != len(first_events):  # never an answer left out: the whole import fails instead
                raise sqlite3.DatabaseError(
                    f"the import wrote {len(first_events)} answer event(s) for new cases but stored {copied} answer(s)"
                )
        if events:
            self.conn.executemany(ANSWER_EVENT_INSERT, events)
            self.conn.executemany(ANSWER_UPSERT, answers)
        return len(first_events) + len(events)

    def _head_states(self, conflicted: list[tuple[tuple[int, str], tuple]]) -> dict[tuple[int, str], list[tuple]]:
        """For answers with open conflicts: each head's (event_id, generation, value, reason, note)."""
        if not conflicted:
            return {}
        wanted = {event_id: slot for slot, a in conflicted for event_id in a[4].split()}
        ids = list(wanted)
        found: dict[tuple[int, str], list[tuple]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for r in self.conn.execute(
                f"SELECT event_id, generation, new_value, new_reason, new_note FROM answer_history WHERE event_id IN ({marks})",
                chunk,
            ):
                found.setdefault(wanted[r[0]], []).append(tuple(r))
        return found

    def _make_unique(self, rows: list[tuple], unsure: list[int], table: str) -> None:
        """Give a random id to an event whose derived id the history already holds (a slot whose
        earlier events were rewritten outside caseaudit could repeat one)."""
        if not unsure:
            return
        held = self._ids_already_recorded(table, [rows[i][0] for i in unsure])
        for i in unsure:
            if rows[i][0] in held:
                rows[i] = (uuid.uuid4().hex, *rows[i][1:])

    def settle(self) -> None:
        """Slots that had open conflicts: worked out again from all their events (``settle_slots``)."""
        if self.unsettled_attributes:
            self.store.settle_slots("attribute", self.unsettled_attributes)
        if self.unsettled_answers:
            self.store.settle_slots("answer", self.unsettled_answers)


def _parents(current: tuple | None, head_rows: Iterable[tuple] | None) -> tuple[tuple[str, ...], int, list[str]]:
    """What a new event on an answer is based on (``AuditStore._parents_of``): the answer shown and
    every head agreeing with it. Returns (based_on, generation, the other heads, left as open conflicts)."""
    if current is None or not current[3]:
        return (), 1, []
    event_id, heads_text, generation = current[3], current[4], current[5]
    if not heads_text:
        return (event_id,), (generation or 1) + 1, []
    rows = list(head_rows or ())
    shown = tuple(current[_ANSWER_STATE])
    agree = [r for r in rows if tuple(r[2:5]) == shown]
    others = [r[0] for r in rows if r not in agree]
    if not agree:
        agree = [(event_id, generation or 1)]
    return tuple(sorted(r[0] for r in agree)), 1 + max(r[1] or 1 for r in agree), others
