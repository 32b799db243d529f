"""Bring another copy of a caseaudit database in (auditors on separate laptops).

A merge is replication: every event of the other copy that this one lacks (answers,
case attributes, domain-1 ratings, round events) is added, matched by its event id,
and then each answer, attribute and rating the new events touch is worked out again
from all its events by the rules in ``audit.core.events``:

- one line of work (one copy moved on from what the other had): the latest value;
- independent changes to the same value: an open conflict, listed by ``caseaudit
  conflicts``, shown as the same value in every copy until someone settles it;
- settling a conflict is itself an event, so the decision travels to the other copies.

Because the result depends only on the set of events, copies that have merged each
other in any order end with the same answers, attributes and open conflicts, and
merging the same file twice changes nothing. Nothing the other copy holds that this
build cannot check (a framework it does not ship, a question its pinned framework
version does not define) is let in: the whole merge is refused and nothing changes.

Rounds are matched by their stable id (a uuid), cases by round and case reference.
The other file is read through a private SQLite backup copy and never written;
everything is written in one transaction.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import attrs

from audit.core.attributes import (
    ATTRIBUTE_COLUMNS,
    ATTRIBUTES_BY_COLUMN,
    CASE_STATE_COLUMNS,
    InvalidAttribute,
    check_case_ref,
    check_sample_value,
)
from audit.errors import DatabaseProblem, FrameworkUnavailable, InvalidValue, RoundFinalised
from audit.store import AuditStore, Round, backup_database, open_database, write_lock
from audit.store.answer_codes import record_positions
from audit.store.database import _inspect_existing
from audit.store.schema import _stable_event_id
from audit.store.views import record_round_frameworks
from framework import Answer, Framework, Rating, RatingMethod


@attrs.define
class MergeReport:
    source: str
    rounds_added: list[str] = attrs.field(factory=list)
    rounds_renamed: list[tuple[str, str, str]] = attrs.field(factory=list)  # (name there, name here, the round it clashed with)
    cases_added: int = 0
    answers_taken: int = 0
    attributes_taken: int = 0
    history_added: int = 0
    round_events_added: int = 0
    ratings_taken: int = 0
    conflicts_found: int = 0
    conflicts_settled: int = 0
    conflict_rounds: set[str] = attrs.field(factory=set)
    notes: list[str] = attrs.field(factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.rounds_added or self.cases_added or self.history_added or self.round_events_added)

    def lines(self) -> list[str]:
        if not (self.rounds_added or self.cases_added or self.history_added):
            line = f"Nothing new in {self.source}: this database already holds everything in it."
            if self.round_events_added:
                line += f" ({self.round_events_added} round event(s) recorded there, such as earlier merges, were added to the history.)"
            return [line, *self.notes]
        out = [
            f"Merged {self.source}: {len(self.rounds_added)} round(s) added, {self.cases_added} case(s) added, "
            f"{self.answers_taken} answer(s) taken, {self.attributes_taken} case attribute(s) taken, "
            f"{self.ratings_taken} domain-1 rating(s) taken, {self.history_added} history event(s) added."
        ]
        if self.conflicts_settled:
            out.append(f"{self.conflicts_settled} conflict(s) settled by decisions made in {self.source}.")
        for old, new, holder in self.rounds_renamed:
            called = f"{holder!r}" if holder == old else f"{holder!r} (names are matched without regard to case)"
            out.append(f"A different round is already called {called} here; the merged one, {old!r}, is called {new!r}.")
        if self.conflicts_found:
            rounds = ", ".join(repr(r) for r in sorted(self.conflict_rounds))
            out.append(
                f"{self.conflicts_found} conflict(s): copies changed the same answer, case attribute or rating differently. Every copy shows the "
                f"latest for now; list them with 'caseaudit conflicts --round NAME' ({rounds}) and settle each with 'caseaudit resolve'."
            )
        out += self.notes
        return out


def merge_database(store: AuditStore, other_path: str | Path, *, by: str | None = None) -> MergeReport:
    """Merge another copy into this one; ``by`` (default: the current auditor) is recorded as who merged."""
    other_path = Path(other_path).expanduser()
    if not other_path.exists():
        raise DatabaseProblem(f"{other_path}: no such file")
    if store.path is not None and store.path.exists() and os.path.samefile(store.path, other_path):
        raise InvalidValue(f"{other_path} is this database; merge another copy into it")
    if other_path.stat().st_size == 0:
        raise DatabaseProblem(f"{other_path}: empty file, not a caseaudit database")
    _inspect_existing(other_path, verify=True)  # read-only: refuses a foreign, damaged or newer file
    with tempfile.TemporaryDirectory(prefix="caseaudit-merge-") as tmp:
        copy = Path(tmp) / "other.db"
        backup_database(other_path, copy)
        other_db = open_database(copy)  # a private copy, migrated to this schema if older
        try:
            theirs = _read_copy(other_db)
        finally:
            other_db.close()
    _refuse_broken_records(store, theirs, other_path.name)
    _add_events_for_values_written_outside_caseaudit(theirs)
    _refuse_what_this_build_cannot_check(store, theirs, other_path.name)
    return _merge(store, theirs, other_path.name, by)


def _read_copy(db) -> dict:
    q = lambda sql: list(db.query(sql))  # noqa: E731
    copy = {
        "rounds": q("SELECT * FROM rounds"),
        "round_events": q("SELECT * FROM round_events"),
        "cases": q("SELECT * FROM cases"),
        "answers": q("SELECT * FROM answers"),
        "answer_history": q("SELECT * FROM answer_history ORDER BY id"),
        "domain_ratings": q("SELECT * FROM domain_ratings"),
        "rating_history": q("SELECT * FROM rating_history ORDER BY id"),
        "attribute_history": q("SELECT * FROM attribute_history ORDER BY id"),
    }
    return copy


def _add_events_for_values_written_outside_caseaudit(copy: dict) -> None:
    """A current value that no event of the copy explains (another tool wrote it) gets an event,
    with an id derived from the value, so that merging the same file again changes nothing.

    Each history is grouped by slot once; the new event is based on the slot's heads (audit.core.events)."""
    from audit.core.events import SlotEvent, heads, parse_based_on

    def slots(table: str, key: tuple[str, str]) -> dict[tuple, list[SlotEvent]]:
        grouped: dict[tuple, list[SlotEvent]] = {}
        for h in copy[table]:
            grouped.setdefault((h[key[0]], h[key[1]]), []).append(
                SlotEvent(
                    event_id=h["event_id"],
                    based_on=parse_based_on(h["based_on"]),
                    generation=h["generation"] or 1,
                    changed_at=h["changed_at"] or "",
                    state=(h.get("new_value", h.get("new_rating")),),
                )
            )
        return grouped

    def add(table: str, key: tuple[str, str], slot: tuple, slot_heads: list, stable_parts: tuple, fields: dict) -> None:
        event_id = _stable_event_id("outside", *stable_parts)
        if any(h["event_id"] == event_id for h in copy[table]):
            return
        copy[table].append(
            {
                "event_id": event_id,
                key[0]: slot[0],
                key[1]: slot[1],
                "based_on": " ".join(sorted(h.event_id for h in slot_heads)) or None,
                "generation": 1 + max((h.generation for h in slot_heads), default=0),
                **fields,
            }
        )

    refs = {c["id"]: c for c in copy["cases"]}
    key = ("case_id", "question_id")
    known, grouped = {h["event_id"] for h in copy["answer_history"]}, slots("answer_history", key)
    for a in copy["answers"]:
        if a["event_id"] in known or (a["value"] is None and a["note"] is None):
            continue
        slot = (a["case_id"], a["question_id"])
        add(
            "answer_history",
            key,
            slot,
            heads(grouped.get(slot, ())),
            (
                a["round_id"],
                *slot,
                refs.get(a["case_id"], {}).get("case_ref"),
                a["value"],
                a["reason"],
                a["note"],
                a["auditor"],
                a["answered_at"],
            ),
            {
                "new_value": a["value"],
                "new_reason": a["reason"],
                "new_note": a["note"],
                "source": "written outside caseaudit",
                "auditor": a["auditor"] or "unknown",
                "changed_at": a["answered_at"] or "",
            },
        )
    key = ("round_id", "standard_id")
    known, grouped = {h["event_id"] for h in copy["rating_history"]}, slots("rating_history", key)
    for d in copy["domain_ratings"]:
        if d["event_id"] in known:
            continue
        slot = (d["round_id"], d["standard_id"])
        add(
            "rating_history",
            key,
            slot,
            heads(grouped.get(slot, ())),
            (d["round_id"], *slot, d["rating"], d["evidence"], d["rater"], d["rated_at"]),
            {
                "new_rating": d["rating"],
                "evidence": d["evidence"],
                "override_reason": d["override_reason"],
                "rater": d["rater"] or "unknown",
                "changed_at": d["rated_at"] or "",
            },
        )
    key = ("case_id", "attribute")
    grouped = slots("attribute_history", key)
    for case in copy["cases"]:
        for attribute in ATTRIBUTE_COLUMNS:
            slot = (case["id"], attribute)
            slot_heads = heads(grouped.get(slot, ()))
            shown = slot_heads[0].state[0] if slot_heads else None
            if (case[attribute] or None) == (shown or None):
                continue
            add(
                "attribute_history",
                key,
                slot,
                slot_heads,
                (case["round_id"], *slot, case["case_ref"], case[attribute]),
                {
                    "new_value": case[attribute],
                    "source": "written outside caseaudit",
                    "changed_by": "unknown",
                    "changed_at": case["created_at"] or "",
                },
            )


