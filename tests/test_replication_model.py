"""Merging as replication, tested as a model: two or three copies of a round, random answers,
clears, notes, attribute changes, conflict settlements and merges in random orders.

After every step:
- every copy passes ``caseaudit check``;
- no acknowledged answer has disappeared from a copy that holds it without an explanation:
  either the copy still shows it, or lists it as an open conflict, or holds a later event made
  by someone who had seen it (a later answer, or a settled conflict).
When the copies have merged each other until nothing changes, they hold the same answers, the
same case attributes and the same open conflicts.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from audit.sheets.case_sheet import import_sheet
from audit.store import AuditStore, backup_database
from audit.store.merge import merge_database

FIXTURES = Path(__file__).parent / "fixtures"
ROUND = "R"
CASES = ("A100001", "A100002")
QUESTIONS = ("2.2.1a", "2.3.1")
VALUES = ("Yes", "No", "Not applicable", None)
ATTRIBUTES = {"team": ("North", "South"), "rosh_level": ("High", "Low", "Medium")}


def answer_state(row: dict | None) -> tuple:
    return (row["value"], row["reason"], row["note"]) if row else (None, None, None)


class Copies(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="caseaudit-model-"))
        self.paths: list[Path] = []
        self.stores: list[AuditStore] = []
        self.knew: dict[str, set[str]] = {}  # event id -> the events its copy held when it was made
        self.acknowledged: dict[str, tuple] = {}  # event id -> (case_ref, question, state)

    @initialize(copies=st.integers(2, 3))
    def make_copies(self, copies: int) -> None:
        first = self.tmp / "copy-0.db"
        with AuditStore.open(first) as store:
            import_sheet(store, FIXTURES / "two-cases.csv", ROUND, unit="PDU", auditor="setup")
        self.paths.append(first)
        for n in range(1, copies):
            path = self.tmp / f"copy-{n}.db"
            backup_database(first, path)
            self.paths.append(path)
        self.stores = [AuditStore.open(p) for p in self.paths]

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------
    def copy(self, index: int) -> AuditStore:
        return self.stores[index % len(self.stores)]

    def events_held(self, store: AuditStore) -> set[str]:
        return {row[0] for row in store.db.execute("SELECT event_id FROM answer_history")}

    def current(self, store: AuditStore, case_ref: str, question: str) -> dict | None:
        return next(
            iter(
                store.db.query(
                    "SELECT a.* FROM answers a JOIN cases c ON c.id = a.case_id JOIN rounds r ON r.id = c.round_id"
                    " WHERE r.name = ? AND c.case_ref = ? AND a.question_id = ?",
                    [ROUND, case_ref, question],
                )
            ),
            None,
        )

    def acknowledge(self, store: AuditStore, case_ref: str, question: str, held_before: set[str]) -> None:
        row = self.current(store, case_ref, question)
        if row is not None and row["event_id"] not in held_before and row["event_id"] not in self.acknowledged:
            self.acknowledged[row["event_id"]] = (case_ref, question, answer_state(row))
            self.knew[row["event_id"]] = held_before

    # -- what auditors do ------------------------------------------------------
    @rule(
        index=st.integers(0, 2),
        case_ref=st.sampled_from(CASES),
        question=st.sampled_from(QUESTIONS),
        value=st.sampled_from(VALUES),
        reason=st.sampled_from((None, "transferred")),
    )
    def answer(self, index, case_ref, question, value, reason) -> None:
        store = self.copy(index)
        held = self.events_held(store)
        # a bare N/A as a sheet may carry one (a person recording it gives a reason): such states merge too
        store.record_answer(
            store.round(ROUND), case_ref, question, value, reason=reason, auditor=f"auditor-{index}", reason_required=False
        )
        self.acknowledge(store, case_ref, question, held)

    @rule(
        index=st.integers(0, 2),
        case_ref=st.sampled_from(CASES),
        question=st.sampled_from(QUESTIONS),
        note=st.sampled_from(("seen", "checked with SPO", "")),
    )
    def note(self, index, case_ref, question, note) -> None:
        store = self.copy(index)
        held = self.events_held(store)
        row = self.current(store, case_ref, question) or {}
        store.record_answer(
            store.round(ROUND),
            case_ref,
            question,
            row.get("value"),
            reason=row.get("reason"),
            note=note,
            keep_note=False,
            auditor=f"auditor-{index}",
            reason_required=False,
        )
        self.acknowledge(store, case_ref, question, held)

    @rule(
        index=st.integers(0, 2),
        case_ref=st.sampled_from(CASES),
        attribute=st.sampled_from(sorted(ATTRIBUTES)),
        choice=st.integers(0, 2),
    )
    def change_attribute(self, index, case_ref, attribute, choice) -> None:
        store = self.copy(index)
        values = ATTRIBUTES[attribute]
        store.upsert_case(store.round(ROUND), case_ref, {attribute: values[choice % len(values)]})

    @rule(index=st.integers(0, 2), keep=st.sampled_from(("ours", "theirs")))
    def settle_a_conflict(self, index, keep) -> None:
        store = self.copy(index)
        round_row = store.round(ROUND)
        open_conflicts = [k for k in store.conflicts(round_row) if k["kind"] == "answer"]
        if not open_conflicts:
            return
        conflict = open_conflicts[0]
        held = self.events_held(store)
        store.resolve_conflict(round_row, conflict["id"], keep, by=f"lead-{index}")
        self.acknowledge(store, conflict["case_ref"], conflict["subject"], held)

    @rule(into=st.integers(0, 2), source=st.integers(0, 2))
    def merge(self, into, source) -> None:
        into, source = into % len(self.stores), source % len(self.stores)
        if into != source:
            merge_database(self.stores[into], self.paths[source])

    @precondition(lambda self: bool(self.stores))
    @rule()
    def merge_until_nothing_changes(self) -> None:
        for _ in range(6):
            changed = False
            for i in range(len(self.stores)):
                for j in range(len(self.stores)):
                    if i != j:
                        changed |= merge_database(self.stores[i], self.paths[j]).changed
            if not changed:
                break
        else:
            pytest.fail("copies still change after six rounds of merging each other")
        views = [self.view(store) for store in self.stores]
        for n, view in enumerate(views[1:], 1):
            for part in ("answers", "attributes", "open conflicts"):
                assert view[part] == views[0][part], f"copy {n} and copy 0 differ in {part} after merging each other"

    def view(self, store: AuditStore) -> dict:
        round_row = store.round(ROUND)
        answers = {
            (row["case_ref"], row["question_id"]): (row["value"], row["reason"], row["note"])
            for row in store.db.query(
                "SELECT c.case_ref, a.* FROM answers a JOIN cases c ON c.id = a.case_id WHERE c.round_id = ?"
                " AND (a.value IS NOT NULL OR a.note IS NOT NULL)",
                [round_row.id],
            )
        }
        attributes = {
            row["case_ref"]: tuple(row[a] for a in sorted(ATTRIBUTES))
            for row in store.db.query("SELECT * FROM cases WHERE round_id = ?", [round_row.id])
        }
        conflicts = sorted(
            (k["kind"], k["case_ref"] or "", k["subject"], k["their_value"] or "", k["their_reason"] or "", k["their_note"] or "")
            for k in store.conflicts(round_row)
        )
        return {"answers": answers, "attributes": attributes, "open conflicts": conflicts}

    # -- what must always hold ------------------------------------------------------
    @invariant()
    def every_copy_passes_check(self) -> None:
        for n, store in enumerate(self.stores):
            assert store.check() == [], f"copy {n}"

    @invariant()
    def no_acknowledged_answer_vanishes_unexplained(self) -> None:
        for n, store in enumerate(self.stores):
            held = self.events_held(store)
            if not held:
                continue
            round_row = store.round(ROUND)
            open_states = {
                (k["case_ref"], k["subject"], (k["their_value"], k["their_reason"], k["their_note"]))
                for k in store.conflicts(round_row)
                if k["kind"] == "answer"
            }
            later = list(
                store.db.query(
                    "SELECT h.event_id, c.case_ref, h.question_id FROM answer_history h JOIN cases c ON c.id = h.case_id"
                )
            )
            for event_id, (case_ref, question, state) in self.acknowledged.items():
                if event_id not in held:
                    continue
                if answer_state(self.current(store, case_ref, question)) == state:
                    continue
                if (case_ref, question, state) in open_states:
                    continue
                seen_by_later = any(
                    h["case_ref"] == case_ref and h["question_id"] == question and event_id in self.knew.get(h["event_id"], ())
                    for h in later
                )
                assert seen_by_later, (
                    f"copy {n}: the answer {state} to {case_ref} {question} (event {event_id[:8]}) was replaced, "
                    "with no open conflict and no later change by anyone who had seen it"
                )


Copies.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=18,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_copies_converge_and_never_lose_an_answer = Copies.TestCase
