"""Bring another copy of a caseaudit database in (auditors on separate laptops).

How two copies are reconciled, per answer (and per domain-1 rating):
- the same value, reason and note on both sides: nothing to do;
- only the other copy has it, or ours is an earlier state the other copy has
  already moved on from (our current event is in its history): take theirs;
- the other copy's current event is already in our history: ours is newer, keep it;
- otherwise both sides changed it independently: ours stays, theirs is kept
  as an open conflict, listed by ``caseaudit conflicts`` and settled by choosing one.

Rounds are matched by their stable id (a uuid), cases by round and case
reference, history events by their event id, so merging the same file twice
changes nothing. The other file is read through a private SQLite backup copy
and never written; everything is written in one transaction.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import attrs

from .attributes import ATTRIBUTE_COLUMNS
from .errors import DatabaseProblem, InvalidValue, RoundFinalised
from .store import AuditStore, _inspect_existing, _stable_event_id, backup_database, now, open_database, write_lock


@attrs.define
class MergeReport:
    source: str
    rounds_added: list[str] = attrs.field(factory=list)
    rounds_renamed: list[tuple[str, str]] = attrs.field(factory=list)
    cases_added: int = 0
    answers_taken: int = 0
    answers_identical: int = 0
    answers_kept_newer: int = 0
    history_added: int = 0
    ratings_taken: int = 0
    conflicts_found: int = 0
    conflict_rounds: set[str] = attrs.field(factory=set)
    notes: list[str] = attrs.field(factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.rounds_added or self.cases_added or self.answers_taken or self.history_added or self.ratings_taken or self.conflicts_found)

    def lines(self) -> list[str]:
        if not self.changed:
            return [f"Nothing new in {self.source}: this database already holds everything in it."]
        out = [
            f"Merged {self.source}: {len(self.rounds_added)} round(s) added, {self.cases_added} case(s) added, "
            f"{self.answers_taken} answer(s) taken, {self.answers_identical} identical, "
            f"{self.answers_kept_newer} kept (newer here), {self.history_added} history event(s) added, "
            f"{self.ratings_taken} domain-1 rating(s) taken."
        ]
        for old, new in self.rounds_renamed:
            out.append(f"A different round is already called {old!r} here; the merged one is called {new!r}.")
        if self.conflicts_found:
            rounds = ", ".join(repr(r) for r in sorted(self.conflict_rounds))
            out.append(
                f"{self.conflicts_found} conflict(s): both copies changed the same answer differently. Ours are kept "
                f"for now; list them with 'caseaudit conflicts --round NAME' ({rounds}) and settle each with 'caseaudit resolve'."
            )
        out += self.notes
        return out


def _state(row: dict | None, keys: tuple[str, ...]) -> tuple:
    return tuple(row.get(k) for k in keys) if row else (None,) * len(keys)


ANSWER_STATE = ("value", "reason", "note")
RATING_STATE = ("rating", "evidence", "override_reason")


def merge_database(store: AuditStore, other_path: str | Path) -> MergeReport:
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
    return _merge(store, theirs, other_path.name)


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
    }
    # rows written outside caseaudit (by hand, by another tool) may lack an event id: derive a stable one
    refs = {c["id"]: c["case_ref"] for c in copy["cases"]}
    for a in copy["answers"]:
        if not a["event_id"]:
            a["event_id"] = _stable_event_id(a["round_id"], refs.get(a["case_id"]), a["question_id"], a["value"], a["reason"],
                                             a["note"], a["auditor"], a["answered_at"])
    for d in copy["domain_ratings"]:
        if not d["event_id"]:
            d["event_id"] = _stable_event_id(d["round_id"], d["standard_id"], d["rating"], d["evidence"], d["rater"], d["rated_at"])
    return copy


def _merge(store: AuditStore, theirs: dict, source: str) -> MergeReport:
    report = MergeReport(source=source)
    db = store.db
    with write_lock(db):
        our_rounds = {r["id"]: r for r in db.query("SELECT * FROM rounds")}
        our_names = {r["name"] for r in our_rounds.values()}
        touched_rounds: dict[str, dict] = {}  # their round id -> our round row
        for r in theirs["rounds"]:
            if r["id"] in our_rounds:
                touched_rounds[r["id"]] = our_rounds[r["id"]]
                continue
            row = dict(r)
            if row["name"] in our_names:
                new_name = f"{r['name']} (merged from {source})"
                n = 2
                while new_name in our_names:
                    new_name, n = f"{r['name']} (merged from {source}, {n})", n + 1
                report.rounds_renamed.append((r["name"], new_name))
                row["name"] = new_name
            db["rounds"].insert(row)
            our_names.add(row["name"])
            report.rounds_added.append(row["name"])
            touched_rounds[r["id"]] = row

        changed_rounds: set[str] = set()

        def refuse_if_finalised(round_id: str) -> None:
            """Called before each change to a round: a finalised round takes no changes."""
            changed_rounds.add(round_id)
            row = touched_rounds[round_id]
            if row["name"] not in report.rounds_added and row.get("finalised_at"):
                raise RoundFinalised(
                    f"round {row['name']!r} is finalised here and {source} has changes to it; nothing was merged."
                    " Reopen the round with a reason, then merge again"
                )

        for event in theirs["round_events"]:
            inserted = db.execute("INSERT OR IGNORE INTO round_events VALUES (?, ?, ?, ?, ?, ?)",
                                  [event["event_id"], event["round_id"], event["event"], event["reason"], event["done_by"], event["done_at"]]).rowcount
            if inserted and event["event"] == "finalised" and touched_rounds[event["round_id"]]["name"] not in report.rounds_added:
                report.notes.append(f"Round {touched_rounds[event['round_id']]['name']!r} was finalised in {source}.")

        # cases: matched by round and case reference; blank attributes filled from theirs
        our_cases = {(c["round_id"], c["case_ref"]): c for c in db.query("SELECT * FROM cases")}
        case_map: dict[int, int] = {}
        their_case = {c["id"]: c for c in theirs["cases"]}
        for c in theirs["cases"]:
            key = (c["round_id"], c["case_ref"])
            mine = our_cases.get(key)
            if mine is None:
                refuse_if_finalised(c["round_id"])
                record = {k: c[k] for k in ("round_id", "case_ref", *ATTRIBUTE_COLUMNS, "created_at")}
                case_map[c["id"]] = db["cases"].insert(record).last_pk
                report.cases_added += 1
                continue
            case_map[c["id"]] = mine["id"]
            fill = {k: c[k] for k in ATTRIBUTE_COLUMNS if not mine[k] and c[k]}
            if fill:
                refuse_if_finalised(c["round_id"])
                db["cases"].update(mine["id"], fill)

        # history: union by event id (remember which events we had before)
        our_answer_events = {row[0] for row in db.execute("SELECT event_id FROM answer_history")}
        their_answer_events = {h["event_id"] for h in theirs["answer_history"]}
        for h in theirs["answer_history"]:
            if h["event_id"] in our_answer_events:
                continue
            refuse_if_finalised(their_case[h["case_id"]]["round_id"])
            row = {k: v for k, v in h.items() if k != "id"}
            row["case_id"] = case_map[h["case_id"]]
            db["answer_history"].insert(row)
            report.history_added += 1

        our_answers = {(a["case_id"], a["question_id"]): a for a in db.query("SELECT * FROM answers")}
        for a in theirs["answers"]:
            case_id = case_map[a["case_id"]]
            round_id = their_case[a["case_id"]]["round_id"]
            mine = our_answers.get((case_id, a["question_id"]))
            if _state(mine, ANSWER_STATE) == _state(a, ANSWER_STATE):
                report.answers_identical += a["value"] is not None
                continue
            if mine is None or mine["event_id"] in their_answer_events:
                refuse_if_finalised(round_id)
                db.execute(
                    """
                    INSERT INTO answers (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (case_id, question_id) DO UPDATE SET
                        value = excluded.value, reason = excluded.reason, note = excluded.note,
                        auditor = excluded.auditor, answered_at = excluded.answered_at, event_id = excluded.event_id
                    """,
                    [case_id, a["question_id"], round_id, a["value"], a["reason"], a["note"], a["auditor"], a["answered_at"], a["event_id"]],
                )
                report.answers_taken += 1
            elif a["event_id"] in our_answer_events:
                report.answers_kept_newer += 1
            else:
                refuse_if_finalised(round_id)
                inserted = db.execute(
                    """
                    INSERT OR IGNORE INTO conflicts (round_id, kind, case_id, subject, their_event_id, their_value,
                        their_reason, their_note, their_by, their_at, from_file, found_at)
                    VALUES (?, 'answer', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [round_id, case_id, a["question_id"], a["event_id"], a["value"], a["reason"], a["note"],
                     a["auditor"], a["answered_at"], source, now()],
                ).rowcount
                if inserted:
                    report.conflicts_found += 1
                    report.conflict_rounds.add(touched_rounds[round_id]["name"])

        # domain-1 ratings: the same rules, keyed by round and standard
        our_rating_events = {row[0] for row in db.execute("SELECT event_id FROM rating_history")}
        their_rating_events = {h["event_id"] for h in theirs["rating_history"]}
        for h in theirs["rating_history"]:
            if h["event_id"] in our_rating_events:
                continue
            refuse_if_finalised(h["round_id"])
            db["rating_history"].insert({k: v for k, v in h.items() if k != "id"})
            report.history_added += 1
        our_ratings = {(d["round_id"], d["standard_id"]): d for d in db.query("SELECT * FROM domain_ratings")}
        for d in theirs["domain_ratings"]:
            mine = our_ratings.get((d["round_id"], d["standard_id"]))
            if _state(mine, RATING_STATE) == _state(d, RATING_STATE):
                continue
            if mine is None or mine["event_id"] in their_rating_events:
                refuse_if_finalised(d["round_id"])
                db["domain_ratings"].upsert(dict(d), pk=("round_id", "standard_id"))
                report.ratings_taken += 1
            elif d["event_id"] not in our_rating_events:
                refuse_if_finalised(d["round_id"])
                inserted = db.execute(
                    """
                    INSERT OR IGNORE INTO conflicts (round_id, kind, case_id, subject, their_event_id, their_value,
                        their_reason, their_note, their_by, their_at, from_file, found_at)
                    VALUES (?, 'rating', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [d["round_id"], d["standard_id"], d["event_id"], d["rating"], d["override_reason"], d["evidence"],
                     d["rater"], d["rated_at"], source, now()],
                ).rowcount
                if inserted:
                    report.conflicts_found += 1
                    report.conflict_rounds.add(touched_rounds[d["round_id"]]["name"])

        for round_id in sorted(changed_rounds):
            if touched_rounds[round_id]["name"] not in report.rounds_added:
                store._round_event(touched_rounds[round_id], "merged", f"merged from {source}", None)
    return report