EVENT_ID = re.compile(r"[0-9A-Za-z_.:-]{1,64}")
MAX_GENERATION = 2**40  # far beyond any real history; a forged larger one would overflow SQLite later
ROUND_EVENTS = {"finalised", "reopened", "merged", "renamed", "removed", "restored", "unit changed"}
REQUIRED = {
    "rounds": ("id", "name", "unit", "framework_id", "framework_version", "created_at", "created_by"),
    "cases": ("id", "round_id", "case_ref", "created_at"),
    "round_events": ("event_id", "round_id", "event", "done_by", "done_at"),
    "answer_history": ("event_id", "case_id", "question_id", "auditor", "source", "changed_at"),
    "attribute_history": ("event_id", "case_id", "attribute", "changed_by", "source", "changed_at"),
    "rating_history": ("event_id", "round_id", "standard_id", "new_rating", "rater", "changed_at"),
}


def _refuse_broken_records(store: AuditStore, theirs: dict, source: str) -> None:
    """A copy whose records point nowhere, lack what every record has, reuse an event id for something
    else, or hold events based on later or missing ones, is not merged: one line, nothing changed."""

    def refuse(problem: str) -> None:
        raise InvalidValue(f"{source}: {problem}; nothing was merged")

    for table, columns in REQUIRED.items():
        for row in theirs[table]:
            missing = [c for c in columns if row.get(c) in (None, "")]
            if missing:
                refuse(f"a record in {table.replace('_', ' ')} has no {missing[0].replace('_', ' ')}")
    rounds = {r["id"] for r in theirs["rounds"]}
    cases = {c["id"] for c in theirs["cases"]}
    ours_by_id = {r["id"]: r for r in store.db.query("SELECT * FROM rounds")}
    for r in theirs["rounds"]:
        moderates = r.get("moderates")
        if moderates is not None and (moderates == r["id"] or (moderates not in rounds and moderates not in ours_by_id)):
            refuse(f"round {r['name']!r} moderates {'itself' if moderates == r['id'] else 'a round neither copy holds'}")
        mine = ours_by_id.get(r["id"])
        if mine and (mine["framework_id"], mine["framework_version"]) != (r["framework_id"], r["framework_version"]):
            refuse(
                f"round {r['name']!r} is pinned to {r['framework_id']} version {r['framework_version']} there but to "
                f"{mine['framework_id']} version {mine['framework_version']} here"
            )
    seen_refs = set()
    for c in theirs["cases"]:
        if c["round_id"] not in rounds:
            refuse(f"case {c['case_ref']} belongs to no round")
        try:
            ref = check_case_ref(c["case_ref"])
        except InvalidAttribute as error:
            refuse(f"round {c['round_id']}: {error}")
        if ref != c["case_ref"] or (c["round_id"], ref) in seen_refs:
            refuse(f"case reference {c['case_ref']!r} is not written as caseaudit writes it (or is there twice)")
        seen_refs.add((c["round_id"], ref))
        for attribute in ATTRIBUTE_COLUMNS:
            _check_attribute_value(attribute, c[attribute], refuse, c["case_ref"])
    for event in theirs["round_events"]:
        if event["round_id"] not in rounds:
            refuse(f"a round event ({event['event']}) belongs to no round")
        if event["event"] not in ROUND_EVENTS:
            refuse(f"round event {event['event_id']} is of an unknown kind ({event['event']!r})")
        if not EVENT_ID.fullmatch(str(event["event_id"])):
            refuse(f"round event id {event['event_id']!r} is malformed")
        if event["event"] == "unit changed" and not (event.get("value") or "").strip():
            refuse(f"round event {event['event_id']} changes the unit to nothing")
    for h in theirs["attribute_history"]:
        _check_attribute_value(h["attribute"], h["new_value"], refuse, f"event {h['event_id']}")
    for table, owner, owners in (
        ("answer_history", "case_id", cases),
        ("attribute_history", "case_id", cases),
        ("rating_history", "round_id", rounds),
    ):
        generation = {h["event_id"]: h["generation"] for h in theirs[table]}
        generation.update(
            (row[0], row[1]) for row in store.db.execute(f"SELECT event_id, generation FROM {table}") if row[0] not in generation
        )
        what = table.replace("_", " ")
        for h in theirs[table]:
            if h[owner] not in owners:
                refuse(f"a {what} event belongs to no {owner[:-3]}")
            if (
                not isinstance(h["generation"], int)
                or not 1 <= h["generation"] <= MAX_GENERATION
                or not EVENT_ID.fullmatch(str(h["event_id"]))
            ):
                refuse(f"{what} event {h['event_id']!r} is malformed")
            for parent in (h["based_on"] or "").split():
                if parent not in generation:
                    refuse(f"{what} event {h['event_id']} is based on an event neither copy holds")
                if not isinstance(generation[parent], int) or generation[parent] >= h["generation"]:
                    refuse(f"{what} event {h['event_id']} is based on an event that is not earlier than itself")
        _refuse_reused_event_ids(store, theirs, table, refuse)


