"""The database schema: migrations in order, applied once, each all or nothing.

A migration never deletes a recorded answer: each reshapes what is kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from audit.core.attributes import ATTRIBUTE_COLUMNS
from audit.core.events import stable_event_id
from audit.store.answer_codes import create_answer_codes, fill_answer_codes
from audit.store.slots import settle_slots
from audit.store.views import create_framework_questions_table, record_round_frameworks

if TYPE_CHECKING:
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

APPLICATION_ID = 0x43415544  # "CAUD": marks a caseaudit database


class Migration(NamedTuple):
    """One migration as sqlite-utils' ``Migrations`` holds it (its name, function and whether it runs in a transaction)."""

    name: str
    fn: Any
    transactional: bool = True


class MigrationList:
    """The migrations in order, registered as sqlite-utils' ``Migrations`` registers them (``@migrations()``),
    and run by it: sqlite-utils is imported only when a database is checked for pending migrations or
    migrated (a writable open), so a read-only command (``caseaudit summary``) never loads it."""

    def __init__(self, name: str):
        self.name = name
        self._migrations: list[Migration] = []

    def __call__(self, *, name: str | None = None, transactional: bool = True):
        def register(function):
            named = name or function.__name__
            if any(m.name == named for m in self._migrations):
                raise ValueError(f"migration {named!r} is already registered")
            self._migrations.append(Migration(named, function, transactional))
            return function

        return register

    def runner(self) -> Migrations:
        """sqlite-utils' ``Migrations`` holding these migrations, in order."""
        from sqlite_utils.migrations import Migrations

        runner = Migrations(self.name)
        for migration in self._migrations:
            runner(name=migration.name, transactional=migration.transactional)(migration.fn)
        return runner

    def pending(self, db: sqlite_utils.Database) -> list:
        return self.runner().pending(db)

    def apply(self, db: sqlite_utils.Database) -> None:
        self.runner().apply(db)


