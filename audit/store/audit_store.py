"""SQLite storage through sqlite-utils: rounds, cases, answers, history, ratings.

Rules kept here:
- the file is checked read-only before anything writes to it (a file that is
  not ours, corrupt or from a newer schema is left byte-for-byte unchanged);
- the file is created owner-only (0600) whatever the umask;
- every single answer is its own committed write (BEGIN IMMEDIATE, retried
  while another auditor holds the write lock); multi-row work is all or nothing;
- aggregation is grouped counts in SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from audit.core.attributes import (
    ATTRIBUTE_COLUMNS,
    CASE_STATE_COLUMNS,
    IN_SAMPLE_STATUSES,
    REMOVED_COLUMN,
    derived_young_adult,
)
from audit.core.events import KEEP_CHOICES, KEPT_WORDS
from audit.core.safe_text import has_visible_text
from audit.errors import (
    CapExceeded,
    DatabaseDamaged,
    DuplicateCase,
    DuplicateRound,
    FrameworkUnavailable,
    InvalidValue,
    RoundFinalised,
    StaleAnswer,
    UnknownCase,
    UnknownQuestion,
    UnknownRound,
    UnknownStandard,
)
from audit.store import slots
from audit.store.answer_codes import (
    CODE_OF_VALUE,
    UNANSWERED_CODE,
    CodeBlock,
    joined_codes,
    padded_codes_sql,
    record_positions,
)
from audit.store.clock import now
from audit.store.database import ANY_STATE, _check_text_length, current_user, is_damage, open_database, write_lock
from audit.store.rounds import Round
from audit.store.slots import SLOT_KINDS, SettleOutcome
from audit.store.views import record_framework_questions
from framework import Answer, Framework, Rating, UnknownFramework, load_framework
from framework.model import RatingMethod
from framework.rules import advisory_cap, exceeds_cap

if TYPE_CHECKING:
    import sqlite_utils

# the cases every figure counts: the main sample with the reserves swapped in, less any case removed from
# the round (a SQL filter on cases `c`)
IN_SAMPLE_SQL = "(" + ", ".join(f"'{s}'" for s in IN_SAMPLE_STATUSES) + ")"
IN_SAMPLE = f"(c.sample_status IN {IN_SAMPLE_SQL} AND c.removed = 'No')"
OUT_OF_SAMPLE = f"NOT {IN_SAMPLE}"  # reserves, swapped-out and removed cases: listed, never counted
# the answers given in a round's sample, from each case's answer codes (every character but a blank is an answer)
ANSWERED_IN_SAMPLE = (
    "SELECT coalesce(sum(length(replace(coalesce(c.answer_codes, ''), ' ', ''))), 0) FROM cases c"
    f" WHERE c.round_id = {{round}} AND {IN_SAMPLE}"
)


def attribute_sql(column: str, *, blobs: bool = True) -> str:
    """SQL for a case's attribute as a case table and a report read it: blank for none, and a value
    another tool stored as bytes written out as hexadecimal (JSON, and a sheet, hold text). ``blobs``
    False: without that test (a tenth of a second at 250,000 cases), for a read that fails on bytes."""
    if column not in ATTRIBUTE_COLUMNS:
        raise ValueError(f"not an attribute column: {column!r}")
    if not blobs:
        return f"coalesce(c.{column}, '')"
    return f"CASE WHEN typeof(c.{column}) = 'blob' THEN hex(c.{column}) ELSE coalesce(c.{column}, '') END"


def new_id() -> str:
    """A new round's or event's id: a random UUID's 32 hex digits (uuid is imported at the first: a command
    that only reads, such as `caseaudit summary`, never needs it)."""
    import uuid

    return uuid.uuid4().hex


# ------------------------------------------------------------------ the store
class AuditStore:
    """Rounds, cases, answers and ratings in one caseaudit database.

    One store per thread: a sqlite3 connection belongs to the thread that made it.
    """

    def __init__(self, db: sqlite_utils.Database, path: Path | None = None):
        self.db = db
        self.path = path
        self._frameworks: dict[tuple[str, str], Framework] = {}

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, readonly: bool = False) -> AuditStore:
        """``readonly``: SQLite mode=ro, nothing created or changed (a missing database is refused)."""
        path = Path(path).expanduser()
        return cls(open_database(path, create=create, readonly=readonly), path)

    def reopen(self) -> AuditStore:
        """Another connection to the same database file, for another thread (a screen's worker)."""
        if self.path is None:
            raise InvalidValue("this store has no database file to open again")
        return AuditStore.open(self.path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> dict | None:
        return next(iter(self.db.query(sql, list(params))), None)

    # -- rounds ----------------------------------------------------------
    def framework_for(self, round_row: Round) -> Framework:
        """The round's pinned framework version; FrameworkUnavailable (one clear line) if this build lacks it."""
        key = round_row.framework_key
        if key not in self._frameworks:
            try:
                self._frameworks[key] = load_framework(*key)
            except UnknownFramework:
                raise FrameworkUnavailable(
                    f"round {round_row.name!r} is pinned to framework {key[0]} version {key[1]}, which this caseaudit "
                    "does not have; add its definition with 'caseaudit frameworks add FILE.toml' (or use the caseaudit that wrote it)"
                ) from None
        return self._frameworks[key]

    round_framework = framework_for  # the name the screens use when opening a round

    def create_round(
        self, name: str, unit: str, framework_id: str, version: str | None = None, *, created_by: str | None = None
    ) -> Round:
        name, unit = name.strip(), unit.strip()
        if not name:
            raise InvalidValue("a round needs a name")
        if not unit:
            raise InvalidValue("a round needs a unit (the PDU's name, as reports print it)")
        framework = load_framework(framework_id, version)
        new_round = Round(
            id=new_id(),
            name=name,
            unit=unit,
            framework_id=framework.id,
            framework_version=framework.version,
            created_at=now(),
            created_by=created_by or current_user(),
        )
        with write_lock(self.db):
            self._refuse_a_taken_name(name)
            self.db.table("rounds").insert(new_round.as_row())
            record_positions(self.db, new_round.id, framework.question_ids)
            record_framework_questions(self.db, framework)  # the question texts the views show
        return new_round

    def _rounds_named(self, name: str) -> list[dict]:
        """The rounds called ``name`` without regard to case (removed rounds too), an exact match first."""
        folded = name.strip().casefold()
        found = [r for r in self.db.query("SELECT * FROM rounds ORDER BY created_at, name") if r["name"].casefold() == folded]
        return sorted(found, key=lambda r: r["name"] != name.strip())

    def _refuse_a_taken_name(self, name: str, *, other_than: str | None = None) -> None:
        """Round names are matched without regard to case, so no two may differ only in case."""
        for row in self._rounds_named(name):
            if row["id"] != other_than:
                removed = (
                    " (removed: restore it with 'caseaudit restore-round', or choose another name)" if row["removed_at"] else ""
                )
                raise DuplicateRound(f"a round called {row['name']!r} already exists{removed}")

    def round(self, name: str, *, removed_ok: bool = False) -> Round:
        """The round called ``name`` now (without regard to case): for names given at the edge (a command's
        argument); work after that goes by the round's id, which a rename does not change.

        A removed round is refused (UnknownRound saying how to restore it) unless ``removed_ok``."""
        rows = self._rounds_named(name)
        if not rows:
            names = [r["name"] for r in self.db.query("SELECT name FROM rounds WHERE removed_at IS NULL ORDER BY created_at")]
            known = ", ".join(repr(n) for n in names) if names else "none yet (try 'caseaudit demo' or 'caseaudit import')"
            raise UnknownRound(f"no round called {name!r}; rounds: {known}")
        found = Round.from_row(rows[0])
        if found.removed and not removed_ok:
            raise UnknownRound(
                f"round {found.name!r} was removed on {(found.removed_at or '')[:10]} by {found.removed_by}; "
                f"restore it to use it (caseaudit restore-round --round {found.name!r})"
            )
        return found

    def round_by_id(self, round_id: str) -> Round:
        """The round with this id as it is now (its current name and finalised state)."""
        row = self._one("SELECT * FROM rounds WHERE id = ?", [round_id])
        if row is None:
            raise UnknownRound(f"no round with id {round_id!r}")
        return Round.from_row(row)

    def _current(self, round_or_id: Round | str) -> Round:
        return self.round_by_id(round_or_id if isinstance(round_or_id, str) else round_or_id.id)

    def rename_round(self, round_or_id: Round | str, new_name: str, *, by: str | None = None) -> Round:
        """Rename a round (recorded as a round event); a finalised round keeps its name. Returns it renamed."""
        new_name = new_name.strip()
        if not new_name:
            raise InvalidValue("a round needs a name")
        with write_lock(self.db):
            current = self._current(round_or_id)
            self.check_writable(current)
            if new_name == current.name:
                return current
            self._refuse_a_taken_name(new_name, other_than=current.id)  # a change of case alone is a rename
            self.db.execute("UPDATE rounds SET name = ? WHERE id = ?", [new_name, current.id])
            self._round_event(current.id, "renamed", f"{current.name} -> {new_name}", by, value=new_name)
        return attrs.evolve(current, name=new_name)

    def rounds(self, *, removed: bool = False) -> list[dict]:
        """Every round's ``rounds`` row with its case count and progress (answered / expected answers):
        a listing to show (or print as JSON); act on a round through ``round_by_id(row["id"])``.
        Removed rounds are left out; ``removed``: list them too."""
        result = []
        for row in self.db.query(
            f"""
            SELECT r.*,
                   (SELECT count(*) FROM cases c WHERE c.round_id = r.id AND {IN_SAMPLE}) AS cases,
                   ({ANSWERED_IN_SAMPLE.format(round="r.id")}) AS answered
            FROM rounds r {"" if removed else "WHERE r.removed_at IS NULL"} ORDER BY r.created_at, r.name
            """
        ):
            try:
                framework = self.framework_for(Round.from_row(row))
            except FrameworkUnavailable:  # pinned to a definition this build lacks: listed, not opened
                row["questions"], row["progress"], row["framework_missing"] = None, None, True
                result.append(row)
                continue
            expected = row["cases"] * len(framework.question_ids)
            row["questions"] = len(framework.question_ids)
            row["progress"] = (row["answered"] / expected) if expected else 0.0
            row["framework_missing"] = False
            result.append(row)
        return result

    # -- moderation (blind second marking) ------------------------------------
    def create_moderation_round(
        self, original: Round, case_refs: Iterable[str], *, name: str | None = None, created_by: str | None = None
    ) -> Round:
        """A round for a blind second marking of ``original``: the same framework id and version and unit,
        the chosen cases with their attributes, and no answers. All or nothing."""
        if original.moderates is not None:
            raise InvalidValue(f"round {original.name!r} is itself a moderation round; moderate the original round")
        refs = list(dict.fromkeys(ref.strip().upper() for ref in case_refs))
        if not refs:
            raise InvalidValue("a moderation round needs at least one case")
        name = (name or f"{original.name} moderation").strip()
        if not name:
            raise InvalidValue("a round needs a name")
        by = created_by or current_user()
        new_round = Round(
            id=new_id(),
            name=name,
            unit=original.unit,
            framework_id=original.framework_id,
            framework_version=original.framework_version,
            created_at=now(),
            created_by=by,
            moderates=original.id,
        )
        with write_lock(self.db):
            current = self.round_by_id(original.id)
            cases = [self.case(current, ref) for ref in refs]  # UnknownCase names the first one missing
            for case in cases:
                if case["removed"] == "Yes":
                    raise InvalidValue(f"case {case['case_ref']} was removed from round {current.name!r}; it is not moderated")
                if case["sample_status"] not in IN_SAMPLE_STATUSES:
                    raise InvalidValue(
                        f"case {case['case_ref']} is {case['sample_status']}, not in the sample; it is not moderated"
                    )
            self._refuse_a_taken_name(name)
            self.db.table("rounds").insert(new_round.as_row())
            record_positions(self.db, new_round.id, self.framework_for(new_round).question_ids)
            for case in cases:
                attributes = {c: case[c] for c in ATTRIBUTE_COLUMNS if case[c] not in (None, "")}
                self.upsert_case(new_round, case["case_ref"], attributes, changed_by=by, source="moderation")
        return new_round

    def moderation_rounds(self, original: Round) -> list[Round]:
        """The rounds moderating ``original``, newest first."""
        return [
            Round.from_row(row)
            for row in self.db.query(
                "SELECT * FROM rounds WHERE moderates = ? AND removed_at IS NULL ORDER BY created_at DESC, name", [original.id]
            )
        ]

    def moderation_round(self, original: Round, name: str | None = None, *, newest_if_several: bool = False) -> Round:
        """The moderation round of ``original`` called ``name``; without a name, its only one (or, with
        ``newest_if_several``, the newest: outputs that name the round they show). Several and no name:
        InvalidValue listing them, so a command never switches silently to another marking."""
        if original.moderates is not None:
            raise InvalidValue(f"round {original.name!r} is a moderation round; name the round it moderates")
        found = self.moderation_rounds(original)
        if name is not None:
            found = [r for r in found if r.name.casefold() == name.strip().casefold()]
            if not found:
                for row in self._rounds_named(name):
                    if row["moderates"] == original.id and row["removed_at"]:  # removed: say so, and how to restore it
                        raise UnknownRound(
                            f"moderation round {row['name']!r} was removed on {row['removed_at'][:10]} by {row['removed_by']};"
                            f" restore it to use it (caseaudit restore-round --round {row['name']!r})"
                        )
                raise UnknownRound(f"no moderation round called {name!r} moderates round {original.name!r}")
        if not found:
            raise UnknownRound(
                f"round {original.name!r} has no moderation round; make one with 'caseaudit moderate --round NAME --cases N'"
            )
        if name is None and len(found) > 1 and not newest_if_several:
            names = ", ".join(repr(r.name) for r in found)
            raise InvalidValue(
                f"round {original.name!r} has {len(found)} moderation rounds ({names}); say which with --moderation NAME"
            )
        return found[0]

    def check_writable(self, round_row: Round) -> None:
        """A finalised or removed round takes no change (a screen opened before either is refused at its next write)."""
        if round_row.removed_at:
            raise InvalidValue(
                f"round {round_row.name!r} was removed on {round_row.removed_at[:10]} by {round_row.removed_by}; "
                "restore it (caseaudit restore-round) before changing it"
            )
        if round_row.finalised_at:
            raise RoundFinalised(
                f"round {round_row.name!r} was finalised on {round_row.finalised_at[:10]} by "
                f"{round_row.finalised_by}; reopen it with a reason before changing it"
            )

    # -- cases -----------------------------------------------------------
    def case(self, round_row: Round, case_ref: str) -> dict:
        row = self._one("SELECT * FROM cases WHERE round_id = ? AND case_ref = ?", [round_row.id, case_ref.strip().upper()])
        if row is None:
            raise UnknownCase(f"no case {case_ref!r} in round {round_row.name!r}")
        return row

    def upsert_case(
        self,
        round_row: Round,
        case_ref: str,
        attributes: dict[str, str | None],
        *,
        changed_by: str | None = None,
        source: str = "cli",
        must_be_new: bool = False,
    ) -> int:
        """Add a case or update the attributes given (others are kept). Returns the case id.

        Each attribute set or changed is an event in ``attribute_history``, like an answer.
        ``must_be_new``: refuse a case someone else has already added (the TUI's add-case form).
        """
        unknown = set(attributes) - set(ATTRIBUTE_COLUMNS)
        if unknown:
            raise InvalidValue(f"unknown case attribute(s): {', '.join(sorted(unknown))}")
        ref = case_ref.strip().upper()
        by = changed_by or current_user()
        with write_lock(self.db):
            current_round = self.round_by_id(round_row.id)  # asked inside the write: finalising cannot slip between
            self.check_writable(current_round)
            existing = self._one("SELECT * FROM cases WHERE round_id = ? AND case_ref = ?", [round_row.id, ref])
            values = {k: v for k, v in attributes.items() if v not in (None, "")}
            if existing is not None and must_be_new:
                raise DuplicateCase(
                    f"case {ref} is already in round {current_round.name!r} (added {existing['created_at'][:16]})"
                )
            if existing is None:
                merged = {c: values.get(c) for c in ATTRIBUTE_COLUMNS}
                merged["young_adult"] = derived_young_adult(merged.get("age"), merged.get("young_adult"))
                record = {
                    "round_id": round_row.id,
                    "case_ref": ref,
                    **{c: None for c in ATTRIBUTE_COLUMNS},
                    "created_at": now(),
                }
                case_id = self.db.table("cases").insert(record).last_pk
                assert isinstance(case_id, int)  # the INTEGER PRIMARY KEY of the row just inserted
                self._write_attributes(
                    case_id, {c: v for c, v in merged.items() if v not in (None, "")}, by, source, new_case=True
                )
                return case_id
            if values:
                merged = {**{c: existing[c] for c in ATTRIBUTE_COLUMNS}, **values}
                rederived = "age" in values and "young_adult" not in values and merged["age"] != existing["age"]
                if rederived:
                    merged["young_adult"] = derived_young_adult(merged.get("age"), None)
                # a changed age re-derives the young-adult flag as an event even when the flag stays the same:
                # merged with another copy's age change, the flag then follows the age shown (or is a conflict)
                changes = {
                    c: merged[c] for c in ATTRIBUTE_COLUMNS if merged[c] != existing[c] or (rederived and c == "young_adult")
                }
                self._write_attributes(existing["id"], changes, by, source)
            return existing["id"]

    def _write_attributes(
        self,
        case_id: int,
        changes: dict[str, str | None],
        by: str,
        source: str,
        *,
        new_case: bool = False,
        reason: str | None = None,
    ) -> None:
        """Within a write: set case attributes, each change an event based on the value shown."""
        from audit.core.events import format_based_on, heads, next_generation

        if not changes:
            return
        current = self._one("SELECT * FROM cases WHERE id = ?", [case_id])
        assert current is not None  # within the write that added or found the case
        rows, unsettled = [], []
        for attribute, value in changes.items():
            old = current[attribute]
            old = None if old is None else str(old)  # a draw order is stored as a number, its events as text
            events = [] if new_case else self.slot_events("attribute", (case_id, attribute))  # a case just added has no history
            head_events = heads(events)
            agreeing = [h for h in head_events if h.state == (old,)]
            if len(agreeing) < len(head_events):
                unsettled.append(attribute)
            rows.append(
                {
                    "event_id": new_id(),
                    "case_id": case_id,
                    "attribute": attribute,
                    "old_value": old,
                    "new_value": value,
                    "based_on": format_based_on(h.event_id for h in agreeing),
                    "generation": next_generation(agreeing),
                    "changed_by": by,
                    "source": source,
                    "changed_at": now(),
                    "reason": reason,
                }
            )
        self.db.table("attribute_history").insert_all(rows)
        self.db.table("cases").update(case_id, changes)
        for attribute in unsettled:  # an open conflict on this attribute: the new value may now agree with the other side
            self.settle_slot("attribute", (case_id, attribute))

    # -- the sample: main sample, reserves, swaps ------------------------------
    # (how an imported case was drawn is recorded by audit.store.importing, with the sheet's other changes)
    def sample_counts(self, round_row: Round) -> dict[str, dict[str, int]]:
        """Per stratum (sorted; cases without one under ""): how many cases are in each sample status."""
        result: dict[str, dict[str, int]] = {}
        for row in self.db.query(
            "SELECT coalesce(stratum, '') AS stratum, sample_status, count(*) AS n FROM cases WHERE round_id = ?"
            " AND removed = 'No' GROUP BY 1, 2 ORDER BY 1",
            [round_row.id],
        ):
            result.setdefault(row["stratum"], {})[row["sample_status"]] = row["n"]
        return result

    def _ever_in_status(self, round_row: Round, status: str) -> dict[str, int]:
        """Per stratum: how many cases ever had this sample status, from the history (whatever they became)."""
        return {
            row["stratum"]: row["n"]
            for row in self.db.query(
                "SELECT coalesce(c.stratum, '') AS stratum, count(DISTINCT c.id) AS n FROM cases c"
                " JOIN attribute_history h ON h.case_id = c.id AND h.attribute = 'sample_status' AND h.new_value = ?"
                " WHERE c.round_id = ? GROUP BY 1",
                [status, round_row.id],
            )
        }

    def reserves_brought_in(self, round_row: Round) -> dict[str, int]:
        """Per stratum: how many reserves were ever swapped in (one swapped in and later swapped out itself was still used)."""
        return self._ever_in_status(round_row, "swapped in")

    def swaps_made(self, round_row: Round) -> dict[str, int]:
        """Per stratum: how many cases were ever swapped out (one later removed from the round was still swapped)."""
        return self._ever_in_status(round_row, "swapped out")

    def removed_from_sample(self, round_row: Round) -> dict[str, int]:
        """Per stratum: how many cases that would be counted (the main sample or a reserve swapped in) are removed
        from the round."""
        return {
            row["stratum"]: row["n"]
            for row in self.db.query(
                "SELECT coalesce(stratum, '') AS stratum, count(*) AS n FROM cases WHERE round_id = ? AND removed = 'Yes'"
                " AND sample_status IN ('main', 'swapped in') GROUP BY 1",
                [round_row.id],
            )
        }

    def has_strata(self, round_row: Round) -> bool:
        return self._one("SELECT 1 FROM cases WHERE round_id = ? AND stratum IS NOT NULL LIMIT 1", [round_row.id]) is not None

    def has_cases_outside_sample(self, round_id: str) -> bool:
        return (
            self._one(
                f"SELECT 1 FROM cases c WHERE c.round_id = ? AND {OUT_OF_SAMPLE} LIMIT 1",
                [round_id],
            )
            is not None
        )

    def sample_progress(self, round_id: str) -> tuple[int, int]:
        """(answers given, cases) of the round's sample: reserves and swapped-out cases are not counted."""
        row = self._one(
            f"""
            SELECT ({ANSWERED_IN_SAMPLE.format(round="?")}) AS answered,
                   (SELECT count(*) FROM cases c WHERE c.round_id = ? AND {IN_SAMPLE}) AS cases
            """,
            [round_id, round_id],
        )
        assert row is not None
        return row["answered"], row["cases"]

    def unreplaced_swaps(self, round_id: str, stratum: str | None) -> int:
        """How many of a stratum's swapped-out cases no reserve has replaced (0 unless copies that swapped
        in the same reserve for different cases were merged, or a reserve brought in was removed).

        Every reserve swapped in replaced one case, even if it was later swapped out itself (its own place
        then taken by the next reserve): so the swapped-out cases are set against the cases swapped in now and
        the swapped-out ones that had been swapped in."""
        row = self._one(
            "SELECT coalesce(sum(c.sample_status = 'swapped out'), 0) - coalesce(sum(c.sample_status = 'swapped in'"
            " OR (c.sample_status = 'swapped out' AND EXISTS (SELECT 1 FROM attribute_history h WHERE h.case_id = c.id"
            " AND h.attribute = 'sample_status' AND h.new_value = 'swapped in'))), 0) AS n"
            " FROM cases c WHERE c.round_id = ? AND c.stratum IS ? AND c.removed = 'No'",
            [round_id, stratum],
        )
        assert row is not None
        return max(0, row["n"])

    def swap_case(self, round_row: Round, case_ref: str, reason: str, *, by: str | None = None) -> dict:
        """Replace a main-sample case found unsuitable with its stratum's next reserve (lowest draw order).

        The case becomes "swapped out" (its answers kept, no longer counted) and the reserve "swapped in";
        both changes are events carrying the reason and the person's name. Returns the reserve's row."""
        reason = (reason or "").strip()
        if not has_visible_text(reason):
            raise InvalidValue("a swap needs a reason (why the case is unsuitable)")
        _check_text_length(reason, "reason")
        by = by or current_user()
        with write_lock(self.db):
            current_round = self.round_by_id(round_row.id)
            self.check_writable(current_round)
            case = self.case(current_round, case_ref)
            ref = case["case_ref"]
            self._refuse_a_removed_case(case, current_round)
            if case["sample_status"] == "reserve":
                raise InvalidValue(f"case {ref} is a reserve, not in the main sample; swap the case it should replace")
            # two copies that swapped different cases for the same reserve leave, once merged, a stratum with
            # more cases swapped out than reserves swapped in: swapping such a case again brings in the next reserve
            unreplaced = case["sample_status"] == "swapped out" and self.unreplaced_swaps(current_round.id, case["stratum"]) > 0
            if case["sample_status"] == "swapped out" and not unreplaced:
                raise InvalidValue(f"case {ref} has already been swapped out")
            if case["stratum"] is None:
                raise InvalidValue(f"case {ref} was not drawn in a stratum (no sample file); there is no reserve for it")
            reserve = self._one(
                "SELECT * FROM cases WHERE round_id = ? AND stratum = ? AND sample_status = 'reserve' AND removed = 'No'"
                " ORDER BY draw_order IS NULL, draw_order, case_ref LIMIT 1",
                [current_round.id, case["stratum"]],
            )
            if reserve is None and unreplaced:
                raise InvalidValue(
                    f"case {ref} has already been swapped out, and no reserve is left in stratum {case['stratum']!r} "
                    "for the place no reserve has taken"
                )
            if reserve is None:
                raise InvalidValue(f"no reserve left in stratum {case['stratum']!r} to replace case {ref}")
            if not unreplaced:
                self._write_attributes(case["id"], {"sample_status": "swapped out"}, by, "swap", reason=reason)
            self._write_attributes(
                reserve["id"], {"sample_status": "swapped in"}, by, "swap", reason=f"in place of {ref}: {reason}"
            )
            swapped = self._one("SELECT * FROM cases WHERE id = ?", [reserve["id"]])
            assert swapped is not None
            return swapped

    # -- tidying a round: removing a case (reversible until the round is finalised) ---------------
    def _refuse_a_removed_case(self, case: dict, round_row: Round) -> None:
        if case["removed"] == "Yes":
            raise InvalidValue(
                f"case {case['case_ref']} was removed from round {round_row.name!r}; restore it first "
                f"(caseaudit restore-case --round {round_row.name!r} {case['case_ref']})"
            )

    def remove_case(self, round_row: Round, case_ref: str, reason: str, *, by: str | None = None) -> dict:
        """Take a case out of the round (added by mistake, a duplicate, out of scope): its answers are kept but
        it is out of every figure, export and report until restored. An event with the person and the reason,
        which travels in a merge. Returns the case as it is now."""
        return self._set_removed(round_row, case_ref, "Yes", reason, by=by, reason_required=True)

    def restore_case(self, round_row: Round, case_ref: str, reason: str | None = None, *, by: str | None = None) -> dict:
        """Bring a removed case back into the round (and its answers into the figures)."""
        return self._set_removed(round_row, case_ref, "No", reason, by=by, reason_required=False)

    def _set_removed(
        self, round_row: Round, case_ref: str, removed: str, reason: str | None, *, by: str | None, reason_required: bool
    ) -> dict:
        reason = (reason or "").strip() or None
        if reason_required and not reason:
            raise InvalidValue("removing a case needs a reason (--reason), which is recorded in its history")
        _check_text_length(reason, "reason")
        with write_lock(self.db):
            current_round = self.round_by_id(round_row.id)
            self.check_writable(current_round)
            case = self.case(current_round, case_ref)
            if case["removed"] == removed:
                state = "already removed from" if removed == "Yes" else "not removed from"
                raise InvalidValue(f"case {case['case_ref']} is {state} round {current_round.name!r}")
            source = "removed" if removed == "Yes" else "restored"
            self._write_attributes(case["id"], {REMOVED_COLUMN: removed}, by or current_user(), source, reason=reason)
            now_row = self._one("SELECT * FROM cases WHERE id = ?", [case["id"]])
            assert now_row is not None  # read within the write that changed it
            return now_row

    def removed_cases(self, round_row: Round) -> list[dict]:
        """The round's removed cases, with who removed each, when and why (the latest removal event)."""
        return list(
            self.db.query(
                """
                SELECT c.case_ref, h.changed_by AS removed_by, h.changed_at AS removed_at, h.reason
                FROM cases c JOIN attribute_history h ON h.case_id = c.id AND h.attribute = 'removed' AND h.new_value = 'Yes'
                WHERE c.round_id = ? AND c.removed = 'Yes'
                  AND h.changed_at = (SELECT max(changed_at) FROM attribute_history x
                                      WHERE x.case_id = c.id AND x.attribute = 'removed' AND x.new_value = 'Yes')
                ORDER BY c.case_ref
                """,
                [round_row.id],
            )
        )

    def cases(self, round_row: Round) -> list[dict]:
        """Cases of a round with their answered-question count, in case-reference order; ``in_sample``
        says whether the figures count it (reserves and swapped-out cases are listed, not counted)."""
        width = len(self.framework_for(round_row).question_ids)
        return list(
            self.db.query(
                f"""
                SELECT c.*, length(replace({padded_codes_sql(width)}, ' ', '')) AS answered, ? AS questions,
                       {IN_SAMPLE} AS in_sample
                FROM cases c WHERE c.round_id = ? ORDER BY c.case_ref
                """,
                [width, round_row.id],
            )
        )

    CASE_LIST_COLUMNS = (
        "case_ref", "sentence_type", "rosh_level", "practitioner", "team", "answered", "sample_status", "in_sample",
        "removed", "progress", "haystack",
    )  # fmt: skip

    def case_list(self, round_row: Round, *, first: int | None = None) -> list[tuple]:
        """The cases screen's list: a tuple per case of CASE_LIST_COLUMNS, in case-reference order: the
        answered count from each case's answer codes, its progress ("not started", "in progress",
        "complete"), and the text the screen's filter searches (reference, sentence type, practitioner,
        team and RoSH level, lower case), all worked out by SQLite: one row per case, nothing else read.
        ``first``: only the first so many cases (what a screen shows while the rest are read)."""
        width = len(self.framework_for(round_row).question_ids)
        limit = "" if first is None else f" LIMIT {int(first)}"
        answered = f"length(replace({padded_codes_sql(width)}, ' ', ''))"
        return self.db.conn.execute(
            f"""
            SELECT case_ref, sentence_type, rosh_level, practitioner, team, answered, sample_status, in_sample, removed,
                   CASE WHEN answered = 0 THEN 'not started' WHEN answered >= ? THEN 'complete' ELSE 'in progress' END,
                   lower(case_ref || ' ' || sentence_type || ' ' || practitioner || ' ' || team || ' ' || rosh_level)
            FROM (
                SELECT c.case_ref, coalesce(c.sentence_type, '') AS sentence_type, coalesce(c.rosh_level, '') AS rosh_level,
                       coalesce(c.practitioner, '') AS practitioner, coalesce(c.team, '') AS team, {answered} AS answered,
                       c.sample_status, {IN_SAMPLE} AS in_sample, c.removed = 'Yes' AS removed
                FROM cases c WHERE c.round_id = ? ORDER BY c.case_ref{limit}
            )
            """,
            [width, round_row.id],
        ).fetchall()

    def case_count(self, round_row: Round) -> int:
        """How many cases the round lists (every one: reserves, swapped-out and removed cases too)."""
        return self.db.conn.execute("SELECT count(*) FROM cases WHERE round_id = ?", [round_row.id]).fetchone()[0]

    # -- answers ---------------------------------------------------------
    def answers_for_case(self, case_id: int) -> dict[str, dict]:
        """The case's answers and notes by question id (cleared answers are left out)."""
        return {
            row["question_id"]: row
            for row in self.db.query(
                "SELECT * FROM answers WHERE case_id = ? AND (value IS NOT NULL OR note IS NOT NULL)", [case_id]
            )
        }

    def answer(self, case_id: int, question_id: str) -> dict | None:
        """One answer row, or None when unanswered (or cleared) and without a note."""
        return self._one(
            "SELECT * FROM answers WHERE case_id = ? AND question_id = ? AND (value IS NOT NULL OR note IS NOT NULL)",
            [case_id, question_id],
        )

    def record_answer(
        self,
        round_row: Round,
        case_ref: str,
        question_id: str,
        value: Answer | str | None,
        *,
        reason: str | None = None,
        note: str | None = None,
        keep_note: bool = True,
        auditor: str | None = None,
        source: str = "cli",
        based_on: object = ANY_STATE,
        always_record: bool = False,
        reason_required: bool = True,
    ) -> bool:
        """Commit one answer (None clears it). Returns True when something changed (or was recorded).

        Not applicable needs a reason (the one rule for the command line and the TUI); ``reason_required``
        False lets an answer already given elsewhere through as it is (a moderation settling on a marker's
        bare N/A, as a sheet may carry one).

        ``always_record``: write a history event even when nothing changes (old = new), so the history
        shows the answer was confirmed (a moderation that kept the first marker's answer).

        ``keep_note``: when ``note`` is None, keep the existing note.
        ``based_on``: the answer's event id as the person saw it (None: they saw no answer).
        When given, the answer is written only if it is still that one; otherwise StaleAnswer
        says what is there now and nothing is written (compare-and-set). The command line
        states its value outright and leaves it out (last writer wins, recorded as 'cli').
        """
        question_id = self._question_id(round_row, question_id)
        if value is not None:
            try:
                value = Answer(value)
            except ValueError:
                raise InvalidValue(f"{value!r} is not an answer (Yes, No or Not applicable)") from None
        if value is not Answer.NOT_APPLICABLE:
            reason = None
        reason = (reason or "").strip() or None
        _check_text_length(reason, "reason")
        _check_text_length(note, "note")
        if value is Answer.NOT_APPLICABLE and reason is None and reason_required:
            raise InvalidValue(
                f"{question_id}: Not applicable needs a reason (--reason TEXT, or 'N/A: reason'); nothing was saved"
            )
        with write_lock(self.db):
            current_round = self.round_by_id(round_row.id)
            self.check_writable(current_round)
            case = self.case(current_round, case_ref)
            self._refuse_a_removed_case(case, current_round)
            return self._write_answer(
                case["id"],
                question_id,
                value,
                reason,
                note,
                keep_note,
                auditor or current_user(),
                source,
                based_on=based_on,
                always_record=always_record,
            )

    def record_note(
        self,
        round_row: Round,
        case_ref: str,
        question_id: str,
        note: str | None,
        *,
        auditor: str | None = None,
        source: str = "cli",
        based_on: object = ANY_STATE,
    ) -> bool:
        """Change only the note on an answer: the answer itself is left exactly as it is stored."""
        _check_text_length(note, "note")
        question_id = self._question_id(round_row, question_id)
        with write_lock(self.db):
            current_round = self.round_by_id(round_row.id)
            self.check_writable(current_round)
            case = self.case(current_round, case_ref)
            self._refuse_a_removed_case(case, current_round)
            current = self._one("SELECT * FROM answers WHERE case_id = ? AND question_id = ?", [case["id"], question_id]) or {}
            value = Answer(current["value"]) if current.get("value") else None
            return self._write_answer(
                case["id"],
                question_id,
                value,
                current.get("reason"),
                (note or "").strip() or "",
                False,
                auditor or current_user(),
                source,
                based_on=based_on,
            )

    def _question_id(self, round_row: Round, text: str) -> str:
        """The round's framework's question id ``text`` names, without regard to case; else UnknownQuestion."""
        framework = self.framework_for(round_row)
        question_id = framework.canonical_question_id(text)
        if question_id is None:
            import difflib

            close = difflib.get_close_matches(text.strip(), framework.question_ids, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownQuestion(f"{text!r} is not a question of {framework.id} version {framework.version}{hint}")
        return question_id

    def _check_based_on(self, current: dict | None, based_on: object, what: str) -> None:
        if based_on is ANY_STATE:
            return
        seen = current.get("event_id") if current else None
        if seen != based_on:
            who = current.get("auditor") or current.get("rater") if current else None
            raise StaleAnswer(
                f"{what} was changed by {who or 'someone else'} since this screen showed it; nothing was saved", current
            )

    def _parents_of(
        self, current: dict | None, history: str, state_columns: tuple[str, ...], shown_state: tuple
    ) -> tuple[tuple[str, ...], int, list[str]]:
        """What a new event on this slot is based on: the shown answer and every head agreeing with it.

        Returns (based_on, generation, the other heads, which stay open conflicts)."""
        if not current or not current.get("event_id"):
            return (), 1, []
        if not current.get("heads"):
            return (current["event_id"],), (current.get("generation") or 1) + 1, []
        ids = current["heads"].split()
        marks = ", ".join("?" for _ in ids)
        rows = list(
            self.db.query(
                f"SELECT event_id, generation, {', '.join(state_columns)} FROM {history} WHERE event_id IN ({marks})", ids
            )
        )
        agree = [r for r in rows if tuple(r[c] for c in state_columns) == shown_state]
        others = [r["event_id"] for r in rows if r not in agree]
        if not agree:
            agree = [{"event_id": current["event_id"], "generation": current.get("generation") or 1}]
        return tuple(sorted(r["event_id"] for r in agree)), 1 + max(r["generation"] or 1 for r in agree), others

    def _write_answer(
        self,
        case_id: int,
        question_id: str,
        value,
        reason,
        note,
        keep_note,
        auditor: str,
        source: str,
        *,
        based_on: object = ANY_STATE,
        always_record: bool = False,
    ) -> bool:
        from audit.core.events import format_based_on

        current = self._one("SELECT * FROM answers WHERE case_id = ? AND question_id = ?", [case_id, question_id])
        self._check_based_on(current, based_on, f"question {question_id}")
        old_value = current["value"] if current else None
        old_reason = current["reason"] if current else None
        old_note = current["note"] if current else None
        if note is None and keep_note:
            note = old_note
        note = (note or "").strip() or None
        new_value = value.value if value is not None else None
        if (old_value, old_reason, old_note) == (new_value, reason, note) and not always_record:
            return False
        parents, generation, other_heads = self._parents_of(
            current, "answer_history", ("new_value", "new_reason", "new_note"), (old_value, old_reason, old_note)
        )
        stamp = now()
        event_id = new_id()
        self.db.table("answer_history").insert(
            {
                "event_id": event_id,
                "case_id": case_id,
                "question_id": question_id,
                "old_value": old_value,
                "new_value": new_value,
                "old_reason": old_reason,
                "new_reason": reason,
                "old_note": old_note,
                "new_note": note,
                "auditor": auditor,
                "source": source,
                "changed_at": stamp,
                "based_on": format_based_on(parents),
                "generation": generation,
            }
        )
        heads = format_based_on([event_id, *other_heads]) if other_heads else None
        # a cleared answer stays as an empty row: it remembers the event that cleared it, so a
        # merge can tell a later clear from an answer the other copy never had
        self.db.execute(
            """
            INSERT INTO answers (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id, heads, generation)
            VALUES (?, ?, (SELECT round_id FROM cases WHERE id = ?), ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (case_id, question_id) DO UPDATE SET
                value = excluded.value, reason = excluded.reason, note = excluded.note,
                auditor = excluded.auditor, answered_at = excluded.answered_at, event_id = excluded.event_id,
                heads = excluded.heads, generation = excluded.generation
            """,
            [case_id, question_id, case_id, new_value, reason, note, auditor, stamp, event_id, heads, generation],
        )
        if other_heads:  # an open conflict on this answer: the new value may now agree with the other side
            self.settle_slot("answer", (case_id, question_id))
        return True

    def write_answers_in_bulk(
        self,
        case_id: int,
        answers: dict[str, tuple[Answer, str | None]],
        auditor: str,
        source: str,
        notes: dict[str, str] | None = None,
    ) -> int:
        """Within an open write_lock: set several answers of one case, and notes (by question id;
        a note on a question not in ``answers`` leaves its stored answer as it is). A note left out
        keeps the stored one: nothing here erases a note. Returns how many answers changed."""
        notes = notes or {}
        changed = sum(
            self._write_answer(case_id, qid, value, reason, notes.get(qid), True, auditor, source)
            for qid, (value, reason) in answers.items()
        )
        for qid in notes.keys() - answers.keys():
            current = self._one("SELECT value, reason FROM answers WHERE case_id = ? AND question_id = ?", [case_id, qid]) or {}
            value = Answer(current["value"]) if current.get("value") else None
            changed += self._write_answer(case_id, qid, value, current.get("reason"), notes[qid], True, auditor, source)
        return changed

    def na_reasons(self, round_row: Round, limit: int = 20) -> list[str]:
        """Not-applicable reasons used before in this round, most used first."""
        return [
            row["reason"]
            for row in self.db.query(
                """
                SELECT a.reason, count(*) AS n FROM answers a
                WHERE a.round_id = ? AND a.value = 'Not applicable' AND a.reason IS NOT NULL
                GROUP BY a.reason ORDER BY n DESC, a.reason LIMIT ?
                """,
                [round_row.id, limit],
            )
        ]

    # -- aggregation -----------------------------------------------------
    def answer_code_block(
        self,
        round_row: Round,
        where: str = "",
        params: Iterable[Any] = (),
        *,
        in_sample_only: bool = True,
        attribute_columns: Iterable[str] = (),
    ) -> CodeBlock:
        """Each counted case's answer codes (``audit.store.answer_codes``), optionally of the cases matching
        a SQL filter on ``c``, as one block (``CodeBlock``): every case's codes joined by SQLite into
        one string, with the cases' ids in the same order, so a round of any size is one row read
        (a 250,000-case round: 20 MB, a fifth of a second), not a Python string per case.
        ``in_sample_only`` False: reserves, swapped-out and removed cases too (the cases screen's flags).
        ``attribute_columns``: these attributes of the cases too, a list per column in the block's order
        (blank for none; SQLite writes each list as a JSON array in the same pass over the cases)."""
        width = len(self.framework_for(round_row).question_ids)
        conditions = ([f"({where})"] if where else []) + ([IN_SAMPLE] if in_sample_only else [])
        columns = tuple(attribute_columns)  # each checked against the attributes' names (attribute_sql)

        def read(blobs: bool) -> tuple:
            # every aggregate takes the rows in the same order; an id is digits, so a comma parts them safely
            return self.db.conn.execute(
                f"SELECT count(*), group_concat({padded_codes_sql(width)}, ''), group_concat(c.id, ',')"
                f"{''.join(f', json_group_array({attribute_sql(c, blobs=blobs)})' for c in columns)} FROM cases c"
                f" WHERE c.round_id = ?{''.join(f' AND {c}' for c in conditions)}",
                [round_row.id, *params],
            ).fetchone()

        try:
            row = read(blobs=False)
        except sqlite3.OperationalError as error:  # JSON holds no bytes: an attribute another tool stored as bytes
            if not columns or not {"json", "blob"} & set(str(error).lower().split()):
                raise
            row = read(blobs=True)
        cases, joined, ids_text = row[:3]
        attributes = dict(zip(columns, row[3:], strict=True))
        return CodeBlock(
            width=width, cases=cases, joined=joined_codes(joined or ""), ids_text=ids_text or "", attributes=attributes
        )

    def answer_counts(self, round_row: Round, where: str = "", params: Iterable[Any] = ()) -> dict[str, dict]:
        """Counts per question: {question_id: {question_id, yes, no, not_applicable}} of the questions with
        any answer, optionally of the cases matching a SQL filter on ``c``."""
        questions = tuple(self.framework_for(round_row).question_ids)
        return self.answer_code_block(round_row, where, params).counts(questions, questions)

    def case_totals(self, round_row: Round, where: str = "", params: Iterable[Any] = ()) -> tuple[int, int]:
        """(cases, incomplete cases), optionally of the cases matching a SQL filter on ``c``.

        A case is incomplete until every question of its framework has an answer."""
        block = self.answer_code_block(round_row, where, params)
        return block.cases, block.incomplete()

    # -- domain-1 ratings --------------------------------------------------
    def domain_ratings(self, round_row: Round) -> dict[str, dict]:
        return {
            row["standard_id"]: row for row in self.db.query("SELECT * FROM domain_ratings WHERE round_id = ?", [round_row.id])
        }

    def rate_standard(
        self,
        round_row: Round,
        standard_id: str,
        rating: Rating,
        *,
        case_ratings: dict[str, Rating | None],
        evidence: str | None = None,
        override_reason: str | None = None,
        rater: str | None = None,
        based_on: object = ANY_STATE,
    ) -> dict:
        """Record a domain-1 rating; above the advisory cap it needs an override reason.

        ``based_on``: the rating's event id as the screen showed it (compare-and-set, as for answers)."""
        framework = self.framework_for(round_row)
        try:
            standard = framework.standard(standard_id)
        except KeyError:
            judged = ", ".join(s.id for s in framework.standards if s.method is RatingMethod.JUDGEMENT)
            raise UnknownStandard(f"no standard {standard_id!r} in {framework.id}; rated by judgement: {judged}") from None
        if standard.method is not RatingMethod.JUDGEMENT:
            raise InvalidValue(f"standard {standard_id} ({standard.name}) is rated from case answers, not by judgement")
        override_reason = (override_reason or "").strip() or None
        cap = advisory_cap(framework, standard_id, case_ratings)
        if cap is not None and exceeds_cap(framework, rating, cap) and not override_reason:
            raise CapExceeded(
                f"{standard_id} {standard.name}: '{rating}' is above the advisory cap '{cap.cap}' "
                f"(rule {cap.rule.id}: {cap.rule.guidance}); give the override reason with --reason"
            )
        row: dict[str, Any] = {
            "round_id": round_row.id,
            "standard_id": standard_id,
            "rating": rating.value,
            "evidence": (evidence or "").strip() or None,
            "override_reason": override_reason if exceeds_cap(framework, rating, cap) else None,
            "rater": rater or current_user(),
            "rated_at": now(),
            "event_id": new_id(),
        }
        from audit.core.events import format_based_on

        with write_lock(self.db):
            self.check_writable(self.round_by_id(round_row.id))
            old = self._one("SELECT * FROM domain_ratings WHERE round_id = ? AND standard_id = ?", [round_row.id, standard_id])
            self._check_based_on(old, based_on, f"the rating of {standard_id}")
            parents, generation, other_heads = self._parents_of(
                old,
                "rating_history",
                ("new_rating", "override_reason", "evidence"),
                (old["rating"], old["override_reason"], old["evidence"]) if old else (None, None, None),
            )
            row["generation"] = generation
            row["heads"] = format_based_on([row["event_id"], *other_heads]) if other_heads else None
            self.db.table("domain_ratings").upsert(row, pk=("round_id", "standard_id"))
            self.db.table("rating_history").insert(
                {
                    "round_id": round_row.id,
                    "standard_id": standard_id,
                    "old_rating": old["rating"] if old else None,
                    "new_rating": rating.value,
                    "evidence": row["evidence"],
                    "override_reason": row["override_reason"],
                    "rater": row["rater"],
                    "changed_at": row["rated_at"],
                    "event_id": row["event_id"],
                    "based_on": format_based_on(parents),
                    "generation": generation,
                }
            )
            if other_heads:  # an open conflict on this rating: the new value may now agree with the other side
                self.settle_slot("rating", (round_row.id, standard_id))
        return row

    # -- finalising ----------------------------------------------------------
    def _round_event(self, round_id: str, event: str, reason: str | None, by: str | None, *, value: str | None = None) -> dict:
        row = {
            "event_id": new_id(),
            "round_id": round_id,
            "event": event,
            "reason": reason,
            "done_by": by or current_user(),
            "done_at": now(),
            "value": value,
        }
        self.db.table("round_events").insert(row)
        return row

    def finalise_round(self, round_or_id: Round | str, *, by: str | None = None) -> Round:
        """Lock a round: every later change is refused until it is reopened with a reason. Returns it finalised."""
        with write_lock(self.db):
            round_row = self._current(round_or_id)
            self.check_writable(round_row)
            event = self._round_event(round_row.id, "finalised", None, by)
            self.db.execute(
                "UPDATE rounds SET finalised_at = ?, finalised_by = ? WHERE id = ?",
                [event["done_at"], event["done_by"], round_row.id],
            )
        return attrs.evolve(round_row, finalised_at=event["done_at"], finalised_by=event["done_by"])

    def reopen_round(self, round_or_id: Round | str, reason: str, *, by: str | None = None) -> Round:
        reason = (reason or "").strip()
        if not reason:
            raise InvalidValue("reopening a finalised round needs a reason (--reason), which is recorded")
        with write_lock(self.db):
            round_row = self._current(round_or_id)
            if not round_row.finalised_at:
                raise InvalidValue(f"round {round_row.name!r} is not finalised; there is nothing to reopen")
            self._round_event(round_row.id, "reopened", reason, by)
            self.db.execute("UPDATE rounds SET finalised_at = NULL, finalised_by = NULL WHERE id = ?", [round_row.id])
        return attrs.evolve(round_row, finalised_at=None, finalised_by=None)

    # -- tidying: removing a round, changing its unit ------------------------------
    def remove_round(self, round_or_id: Round | str, reason: str, *, by: str | None = None) -> Round:
        """Hide a round from the list (a test import, a duplicate): nothing in it is deleted, and it can be
        restored. Recorded as a round event with the person and the reason; a finalised round is kept."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidValue("removing a round needs a reason (--reason), which is recorded in its history")
        _check_text_length(reason, "reason")
        with write_lock(self.db):
            round_row = self._current(round_or_id)
            self.check_writable(round_row)
            if round_row.removed:
                raise InvalidValue(f"round {round_row.name!r} is already removed")
            event = self._round_event(round_row.id, "removed", reason, by)
            self.db.execute(
                "UPDATE rounds SET removed_at = ?, removed_by = ? WHERE id = ?",
                [event["done_at"], event["done_by"], round_row.id],
            )
        return attrs.evolve(round_row, removed_at=event["done_at"], removed_by=event["done_by"])

    def restore_round(self, round_or_id: Round | str, reason: str | None = None, *, by: str | None = None) -> Round:
        """Bring a removed round back into the list, as it was."""
        reason = (reason or "").strip() or None
        _check_text_length(reason, "reason")
        with write_lock(self.db):
            round_row = self._current(round_or_id)
            if not round_row.removed:
                raise InvalidValue(f"round {round_row.name!r} is not removed; there is nothing to restore")
            self._round_event(round_row.id, "restored", reason, by)
            self.db.execute("UPDATE rounds SET removed_at = NULL, removed_by = NULL WHERE id = ?", [round_row.id])
        return attrs.evolve(round_row, removed_at=None, removed_by=None)

    def change_unit(self, round_or_id: Round | str, unit: str, *, by: str | None = None) -> Round:
        """Change the unit a round's reports name (a round event, 'OLD -> NEW'); a finalised round keeps its unit."""
        unit = (unit or "").strip()
        if not unit:
            raise InvalidValue("a round needs a unit (the PDU's name, as reports print it)")
        _check_text_length(unit, "unit")
        with write_lock(self.db):
            round_row = self._current(round_or_id)
            if unit == round_row.unit:
                return round_row
            self.check_writable(round_row)
            self._round_event(round_row.id, "unit changed", f"{round_row.unit} -> {unit}", by, value=unit)
            self.db.execute("UPDATE rounds SET unit = ? WHERE id = ?", [unit, round_row.id])
        return attrs.evolve(round_row, unit=unit)

    def round_events(self, round_row: Round) -> list[dict]:
        return list(self.db.query("SELECT * FROM round_events WHERE round_id = ? ORDER BY done_at, event_id", [round_row.id]))

    # -- history -------------------------------------------------------------
    def answer_history(self, round_row: Round, case_ref: str | None = None) -> list[dict]:
        """Who changed which answer when, old -> new, oldest first."""
        where, params = "c.round_id = ?", [round_row.id]
        if case_ref is not None:
            case = self.case(round_row, case_ref)
            where, params = "h.case_id = ?", [case["id"]]
        return list(
            self.db.query(
                f"""
                SELECT h.*, c.case_ref FROM answer_history h JOIN cases c ON c.id = h.case_id
                WHERE {where} ORDER BY h.changed_at, h.id
                """,
                params,
            )
        )

    def attribute_history(self, round_row: Round, case_ref: str | None = None) -> list[dict]:
        """Who changed which case attribute when, old -> new, oldest first."""
        where, params = "c.round_id = ?", [round_row.id]
        if case_ref is not None:
            where, params = "h.case_id = ?", [self.case(round_row, case_ref)["id"]]
        return list(
            self.db.query(
                f"SELECT h.*, c.case_ref FROM attribute_history h JOIN cases c ON c.id = h.case_id WHERE {where}"
                " ORDER BY h.changed_at, h.id",
                params,
            )
        )

    def rating_history(self, round_row: Round) -> list[dict]:
        return list(self.db.query("SELECT * FROM rating_history WHERE round_id = ? ORDER BY changed_at, id", [round_row.id]))

    # -- merge conflicts ---------------------------------------------------------
    def conflicts(self, round_row: Round, *, open_only: bool = True, case_id: int | None = None) -> list[dict]:
        """Answers, case attributes and domain-1 ratings on which merged copies disagree, with the value shown here."""
        filters = ["k.round_id = ?"]
        params: list[Any] = [round_row.id]
        if open_only:
            filters.append("k.resolved_at IS NULL")
        if case_id is not None:
            filters.append("k.case_id = ?")
            params.append(case_id)
        rows = list(
            self.db.query(
                f"""
                SELECT k.*, c.case_ref,
                       coalesce(a.value, d.rating) AS our_value, a.reason AS our_reason,
                       coalesce(a.note, d.evidence) AS our_note, coalesce(a.auditor, d.rater) AS our_by,
                       coalesce(a.answered_at, d.rated_at) AS our_at
                FROM conflicts k
                LEFT JOIN cases c ON c.id = k.case_id
                LEFT JOIN answers a ON k.kind = 'answer' AND a.case_id = k.case_id AND a.question_id = k.subject
                LEFT JOIN domain_ratings d ON k.kind = 'rating' AND d.round_id = k.round_id AND d.standard_id = k.subject
                WHERE {" AND ".join(filters)}
                ORDER BY c.case_ref, k.subject, k.id
                """,
                params,
            )
        )
        for row in rows:
            if row["kind"] == "attribute" and row["subject"] in (*ATTRIBUTE_COLUMNS, *CASE_STATE_COLUMNS):
                case = self._one(f"SELECT {row['subject']} AS value FROM cases WHERE id = ?", [row["case_id"]]) or {}
                row["our_value"] = case.get("value")
        return rows

    def resolve_conflict(self, round_row: Round, conflict_id: int, keep: str, *, by: str | None = None) -> dict:
        """Settle a merge conflict by keeping our value or taking theirs.

        The decision is an event based on every competing value, so it travels to other
        copies with the history and settles the conflict there too."""
        # "shown" is the value this database shows now, "other" the value it conflicts with. Either may have come
        # from either copy (the shown one is chosen by the same rule in every copy), so neither is called "ours";
        # 'ours' and 'theirs' are still accepted for them and are what the conflicts table stores.
        keep = KEEP_CHOICES.get(keep, keep)
        if keep not in ("ours", "theirs"):
            raise InvalidValue(
                f"{keep!r}: keep 'shown' (the value this database shows now) or take 'other' (the value it conflicts with)"
            )
        by = by or current_user()
        with write_lock(self.db):
            self.check_writable(self.round_by_id(round_row.id))
            conflict = self._one("SELECT * FROM conflicts WHERE id = ? AND round_id = ?", [conflict_id, round_row.id])
            if conflict is None:
                raise InvalidValue(f"no conflict {conflict_id} in round {round_row.name!r} (see 'caseaudit conflicts')")
            if conflict["resolved_at"]:
                raise InvalidValue(
                    f"conflict {conflict_id} was already resolved by {conflict['resolved_by']} ({KEPT_WORDS.get(conflict['kept'], conflict['kept'])})"
                )
            kind = SLOT_KINDS[conflict["kind"]]
            key = (conflict["round_id"] if conflict["kind"] == "rating" else conflict["case_id"], conflict["subject"])
            events = self.slot_events(conflict["kind"], key)
            from audit.core.events import format_based_on, heads, next_generation

            all_heads = heads(events)
            top = all_heads[0]
            theirs = next((e for e in events if e.event_id == conflict["their_event_id"]), None)
            chosen = theirs.state if keep == "theirs" and theirs is not None else top.state
            # settles this conflict only: based on the value shown and the one this conflict lists (and any
            # head agreeing with either); a third value, listed as another conflict, stays open
            settled_states = {top.state, theirs.state if theirs is not None else top.state}
            competing = [h for h in all_heads if h.state in settled_states]
            source = f"conflict {conflict_id} resolved: {KEPT_WORDS[keep]} (found merging {conflict['from_file']})"
            row = {
                "event_id": new_id(),
                kind.key[0]: key[0],
                kind.key[1]: key[1],
                "based_on": format_based_on(e.event_id for e in competing),
                "generation": next_generation(competing),
                kind.by: by,
                "changed_at": now(),
            }
            row.update(zip(kind.state, chosen, strict=False))
            if conflict["kind"] == "answer":
                row.update({"old_value": top.state[0], "old_reason": top.state[1], "old_note": top.state[2], "source": source})
            elif conflict["kind"] == "rating":
                row["old_rating"] = top.state[0]
            else:
                row.update({"old_value": top.state[0], "source": source})
            self.db.table(kind.history).insert(row)
            self.settle_slot(conflict["kind"], key, from_file=conflict["from_file"])
            resolved = self._one("SELECT * FROM conflicts WHERE id = ?", [conflict_id])
            assert resolved is not None  # read within the write that settled it
            return resolved

    # -- converging copies (audit.store.slots) -------------------------------------
    def slot_events(self, kind_name: str, key: tuple) -> list:
        return slots.slot_events(self.db, kind_name, key)

    def settle_slot(self, kind_name: str, key: tuple, *, from_file: str = "this database") -> SettleOutcome:
        return slots.settle_slots(self.db, kind_name, [key], from_file=from_file)

    def settle_slots(self, kind_name: str, keys: Iterable[tuple], *, from_file: str = "this database") -> SettleOutcome:
        return slots.settle_slots(self.db, kind_name, keys, from_file=from_file)

    # -- settings ------------------------------------------------------------
    def deidentify_salt(self) -> str:
        """This database's secret salt for de-identified exports: created once, so hashes stay stable."""
        row = self._one("SELECT value FROM settings WHERE key = 'deidentify_salt'")
        if row:
            return row["value"]
        import secrets

        with write_lock(self.db):
            self.db.execute("INSERT OR IGNORE INTO settings (key, value) VALUES ('deidentify_salt', ?)", [secrets.token_hex(16)])
        row = self._one("SELECT value FROM settings WHERE key = 'deidentify_salt'")
        assert row is not None  # inserted just now, or by whoever got there first
        return row["value"]

    # -- integrity -------------------------------------------------------------
    # the tables holding a row per answer or per event: millions of rows in a national round
    EVENT_SCALE_TABLES = ("answers", "answer_history", "attribute_history")

    def verify_intact(self) -> None:
        """Refuse a damaged file before figures are drawn from it, at a cost that does not grow with the
        answers: SQLite's quick check of every table the figures come from (rounds, cases with their
        answer codes, ratings, ...) and their indexes, and, for the tables with a row per answer or event,
        every tree's first and last path from root to leaf. Damage elsewhere in those is met when its
        page is read (SQLite says the file is malformed: one line, exit 2); `caseaudit check` reads it all."""
        try:
            result = self._quick_check_outside_events() + self._walk_event_trees()
        except sqlite3.DatabaseError as error:
            if is_damage(error) or "malformed" in str(error).lower():
                result = [str(error)]
            else:
                raise
        if result:
            raise DatabaseDamaged(f"the database is damaged ({self.path}): run caseaudit check")

    def _quick_check_outside_events(self) -> list[str]:
        problems = []
        for (table,) in self.db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall():
            if table not in self.EVENT_SCALE_TABLES:
                found = [row[0] for row in self.db.conn.execute(f'PRAGMA quick_check("{table}")')]
                problems += [line for line in found if line != "ok"]
        return problems

    def _walk_event_trees(self) -> list[str]:
        """Read the first and the last entry of each event-scale table and of each of its indexes, so
        every page on the two edge paths of every tree (the roots and interior pages among them) is read."""
        conn = self.db.conn
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in self.EVENT_SCALE_TABLES:
            if table not in tables:
                continue
            # the primary key in its declared order (a WITHOUT ROWID table's key), else rowid; read with plain
            # SQL, as sqlite-utils' Table.pks reads it, so a read-only command need not load sqlite-utils
            declared = sorted((row[5], row[1]) for row in conn.execute(f'PRAGMA table_info("{table}")') if row[5])
            key = ", ".join(f'"{name}"' for _, name in declared) if declared else '"rowid"'
            for order in ("ASC", "DESC"):
                self.db.conn.execute(f'SELECT * FROM "{table}" ORDER BY {key} {order} LIMIT 1').fetchall()
            for name, sql in self.db.conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", [table]
            ).fetchall():
                columns = [row[2] for row in self.db.conn.execute(f'PRAGMA index_info("{name}")') if row[2] is not None]
                if not columns:
                    continue
                partial = sql.split(" WHERE ", 1)[1] if sql and " WHERE " in sql else "1"
                for order in ("ASC", "DESC"):
                    ordering = ", ".join(f'"{c}" {order}' for c in columns)
                    self.db.conn.execute(
                        f'SELECT "{columns[0]}" FROM "{table}" INDEXED BY "{name}" WHERE {partial} ORDER BY {ordering} LIMIT 1'
                    ).fetchall()
        return []

    def _event_ids_kept_unique(self, table: str) -> bool:
        """Whether a unique index (or key) on ``event_id`` alone, over every row, keeps a history's event ids unique."""
        for _, name, unique, _, partial in self.db.conn.execute(f'PRAGMA index_list("{table}")').fetchall():
            columns = [row[2] for row in self.db.conn.execute(f'PRAGMA index_info("{name}")')]
            if unique and not partial and columns == ["event_id"]:
                return True
        return False

    def check(self) -> list[str]:
        """SQLite's integrity and foreign-key checks, then every stored answer against its round's
        pinned framework version. Returns the problems found (empty: all well). Damage is a
        finding, never an exception: each later check that cannot read the file says so."""
        problems: list[str] = []
        try:
            integrity = [row[0] for row in self.db.conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as error:
            if not is_damage(error):
                raise
            integrity = [f"SQLite cannot read the file ({error})"]
        if integrity != ["ok"]:
            problems += [f"integrity: {line}" for line in integrity[:20]]
        try:
            problems += self._check_contents()
        except sqlite3.DatabaseError as error:
            if not is_damage(error):
                raise
            problems.append(
                f"damage: the remaining checks could not read the file ({error}); restore a backup or merge a sound copy"
            )
        return problems

    def _check_contents(self) -> list[str]:
        problems: list[str] = []
        for table, rowid, parent, _ in self.db.conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"foreign key: {table} row {rowid} points at a missing {parent} row")
        for row in self.db.query(
            "SELECT c.case_ref, a.question_id FROM answers a JOIN cases c ON c.id = a.case_id WHERE a.round_id != c.round_id LIMIT 20"
        ):
            problems.append(f"case {row['case_ref']}, question {row['question_id']}: the answer's round is not its case's round")
        for row in self.db.query(
            """
            SELECT c.case_ref, a.question_id, a.value, h.new_value, a.reason, h.new_reason, a.note, h.new_note, h.event_id
            FROM answers a JOIN cases c ON c.id = a.case_id
            LEFT JOIN answer_history h ON h.event_id = a.event_id
            WHERE h.event_id IS NULL OR a.value IS NOT h.new_value OR a.reason IS NOT h.new_reason OR a.note IS NOT h.new_note
            LIMIT 20
            """
        ):
            where = f"case {row['case_ref']}, question {row['question_id']}"
            if row["event_id"] is None:
                problems.append(f"{where}: the current answer has no event in the history (written outside caseaudit?)")
            else:
                problems.append(f"{where}: the current answer is not the one its history records")
        triggers = {row[0] for row in self.db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        for table in ("answer_history", "rating_history", "round_events", "attribute_history"):
            for verb in ("update", "delete"):
                if f"{table}_no_{verb}" not in triggers:
                    problems.append(f"audit trail: the trigger that keeps {table} append-only ({verb}) is missing")
            if not self._event_ids_kept_unique(table):
                problems.append(
                    f"audit trail: nothing keeps {table}'s event ids unique (its unique index on event_id is missing"
                    " or was made again without UNIQUE: changed outside caseaudit?)"
                )
        for stored in self.db.query("SELECT * FROM rounds ORDER BY name"):
            round_row = Round.from_row(stored)
            try:
                framework = self.framework_for(round_row)
            except Exception as error:  # a definition this version does not ship
                problems.append(f"round {round_row.name!r}: its framework cannot be loaded ({error})")
                continue
            known = set(framework.question_ids)
            place = {q: i for i, q in enumerate(framework.question_ids)}
            expected_codes: dict[str, list[str]] = {}
            for row in self.db.query(
                """
                SELECT c.case_ref, a.question_id, a.value, a.reason FROM answers a JOIN cases c ON c.id = a.case_id
                WHERE c.round_id = ? ORDER BY c.case_ref, a.question_id
                """,
                [round_row.id],
            ):
                where = f"round {round_row.name!r}, case {row['case_ref']}, question {row['question_id']}"
                if row["question_id"] not in known:
                    problems.append(f"{where}: not a question of {framework.id} version {framework.version}")
                else:
                    codes = expected_codes.setdefault(row["case_ref"], [UNANSWERED_CODE] * len(place))
                    codes[place[row["question_id"]]] = CODE_OF_VALUE.get(row["value"], UNANSWERED_CODE)
                if row["value"] is not None and row["value"] not in {a.value for a in Answer}:
                    problems.append(f"{where}: {row['value']!r} is not an answer")
                if row["reason"] is not None and row["value"] != Answer.NOT_APPLICABLE:
                    problems.append(f"{where}: has a not-applicable reason but the answer is {row['value']!r}")
            blank = UNANSWERED_CODE * len(place)
            mismatched = [
                case_ref
                for case_ref, codes in self.db.conn.execute(
                    f"SELECT case_ref, {padded_codes_sql(len(place))} FROM cases c WHERE round_id = ? ORDER BY case_ref",
                    [round_row.id],
                )
                if codes != "".join(expected_codes.get(case_ref, blank))
            ]
            for case_ref in mismatched[:20]:
                problems.append(
                    f"round {round_row.name!r}, case {case_ref}: its answer codes (what the figures count) differ from its"
                    " answers (changed outside caseaudit?)"
                )
            judged = {s.id for s in framework.standards if s.method is RatingMethod.JUDGEMENT}
            for row in self.db.query("SELECT * FROM domain_ratings WHERE round_id = ?", [round_row.id]):
                where = f"round {round_row.name!r}, standard {row['standard_id']}"
                if row["standard_id"] not in judged:
                    problems.append(f"{where}: not a standard rated by judgement in {framework.id} {framework.version}")
                if row["rating"] not in {r.value for r in Rating}:
                    problems.append(f"{where}: {row['rating']!r} is not a rating")
        return problems


def check_database(path: str | Path) -> tuple[list[str], Path]:
    """``caseaudit check``: open read-only (never creating anything) and list every problem; a file
    too damaged to open is itself the finding."""
    path = Path(path).expanduser()
    try:
        store = AuditStore.open(path, readonly=True)
    except DatabaseDamaged as error:
        return [f"damage: {error}; SQLite cannot read its schema, so nothing else could be checked"], path
    with store:
        return store.check(), path