def _check_attribute_value(attribute: str, value, refuse, where: str) -> None:
    if attribute in CASE_STATE_COLUMNS:  # the sample a case was drawn in (stratum, draw order, status); removed
        try:
            check_sample_value(attribute, value)
        except InvalidAttribute as error:
            refuse(f"{where}: {attribute} {value!r}: {error}")
        return
    if attribute not in ATTRIBUTE_COLUMNS:
        refuse(f"{where}: {attribute!r} is not a case attribute")
    if value in (None, ""):
        return
    try:
        parsed = ATTRIBUTES_BY_COLUMN[attribute].parse(str(value))
    except (InvalidAttribute, InvalidValue) as error:
        refuse(f"{where}: {attribute} {value!r}: {error}")
    if parsed != value:
        refuse(f"{where}: {attribute} {value!r} is not written as caseaudit writes it ({parsed!r})")


FINGERPRINTS = {
    "answer_history": (
        "SELECT h.event_id, c.round_id, c.case_ref, h.question_id, h.new_value, h.new_reason, h.new_note,"
        " h.auditor FROM answer_history h JOIN cases c ON c.id = h.case_id",
        ("question_id", "new_value", "new_reason", "new_note", "auditor"),
    ),
    "attribute_history": (
        "SELECT h.event_id, c.round_id, c.case_ref, h.attribute, h.new_value, h.changed_by"
        " FROM attribute_history h JOIN cases c ON c.id = h.case_id",
        ("attribute", "new_value", "changed_by"),
    ),
    "rating_history": (
        "SELECT h.event_id, h.round_id, '' AS case_ref, h.standard_id, h.new_rating, h.evidence,"
        " h.override_reason, h.rater FROM rating_history h",
        ("standard_id", "new_rating", "evidence", "override_reason", "rater"),
    ),
}