migrations = MigrationList("caseaudit")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE rounds (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            unit TEXT NOT NULL,
            framework_id TEXT NOT NULL,
            framework_version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            finalised_at TEXT,
            finalised_by TEXT
        )"""
    )
    attribute_columns = ",\n".join(f"            {c} TEXT" for c in ATTRIBUTE_COLUMNS)
    db.execute(
        f"""
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            case_ref TEXT NOT NULL,
{attribute_columns},
            created_at TEXT NOT NULL,
            UNIQUE (round_id, case_ref)
        )"""
    )
    db.execute(
        """
        CREATE TABLE answers (
            case_id INTEGER NOT NULL REFERENCES cases(id),
            question_id TEXT NOT NULL,
            value TEXT CHECK (value IN ('Yes', 'No', 'Not applicable')),
            reason TEXT,
            note TEXT,
            auditor TEXT NOT NULL,
            answered_at TEXT NOT NULL,
            PRIMARY KEY (case_id, question_id)
        )"""
    )
    db.execute(
        """
        CREATE TABLE answer_history (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            question_id TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT,
            old_reason TEXT,
            new_reason TEXT,
            old_note TEXT,
            new_note TEXT,
            auditor TEXT NOT NULL,
            source TEXT NOT NULL,
            changed_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX answer_history_case ON answer_history(case_id, question_id)")
    db.execute(
        "CREATE TRIGGER answer_history_no_update BEFORE UPDATE ON answer_history "
        "BEGIN SELECT RAISE(ABORT, 'answer_history is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER answer_history_no_delete BEFORE DELETE ON answer_history "
        "BEGIN SELECT RAISE(ABORT, 'answer_history is append-only'); END"
    )
    db.execute(
        """
        CREATE TABLE domain_ratings (
            round_id TEXT NOT NULL REFERENCES rounds(id),
            standard_id TEXT NOT NULL,
            rating TEXT NOT NULL,
            evidence TEXT,
            override_reason TEXT,
            rater TEXT NOT NULL,
            rated_at TEXT NOT NULL,
            PRIMARY KEY (round_id, standard_id)
        )"""
    )
    db.execute(
        """
        CREATE TABLE rating_history (
            id INTEGER PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            standard_id TEXT NOT NULL,
            old_rating TEXT,
            new_rating TEXT,
            evidence TEXT,
            override_reason TEXT,
            rater TEXT NOT NULL,
            changed_at TEXT NOT NULL
        )"""
    )
    db.execute(
        "CREATE TRIGGER rating_history_no_update BEFORE UPDATE ON rating_history "
        "BEGIN SELECT RAISE(ABORT, 'rating_history is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER rating_history_no_delete BEFORE DELETE ON rating_history "
        "BEGIN SELECT RAISE(ABORT, 'rating_history is append-only'); END"
    )


def _stable_event_id(*parts: Any) -> str:
    """An event id derived from what happened, so two copies of one schema-1 file agree on it."""
    return stable_event_id(*parts)


@migrations()
def m002_events_finalising_and_merging(db: sqlite_utils.Database) -> None:
    """Stable event ids (so merged copies recognise shared history), round events
    (finalised, reopened with a reason), merge conflicts and per-database settings."""
    for table in ("answer_history", "rating_history"):
        db.execute(f"DROP TRIGGER {table}_no_update")
        db.execute(f"ALTER TABLE {table} ADD COLUMN event_id TEXT")
    for row in list(
        db.query(
            "SELECT h.id, c.round_id, c.case_ref, h.question_id, h.old_value, h.new_value, h.old_reason, h.new_reason,"
            " h.old_note, h.new_note, h.auditor, h.changed_at FROM answer_history h JOIN cases c ON c.id = h.case_id"
        )
    ):
        event_id = _stable_event_id(*[row[k] for k in row if k != "id"])
        db.execute("UPDATE answer_history SET event_id = ? WHERE id = ?", [event_id, row["id"]])
    for row in list(db.query("SELECT * FROM rating_history")):
        event_id = _stable_event_id(*[row[k] for k in row if k not in ("id", "event_id")])
        db.execute("UPDATE rating_history SET event_id = ? WHERE id = ?", [event_id, row["id"]])
    for table in ("answer_history", "rating_history"):
        db.execute(f"CREATE UNIQUE INDEX {table}_event ON {table}(event_id)")
        db.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
    # the event that produced each current answer / rating: how merge tells "newer" from "conflicting"
    db.execute("ALTER TABLE answers ADD COLUMN event_id TEXT")
    db.execute(
        "UPDATE answers SET event_id = (SELECT h.event_id FROM answer_history h WHERE h.case_id = answers.case_id"
        " AND h.question_id = answers.question_id ORDER BY h.id DESC LIMIT 1)"
    )
    db.execute("ALTER TABLE domain_ratings ADD COLUMN event_id TEXT")
    db.execute(
        "UPDATE domain_ratings SET event_id = (SELECT h.event_id FROM rating_history h WHERE h.round_id = domain_ratings.round_id"
        " AND h.standard_id = domain_ratings.standard_id ORDER BY h.id DESC LIMIT 1)"
    )
    db.execute(
        """
        CREATE TABLE round_events (
            event_id TEXT PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            event TEXT NOT NULL CHECK (event IN ('finalised', 'reopened', 'merged')),
            reason TEXT,
            done_by TEXT NOT NULL,
            done_at TEXT NOT NULL
        )"""
    )
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER round_events_no_{verb.lower()} BEFORE {verb} ON round_events "
            "BEGIN SELECT RAISE(ABORT, 'round_events is append-only'); END"
        )
    db.execute(
        """
        CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            kind TEXT NOT NULL CHECK (kind IN ('answer', 'rating')),
            case_id INTEGER REFERENCES cases(id),
            subject TEXT NOT NULL,
            their_event_id TEXT NOT NULL UNIQUE,
            their_value TEXT,
            their_reason TEXT,
            their_note TEXT,
            their_by TEXT,
            their_at TEXT,
            from_file TEXT NOT NULL,
            found_at TEXT NOT NULL,
            resolved_at TEXT,
            resolved_by TEXT,
            kept TEXT CHECK (kept IN ('ours', 'theirs'))
        )"""
    )
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migrations()
def m003_answers_clustered_by_case(db: sqlite_utils.Database) -> None:
    """Answers stored in case order (WITHOUT ROWID) and carrying their round, with a covering
    index per round and question: summaries of 40,000-case rounds count index entries instead
    of joining and sorting millions of rows."""
    db.execute(
        """
        CREATE TABLE answers_by_case (
            case_id INTEGER NOT NULL REFERENCES cases(id),
            question_id TEXT NOT NULL,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            value TEXT CHECK (value IN ('Yes', 'No', 'Not applicable')),
            reason TEXT,
            note TEXT,
            auditor TEXT NOT NULL,
            answered_at TEXT NOT NULL,
            event_id TEXT,
            PRIMARY KEY (case_id, question_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """
        INSERT INTO answers_by_case (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id)
        SELECT a.case_id, a.question_id, c.round_id, a.value, a.reason, a.note, a.auditor, a.answered_at, a.event_id
        FROM answers a JOIN cases c ON c.id = a.case_id
        """
    )
    db.execute("DROP TABLE answers")
    db.execute("ALTER TABLE answers_by_case RENAME TO answers")
    db.execute("CREATE INDEX answers_round_question ON answers(round_id, question_id, value)")


def _derive_event_graph(db: sqlite_utils.Database, table: str, slot: str, old: tuple[str, ...], new: tuple[str, ...]) -> dict:
    """Fill ``based_on`` and ``generation`` of an older history table from its old and new values.

    Returns {slot key: [(event_id, based_on, generation, new state), ...]} for setting the heads.
    """
    from audit.core.events import format_based_on, generations, legacy_parents

    resolved_from = {
        row["id"]: row["their_event_id"]
        for row in db.query("SELECT id, their_event_id FROM conflicts WHERE resolved_at IS NOT NULL")
    }
    slots: dict[tuple, list[dict]] = {}
    for row in db.query(f"SELECT * FROM {table} ORDER BY id"):
        slots.setdefault(tuple(row[k] for k in slot.split(",")), []).append(row)
    updates: list[tuple] = []
    graph: dict[tuple, list[tuple]] = {}
    for key, rows in slots.items():
        parents = legacy_parents([(r["event_id"], tuple(r[k] for k in old), tuple(r[k] for k in new)) for r in rows])
        based = {}
        for r, p in zip(rows, parents, strict=False):
            extra: tuple[str, ...] = ()
            source = r.get("source") or ""
            if source.startswith("conflict ") and " resolved" in source:
                number = source.split()[1]
                if number.isdigit() and int(number) in resolved_from:
                    extra = (resolved_from[int(number)],)
            based[r["event_id"]] = tuple(x for x in {*p, *extra} if x != r["event_id"])
        gens = generations(based)
        graph[key] = []
        for r in rows:
            updates.append((format_based_on(based[r["event_id"]]), gens.get(r["event_id"], 1), r["event_id"]))
            graph[key].append((r["event_id"], based[r["event_id"]], gens.get(r["event_id"], 1), r))
    db.conn.executemany(f"UPDATE {table} SET based_on = ?, generation = ? WHERE event_id = ?", updates)
    return graph


def _heads_text(entries: list) -> tuple[str | None, dict[str, int]]:
    from audit.core.events import format_based_on

    superseded = {p for _, based, _, _ in entries for p in based}
    head_ids = [e for e, _, _, _ in entries if e not in superseded]
    return (format_based_on(head_ids) if len(head_ids) > 1 else None), {e: g for e, _, g, _ in entries}


@migrations()
def m004_replication(db: sqlite_utils.Database) -> None:
    """Copies that converge: every history event names the events it was based on and its
    generation; the current answer and rating remember every head; case attributes get a
    history of their own; renames are round events; conflicts can be about attributes."""
    for table in ("answer_history", "rating_history"):
        db.execute(f"DROP TRIGGER {table}_no_update")
        db.execute(f"ALTER TABLE {table} ADD COLUMN based_on TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN generation INTEGER NOT NULL DEFAULT 1")
    for table in ("answers", "domain_ratings"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN heads TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN generation INTEGER NOT NULL DEFAULT 1")
    answer_graph = _derive_event_graph(
        db,
        "answer_history",
        "case_id,question_id",
        ("old_value", "old_reason", "old_note"),
        ("new_value", "new_reason", "new_note"),
    )
    updates = []
    for (case_id, question_id), entries in answer_graph.items():
        heads_text, gens = _heads_text(entries)
        updates.append((heads_text, case_id, question_id))
    db.conn.executemany("UPDATE answers SET heads = ? WHERE case_id = ? AND question_id = ?", updates)
    db.execute(
        "UPDATE answers SET generation = coalesce((SELECT h.generation FROM answer_history h"
        " WHERE h.event_id = answers.event_id), 1)"
    )
    rating_graph = _derive_event_graph(
        db,
        "rating_history",
        "round_id,standard_id",
        ("old_rating",),
        ("new_rating",),
    )
    updates = [(_heads_text(entries)[0], round_id, standard_id) for (round_id, standard_id), entries in rating_graph.items()]
    db.conn.executemany("UPDATE domain_ratings SET heads = ? WHERE round_id = ? AND standard_id = ?", updates)
    db.execute(
        "UPDATE domain_ratings SET generation = coalesce((SELECT h.generation FROM rating_history h"
        " WHERE h.event_id = domain_ratings.event_id), 1)"
    )
    for table in ("answer_history", "rating_history"):
        db.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
    db.execute(
        """
        CREATE TABLE attribute_history (
            id INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            attribute TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT,
            based_on TEXT,
            generation INTEGER NOT NULL DEFAULT 1,
            changed_by TEXT NOT NULL,
            source TEXT NOT NULL,
            changed_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX attribute_history_case ON attribute_history(case_id, attribute)")
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER attribute_history_no_{verb.lower()} BEFORE {verb} ON attribute_history "
            "BEGIN SELECT RAISE(ABORT, 'attribute_history is append-only'); END"
        )
    # the attributes recorded before this schema: one first event each, with an id every copy derives alike
    rows = []
    for case in db.query("SELECT c.*, r.created_by FROM cases c JOIN rounds r ON r.id = c.round_id"):
        for attribute in ATTRIBUTE_COLUMNS:
            if case[attribute] not in (None, ""):
                rows.append(
                    (
                        _stable_event_id("attribute", case["round_id"], case["case_ref"], attribute, case[attribute]),
                        case["id"],
                        attribute,
                        case[attribute],
                        case["created_by"],
                        case["created_at"],
                    )
                )
    db.conn.executemany(
        "INSERT OR IGNORE INTO attribute_history (event_id, case_id, attribute, old_value, new_value, based_on, generation,"
        " changed_by, source, changed_at) VALUES (?, ?, ?, NULL, ?, NULL, 1, ?, 'recorded before schema 4', ?)",
        rows,
    )
    # round events gain 'renamed'; conflicts gain 'attribute' (SQLite cannot widen a CHECK in place)
    db.execute(
        """
        CREATE TABLE round_events_new (
            event_id TEXT PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            event TEXT NOT NULL CHECK (event IN ('finalised', 'reopened', 'merged', 'renamed')),
            reason TEXT,
            done_by TEXT NOT NULL,
            done_at TEXT NOT NULL
        )"""
    )
    db.execute("INSERT INTO round_events_new SELECT event_id, round_id, event, reason, done_by, done_at FROM round_events")
    db.execute("DROP TABLE round_events")
    db.execute("ALTER TABLE round_events_new RENAME TO round_events")
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER round_events_no_{verb.lower()} BEFORE {verb} ON round_events "
            "BEGIN SELECT RAISE(ABORT, 'round_events is append-only'); END"
        )
    db.execute(
        """
        CREATE TABLE conflicts_new (
            id INTEGER PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            kind TEXT NOT NULL CHECK (kind IN ('answer', 'rating', 'attribute')),
            case_id INTEGER REFERENCES cases(id),
            subject TEXT NOT NULL,
            their_event_id TEXT NOT NULL UNIQUE,
            their_value TEXT,
            their_reason TEXT,
            their_note TEXT,
            their_by TEXT,
            their_at TEXT,
            from_file TEXT NOT NULL,
            found_at TEXT NOT NULL,
            resolved_at TEXT,
            resolved_by TEXT,
            kept TEXT CHECK (kept IN ('ours', 'theirs'))
        )"""
    )
    db.execute("INSERT INTO conflicts_new SELECT * FROM conflicts")
    db.execute("DROP TABLE conflicts")
    db.execute("ALTER TABLE conflicts_new RENAME TO conflicts")
    db.execute("CREATE INDEX conflicts_subject ON conflicts(kind, case_id, subject)")
    # A conflict left open by an older caseaudit showed "ours" in one copy and "theirs" in the other.
    # From now on every copy shows the same value while a conflict is open (the rule in audit.core.events),
    # so such a slot is worked out once by that rule: both values stay listed until someone settles it.
    for (case_id, question_id), entries in answer_graph.items():
        if _heads_text(entries)[0]:
            settle_slots(db, "answer", [(case_id, question_id)], from_file="an older caseaudit's merge")
    for (round_id, standard_id), entries in rating_graph.items():
        if _heads_text(entries)[0]:
            settle_slots(db, "rating", [(round_id, standard_id)], from_file="an older caseaudit's merge")


@migrations()
def m005_moderation(db: sqlite_utils.Database) -> None:
    """Blind second marking: a moderation round names the round it moderates (NULL for every other round)."""
    db.execute("ALTER TABLE rounds ADD COLUMN moderates TEXT REFERENCES rounds(id)")
    db.execute("CREATE INDEX rounds_moderates ON rounds(moderates)")


@migrations()
def m006_sample(db: sqlite_utils.Database) -> None:
    """The sample a case was drawn in: its stratum, its draw order and its sample status (main, reserve,
    swapped in, swapped out), each set by events in attribute_history, which gain a reason (a swap's)."""
    db.execute("ALTER TABLE cases ADD COLUMN stratum TEXT")
    db.execute("ALTER TABLE cases ADD COLUMN draw_order INTEGER")
    db.execute("ALTER TABLE cases ADD COLUMN sample_status TEXT NOT NULL DEFAULT 'main'")
    db.execute("ALTER TABLE attribute_history ADD COLUMN reason TEXT")
    db.execute("CREATE INDEX cases_sample ON cases(round_id, sample_status)")


@migrations()
def m007_removing_cases_and_rounds(db: sqlite_utils.Database) -> None:
    """Tidying a round: a case can be removed from it (its answers kept, out of every figure) and a round
    removed from the list, both reversible and recorded; a round's unit can change.

    Plain columns, for reading with SQL:
    - ``cases.removed``: 'Yes' or 'No', set by events in attribute_history (attribute 'removed', the reason
      in ``reason``), so a removal travels in a merge like a swap;
    - ``rounds.removed_at`` / ``rounds.removed_by``: NULL unless the round is removed (like finalised_at);
    - ``round_events`` gains the events 'removed', 'restored' and 'unit changed', and a ``value`` column
      (the new unit of a 'unit changed' event; NULL for the others)."""
    db.execute("ALTER TABLE cases ADD COLUMN removed TEXT NOT NULL DEFAULT 'No' CHECK (removed IN ('Yes', 'No'))")
    db.execute("ALTER TABLE rounds ADD COLUMN removed_at TEXT")
    db.execute("ALTER TABLE rounds ADD COLUMN removed_by TEXT")
    db.execute(
        """
        CREATE TABLE round_events_new (
            event_id TEXT PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            event TEXT NOT NULL CHECK (event IN ('finalised', 'reopened', 'merged', 'renamed', 'removed', 'restored', 'unit changed')),
            reason TEXT,
            done_by TEXT NOT NULL,
            done_at TEXT NOT NULL,
            value TEXT
        )"""
    )
    db.execute(
        "INSERT INTO round_events_new (event_id, round_id, event, reason, done_by, done_at)"
        " SELECT event_id, round_id, event, reason, done_by, done_at FROM round_events"
    )
    db.execute("DROP TABLE round_events")
    db.execute("ALTER TABLE round_events_new RENAME TO round_events")
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER round_events_no_{verb.lower()} BEFORE {verb} ON round_events "
            "BEGIN SELECT RAISE(ABORT, 'round_events is append-only'); END"
        )


@migrations()
def m008_framework_questions(db: sqlite_utils.Database) -> None:
    """The question texts of every framework version a round uses, copied from its definition, for the
    views that read the database elsewhere (Datasette): answer_sheet, case_progress, notes and
    judgement_checks. The views themselves are created after every migration run (``open_database``)."""
    create_framework_questions_table(db)
    record_round_frameworks(db)


@migrations()
def m009_answer_codes(db: sqlite_utils.Database) -> None:
    """Each case's answers as one string kept by triggers (``audit.store.answer_codes``): the figures of a
    250,000-case round read one row per case instead of 18.5 million answers."""
    create_answer_codes(db)
    fill_answer_codes(db)


SCHEMA_VERSION = len(migrations._migrations)