def _refuse_reused_event_ids(store: AuditStore, theirs: dict, table: str, refuse) -> None:
    """An event id this copy already holds must name the same change (what, to which value, by whom);
    otherwise one of the two changes would be dropped without trace. What an older caseaudit's event
    was based on is derived by each copy from its own history, so that is not compared."""
    sql, columns = FINGERPRINTS[table]
    cases = {c["id"]: c for c in theirs["cases"]}
    incoming = {}
    for h in theirs[table]:
        owner = (
            (h["round_id"], "")
            if table == "rating_history"
            else (cases[h["case_id"]]["round_id"], cases[h["case_id"]]["case_ref"])
        )
        incoming[h["event_id"]] = (*owner, *(h.get(c) for c in columns))
    ids = list(incoming)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in store.db.conn.execute(f"SELECT * FROM ({sql}) WHERE event_id IN ({marks})", chunk):
            if tuple(row[1:]) != incoming[row[0]]:
                refuse(f"{table.replace('_', ' ')} event {row[0]} is a different change there than here")


def _refuse_what_this_build_cannot_check(store: AuditStore, theirs: dict, source: str) -> None:
    """Everything incoming must be defined by its round's pinned framework version; else nothing is merged."""
    rounds = {r["id"]: r for r in theirs["rounds"]}
    frameworks: dict[str, Framework] = {}
    for r in theirs["rounds"]:
        try:
            frameworks[r["id"]] = store.framework_for(Round.from_row(r))
        except FrameworkUnavailable:
            raise FrameworkUnavailable(
                f"{source}: round {r['name']!r} is pinned to framework {r['framework_id']} version {r['framework_version']},"
                " which this caseaudit does not have; nothing was merged (add it with 'caseaudit frameworks add FILE.toml')"
            ) from None
    cases = {c["id"]: c for c in theirs["cases"]}

    def where(case_id) -> str:
        case = cases[case_id]
        return f"{source}: round {rounds[case['round_id']]['name']!r}, case {case['case_ref']}"

    answer_values = {None, *(a.value for a in Answer)}
    for table, value_column in (("answers", "value"), ("answer_history", "new_value")):
        for a in theirs[table]:
            case = cases.get(a["case_id"])
            if case is None:
                raise InvalidValue(f"{source}: an answer belongs to no case; nothing was merged")
            framework = frameworks[case["round_id"]]
            if not framework.has_question(a["question_id"]):
                raise InvalidValue(
                    f"{where(a['case_id'])}, question {a['question_id']}: not a question of {framework.id}"
                    f" version {framework.version}; nothing was merged"
                )
            if a[value_column] not in answer_values:
                raise InvalidValue(
                    f"{where(a['case_id'])}, question {a['question_id']}: {a[value_column]!r} is not an answer;"
                    " nothing was merged"
                )
    for h in theirs["attribute_history"]:
        if h["attribute"] not in ATTRIBUTE_COLUMNS and h["attribute"] not in CASE_STATE_COLUMNS:
            raise InvalidValue(f"{where(h['case_id'])}: {h['attribute']!r} is not a case attribute; nothing was merged")
    ratings = {r.value for r in Rating}
    for table, value_column in (("domain_ratings", "rating"), ("rating_history", "new_rating")):
        for d in theirs[table]:
            rated_in = frameworks.get(d["round_id"])
            if rated_in is None:
                raise InvalidValue(f"{source}: a domain-1 rating belongs to no round; nothing was merged")
            judged = {s.id for s in rated_in.standards if s.method is RatingMethod.JUDGEMENT}
            if d["standard_id"] not in judged or d[value_column] not in ratings:
                raise InvalidValue(
                    f"{source}: round {rounds[d['round_id']]['name']!r}, standard {d['standard_id']}: {d[value_column]!r}"
                    f" is not a domain-1 rating of {rated_in.id} version {rated_in.version}; nothing was merged"
                )


HISTORIES = (
    ("answer_history", "answer", "case_id", "question_id"),
    ("attribute_history", "attribute", "case_id", "attribute"),
    ("rating_history", "rating", "round_id", "standard_id"),
)


def _merge(store: AuditStore, theirs: dict, source: str, by: str | None = None) -> MergeReport:
    report = MergeReport(source=source)
    db = store.db
    with write_lock(db):
        our_rounds = {r["id"]: r for r in db.query("SELECT * FROM rounds")}
        _rename_as_events_say(store, our_rounds, theirs, report, source, by)
        # round names are matched without regard to case, so no two may differ only in case
        our_names = {r["name"].casefold(): r["name"] for r in our_rounds.values()}
        touched_rounds: dict[str, dict] = {}  # their round id -> our round row
        for r in theirs["rounds"]:
            if r["id"] in our_rounds:
                touched_rounds[r["id"]] = our_rounds[r["id"]]
                continue
            row = dict(r)
            if row["name"].casefold() in our_names:
                new_name = _free_name(r["name"], source, set(our_names))
                report.rounds_renamed.append((r["name"], new_name, our_names[row["name"].casefold()]))
                row["name"] = new_name
            db.table("rounds").insert(row)
            record_positions(db, row["id"], store.framework_for(Round.from_row(row)).question_ids)
            if row["name"] != r["name"]:  # recorded, so the name travels back to the copy it came from
                store._round_event(r["id"], "renamed", f"{r['name']} -> {row['name']}", by, value=row["name"])
            our_names[row["name"].casefold()] = row["name"]
            report.rounds_added.append(row["name"])
            touched_rounds[r["id"]] = row
        record_round_frameworks(db)  # the question texts of a framework version new to this copy, for the views

        changed_rounds: set[str] = set()
        # finalising and reopening travel: after the merge a round is finalised if its latest finalise or
        # reopen event (in every copy's events together) is a finalise
        their_events: dict[str, list[dict]] = {}
        for event in theirs["round_events"]:
            their_events.setdefault(event["round_id"], []).append(event)
        lock_state = {}
        for round_id, events in their_events.items():
            every = {e["event_id"]: e for e in db.query("SELECT * FROM round_events WHERE round_id = ?", [round_id])}
            every.update({e["event_id"]: e for e in events})
            locks = sorted(
                (e for e in every.values() if e["event"] in ("finalised", "reopened")),
                key=lambda e: (e["done_at"], e["event_id"]),
            )
            lock_state[round_id] = locks[-1] if locks else None

        _refuse_finalising_changes_the_finaliser_never_saw(db, touched_rounds, lock_state, theirs, report, source)

        def refuse_if_finalised(round_id: str) -> None:
            """Called before each change to a round: a finalised round takes no changes, unless a copy
            reopened it after it was finalised here."""
            changed_rounds.add(round_id)
            row = touched_rounds[round_id]
            latest = lock_state.get(round_id)
            still_finalised = latest is None or latest["event"] == "finalised"
            if row["name"] not in report.rounds_added and row.get("finalised_at") and still_finalised:
                raise RoundFinalised(
                    f"round {row['name']!r} is finalised here and {source} has changes to it; nothing was merged."
                    " Reopen the round with a reason, then merge again"
                )

        our_event_ids = {row[0] for row in db.execute("SELECT event_id FROM round_events")}
        for event in theirs["round_events"]:
            if event["event"] in ("unit changed", "removed") and event["event_id"] not in our_event_ids:
                refuse_if_finalised(event["round_id"])  # a finalised round keeps its unit and its place in the list
            inserted = db.execute(
                "INSERT OR IGNORE INTO round_events (event_id, round_id, event, reason, done_by, done_at, value)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    event["event_id"],
                    event["round_id"],
                    event["event"],
                    event["reason"],
                    event["done_by"],
                    event["done_at"],
                    event.get("value"),
                ],
            ).rowcount
            report.round_events_added += inserted

        # cases: matched by round and case reference; their attributes arrive as events below
        our_cases = {(c["round_id"], c["case_ref"]): c for c in db.query("SELECT id, round_id, case_ref FROM cases")}
        case_map: dict[int, int] = {}
        their_case = {c["id"]: c for c in theirs["cases"]}
        for c in theirs["cases"]:
            mine = our_cases.get((c["round_id"], c["case_ref"]))
            if mine is None:
                refuse_if_finalised(c["round_id"])
                record = {
                    "round_id": c["round_id"],
                    "case_ref": c["case_ref"],
                    **{k: None for k in ATTRIBUTE_COLUMNS},
                    "created_at": c["created_at"],
                }
                case_id = db.table("cases").insert(record).last_pk
                assert isinstance(case_id, int)  # the INTEGER PRIMARY KEY of the row just inserted
                case_map[c["id"]] = case_id
                report.cases_added += 1
            else:
                case_map[c["id"]] = mine["id"]

        # every event we lack, matched by event id; then each slot it touches is worked out again
        touched: dict[str, dict[tuple, str]] = {}
        for table, kind, key_column, subject_column in HISTORIES:
            ours = {row[0] for row in db.execute(f"SELECT event_id FROM {table}")}
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})") if row[1] != "id"]
            rows = []
            for h in theirs[table]:
                if h["event_id"] in ours:
                    continue
                round_id = h["round_id"] if kind == "rating" else their_case[h["case_id"]]["round_id"]
                refuse_if_finalised(round_id)
                values = [case_map[h["case_id"]] if c == "case_id" else h.get(c) for c in columns]
                rows.append(values)
                ours.add(h["event_id"])
                key = (values[columns.index(key_column)], values[columns.index(subject_column)])
                touched.setdefault(kind, {})[key] = round_id
            db.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", rows)
            report.history_added += len(rows)
        for kind, slots in touched.items():
            outcome = store.settle_slots(kind, slots, from_file=source)
            setattr(report, f"{kind}s_taken", getattr(report, f"{kind}s_taken") + outcome.changed)
            report.conflicts_found += outcome.opened
            report.conflicts_settled += outcome.settled
            if outcome.opened:
                for name in {touched_rounds[r]["name"] for r in slots.values()}:
                    report.conflict_rounds.add(name)

        for round_id in sorted({r for r in touched.get("attribute", {}).values()}):
            for stratum in store.sample_counts(store.round_by_id(round_id)):
                short = store.unreplaced_swaps(round_id, stratum or None)
                if short > 0 and stratum:
                    report.notes.append(
                        f"Round {touched_rounds[round_id]['name']!r}, stratum {stratum!r}: {short} swapped-out case(s) have no "
                        "reserve in their place (copies swapped in the same reserve, or a reserve swapped in was removed); "
                        "swap one of them again (caseaudit swap) to bring in the next reserve."
                    )

        for round_id in sorted(changed_rounds):  # one "merged" event for each round the merge changed
            if touched_rounds[round_id]["name"] not in report.rounds_added:
                store._round_event(round_id, "merged", f"merged from {source}", by)
        _apply_round_events(store, touched_rounds, lock_state, their_events, report, source)
    return report


def _refuse_finalising_changes_the_finaliser_never_saw(
    db, touched_rounds: dict, lock_state: dict, theirs: dict, report: MergeReport, source: str
) -> None:
    """A round open here that the other copy finalised (its latest finalise or reopen is a finalise) would be
    finalised here with this copy's changes to it, which whoever finalised it never saw. The other direction
    (merging this copy into the finalised one) refuses those changes, so this one refuses too: the outcome is
    the same whichever copy merges first. The changes counted are those that direction refuses: cases, answers,
    case attributes (swaps, removals), domain-1 ratings, unit changes and removals of the round."""
    theirs_ids = {
        table: {h["event_id"] for h in theirs[table]}
        for table in ("answer_history", "attribute_history", "rating_history", "round_events")
    }
    for round_id, latest in lock_state.items():
        row = touched_rounds.get(round_id)
        if row is None or row["name"] in report.rounds_added or row.get("finalised_at"):
            continue
        if latest is None or latest["event"] != "finalised":
            continue
        their_refs = {c["case_ref"] for c in theirs["cases"] if c["round_id"] == round_id}
        unseen = any(
            c["case_ref"] not in their_refs for c in db.query("SELECT case_ref FROM cases WHERE round_id = ?", [round_id])
        )
        for table, sql in (
            ("answer_history", "SELECT h.event_id FROM answer_history h JOIN cases c ON c.id = h.case_id WHERE c.round_id = ?"),
            (
                "attribute_history",
                "SELECT h.event_id FROM attribute_history h JOIN cases c ON c.id = h.case_id WHERE c.round_id = ?",
            ),
            ("rating_history", "SELECT event_id FROM rating_history WHERE round_id = ?"),
            ("round_events", "SELECT event_id FROM round_events WHERE round_id = ? AND event IN ('unit changed', 'removed')"),
        ):
            if unseen:
                break
            unseen = any(event_id not in theirs_ids[table] for (event_id,) in db.execute(sql, [round_id]))
        if unseen:
            raise RoundFinalised(
                f"round {row['name']!r} was finalised in {source} by {latest['done_by']}, but this copy has changes to it "
                f"that {source} lacks (its finaliser never saw them); nothing was merged. Reopen the round in {source} with "
                "a reason and merge this copy into it, then merge again"
            )


def _apply_round_events(
    store: AuditStore, touched_rounds: dict, lock_state: dict, their_events: dict, report: MergeReport, source: str
) -> None:
    """Make each round's finalised state and name what every copy's round events say."""
    db = store.db
    for round_id, latest in lock_state.items():
        row = touched_rounds[round_id]
        if latest is None or row["name"] in report.rounds_added:
            continue
        if latest["event"] == "finalised" and not row.get("finalised_at"):
            db.execute(
                "UPDATE rounds SET finalised_at = ?, finalised_by = ? WHERE id = ?",
                [latest["done_at"], latest["done_by"], round_id],
            )
            report.notes.append(
                f"Round {row['name']!r} was finalised in {source} by {latest['done_by']}: it is finalised here too."
            )
        elif latest["event"] == "reopened" and row.get("finalised_at"):
            db.execute("UPDATE rounds SET finalised_at = NULL, finalised_by = NULL WHERE id = ?", [round_id])
            report.notes.append(f"Round {row['name']!r} was reopened in {source} by {latest['done_by']}: it is open here too.")
    for round_id in their_events:
        row = touched_rounds[round_id]
        if row["name"] not in report.rounds_added:
            _apply_removal_and_unit(store, round_id, report, source)


def _free_name(name: str, source: str, taken: set[str]) -> str:
    """``name`` marked as merged from ``source``, numbered if need be, so that it differs from every name in
    ``taken`` (casefolded) in more than case."""
    new_name, n = f"{name} (merged from {source})", 2
    while new_name.casefold() in taken:
        new_name, n = f"{name} (merged from {source}, {n})", n + 1
    return new_name


def _renamed_to(event: dict, current: str) -> str | None:
    """The name a 'renamed' event gives its round: its value; in an event written before renames recorded one,
    what follows 'OLD -> ' in its reason (None when it names the round's current name already)."""
    if event.get("value"):
        return event["value"]
    reason = event["reason"] or ""
    if reason.startswith(f"{current} -> "):
        return reason[len(current) + 4 :].strip()
    if reason.endswith(f" -> {current}"):
        return None
    return reason.rpartition(" -> ")[2].strip() or None


def _rename_as_events_say(store: AuditStore, our_rounds: dict, theirs: dict, report: MergeReport, source: str, by) -> None:
    """Before the other copy's rounds come in: a round both copies hold takes the name its latest rename (in
    every copy's round events together) gives it, so a name freed by a rename there is free here too.

    Renames that free a name are made first. A rename to a name another round here holds (without regard to
    case) is made to that name marked as merged from ``source`` instead, recorded as a rename: its latest
    rename then says so in every copy, which converge on it."""
    db = store.db
    their_events: dict[str, list[dict]] = {}
    for event in theirs["round_events"]:
        if event["event"] == "renamed" and event["round_id"] in our_rounds:
            their_events.setdefault(event["round_id"], []).append(event)
    pending: dict[str, str] = {}  # round id -> the name its latest rename gives it
    for round_id, events in their_events.items():
        every = {
            e["event_id"]: e for e in db.query("SELECT * FROM round_events WHERE round_id = ? AND event = 'renamed'", [round_id])
        }
        every.update({e["event_id"]: e for e in events})
        latest = max(every.values(), key=lambda e: (e["done_at"], e["event_id"]))
        current = our_rounds[round_id]["name"]
        new_name = _renamed_to(latest, current)
        if new_name and new_name != current:
            pending[round_id] = new_name

    def holder(name: str, round_id: str) -> str | None:
        """The name of another round here called ``name`` without regard to case, if any."""
        folded = name.casefold()
        return next((r["name"] for i, r in our_rounds.items() if i != round_id and r["name"].casefold() == folded), None)

    def rename(round_id: str, new_name: str) -> None:
        db.execute("UPDATE rounds SET name = ? WHERE id = ?", [new_name, round_id])
        our_rounds[round_id]["name"] = new_name

    while pending:  # one at a time, so that each rename frees its old name before the next looks
        free = next((i for i in sorted(pending) if holder(pending[i], i) is None), None)
        if free is None:
            break
        current, new_name = our_rounds[free]["name"], pending.pop(free)
        rename(free, new_name)
        report.notes.append(f"Round {current!r} was renamed {new_name!r} in {source}: it is renamed here too.")
    for round_id, wanted in sorted(pending.items()):
        current, other = our_rounds[round_id]["name"], holder(wanted, round_id)
        new_name = _free_name(wanted, source, {r["name"].casefold() for r in our_rounds.values()})
        rename(round_id, new_name)
        store._round_event(round_id, "renamed", f"{current} -> {new_name}", by, value=new_name)
        report.notes.append(
            f"Round {current!r} was renamed {wanted!r} in {source}, but another round here is called {other!r}: "
            f"it is called {new_name!r} here, recorded as a rename so that every copy uses it."
        )


def _latest_round_event(store: AuditStore, round_id: str, kinds: tuple[str, ...]) -> dict | None:
    """The latest of a round's events of these kinds in every copy's events together (latest time, then id):
    the same in every copy whatever the order of merges."""
    marks = ", ".join("?" for _ in kinds)
    return next(
        iter(
            store.db.query(
                f"SELECT * FROM round_events WHERE round_id = ? AND event IN ({marks}) ORDER BY done_at DESC, event_id DESC LIMIT 1",
                [round_id, *kinds],
            )
        ),
        None,
    )


def _apply_removal_and_unit(store: AuditStore, round_id: str, report: MergeReport, source: str) -> None:
    """Make a round's removed state and unit what every copy's round events say (the latest wins)."""
    db = store.db
    current = store.round_by_id(round_id)
    latest = _latest_round_event(store, round_id, ("removed", "restored"))
    if latest is not None:
        if latest["event"] == "removed" and not current.removed:
            db.execute(
                "UPDATE rounds SET removed_at = ?, removed_by = ? WHERE id = ?", [latest["done_at"], latest["done_by"], round_id]
            )
            report.notes.append(f"Round {current.name!r} was removed in {source} by {latest['done_by']}: it is removed here too.")
        elif latest["event"] == "restored" and current.removed:
            db.execute("UPDATE rounds SET removed_at = NULL, removed_by = NULL WHERE id = ?", [round_id])
            report.notes.append(f"Round {current.name!r} was restored in {source} by {latest['done_by']}: it is back here too.")
    latest = _latest_round_event(store, round_id, ("unit changed",))
    if latest is not None and latest["value"] and latest["value"] != current.unit:
        db.execute("UPDATE rounds SET unit = ? WHERE id = ?", [latest["value"], round_id])
        report.notes.append(f"Round {current.name!r}: its unit was changed to {latest['value']!r} in {source}, here too.")
