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

import contextlib
import datetime as _dt
import errno
import getpass
import os
import sqlite3
import stat
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

import attrs
import sqlite_utils
from sqlite_utils.migrations import Migrations

from framework import Answer, Framework, Rating, UnknownFramework, load_framework
from framework.model import RatingMethod
from framework.rules import advisory_cap, exceeds_cap

from .attributes import ATTRIBUTE_COLUMNS, derived_young_adult
from .errors import (
    CapExceeded,
    CaseauditError,
    DatabaseBusy,
    DatabaseDamaged,
    DatabaseProblem,
    DatabaseReadOnly,
    DiskFull,
    DuplicateCase,
    NoSuchDatabase,
    DuplicateRound,
    FrameworkUnavailable,
    InvalidValue,
    StaleAnswer,
    RoundFinalised,
    UnknownCase,
    UnknownQuestion,
    UnknownRound,
    UnknownStandard,
)

APPLICATION_ID = 0x43415544  # "CAUD": marks a caseaudit database

migrations = Migrations("caseaudit")


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
    import hashlib

    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:32]


@migrations()
def m002_events_finalising_and_merging(db: sqlite_utils.Database) -> None:
    """Stable event ids (so merged copies recognise shared history), round events
    (finalised, reopened with a reason), merge conflicts and per-database settings."""
    for table in ("answer_history", "rating_history"):
        db.execute(f"DROP TRIGGER {table}_no_update")
        db.execute(f"ALTER TABLE {table} ADD COLUMN event_id TEXT")
    for row in list(db.query(
        "SELECT h.id, c.round_id, c.case_ref, h.question_id, h.old_value, h.new_value, h.old_reason, h.new_reason,"
        " h.old_note, h.new_note, h.auditor, h.changed_at FROM answer_history h JOIN cases c ON c.id = h.case_id"
    )):
        event_id = _stable_event_id(*[row[k] for k in row if k != "id"])
        db.execute("UPDATE answer_history SET event_id = ? WHERE id = ?", [event_id, row["id"]])
    for row in list(db.query("SELECT * FROM rating_history")):
        event_id = _stable_event_id(*[row[k] for k in row if k not in ("id", "event_id")])
        db.execute("UPDATE rating_history SET event_id = ? WHERE id = ?", [event_id, row["id"]])
    for table in ("answer_history", "rating_history"):
        db.execute(f"CREATE UNIQUE INDEX {table}_event ON {table}(event_id)")
        db.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
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
    from .events import format_based_on, generations, legacy_parents

    resolved_from = {
        row["id"]: row["their_event_id"]
        for row in db.query("SELECT id, their_event_id FROM conflicts WHERE resolved_at IS NOT NULL")
    }
    slots: dict[tuple, list[dict]] = {}
    for row in db.query(f"SELECT * FROM {table} ORDER BY id"):
        slots.setdefault(tuple(row[k] for k in slot.split(",")), []).append(row)
    updates, graph = [], {}
    for key, rows in slots.items():
        parents = legacy_parents([(r["event_id"], tuple(r[k] for k in old), tuple(r[k] for k in new)) for r in rows])
        based = {}
        for r, p in zip(rows, parents):
            extra = ()
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
    from .events import format_based_on

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
        db, "answer_history", "case_id,question_id",
        ("old_value", "old_reason", "old_note"), ("new_value", "new_reason", "new_note"),
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
        db, "rating_history", "round_id,standard_id", ("old_rating",), ("new_rating",),
    )
    updates = [(_heads_text(entries)[0], round_id, standard_id) for (round_id, standard_id), entries in rating_graph.items()]
    db.conn.executemany("UPDATE domain_ratings SET heads = ? WHERE round_id = ? AND standard_id = ?", updates)
    db.execute(
        "UPDATE domain_ratings SET generation = coalesce((SELECT h.generation FROM rating_history h"
        " WHERE h.event_id = domain_ratings.event_id), 1)"
    )
    for table in ("answer_history", "rating_history"):
        db.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
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
                rows.append((
                    _stable_event_id("attribute", case["round_id"], case["case_ref"], attribute, case[attribute]),
                    case["id"], attribute, case[attribute], case["created_by"], case["created_at"],
                ))
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
    # From now on every copy shows the same value while a conflict is open (the rule in audit.events),
    # so such a slot is worked out once by that rule: both values stay listed until someone settles it.
    store = AuditStore(db)
    for (case_id, question_id), entries in answer_graph.items():
        if _heads_text(entries)[0]:
            store.settle_slot("answer", (case_id, question_id), from_file="an older caseaudit's merge")
    for (round_id, standard_id), entries in rating_graph.items():
        if _heads_text(entries)[0]:
            store.settle_slot("rating", (round_id, standard_id), from_file="an older caseaudit's merge")


SCHEMA_VERSION = len(migrations._migrations)


ANY_STATE = object()  # a write that states its value outright, whatever is stored (the command line)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


MAX_AUDITOR_NAME = 100


def auditor_name(text: str, where: str = "--auditor") -> str:
    """A name for the audit trail: one line of printable characters, trimmed, not blank.

    Raises InvalidValue naming where the name came from: a blank name would be recorded as nobody,
    and a control character could forge lines of the history on a terminal."""
    name = (text or "").strip()
    if not name:
        raise InvalidValue(f"{where}: a name is needed; every change is recorded under it")
    if not name.isprintable():
        raise InvalidValue(f"{where}: a name is one line of ordinary characters (no control characters)")
    if len(name) > MAX_AUDITOR_NAME:
        raise InvalidValue(f"{where}: a name is at most {MAX_AUDITOR_NAME} characters")
    return name


def current_user() -> str:
    """$CASEAUDIT_AUDITOR (checked), else the login name."""
    named = os.environ.get("CASEAUDIT_AUDITOR")
    if named is not None and named.strip():
        return auditor_name(named, "CASEAUDIT_AUDITOR")
    return getpass.getuser()


# ------------------------------------------------------------------ opening
def make_private_folders(folder: Path) -> None:
    """Create ``folder`` and any missing parents owner-only (0700), whatever the umask: a folder
    others could write to would let them swap the database or put links where its files go."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(candidate, 0o700)


def create_private_file(path: Path) -> None:
    """Create an empty file readable and writable by its owner only, whatever the umask."""
    make_private_folders(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _companions(path: Path) -> list[Path]:
    """The database file with its WAL, shared-memory and rollback-journal files."""
    return [path] + [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _make_owner_only(path: Path) -> None:
    """Whatever exists at the database path (and its WAL / SHM) becomes owner-only before any data goes in."""
    for file in _companions(path):
        try:
            mode = file.stat().st_mode
        except FileNotFoundError:
            continue
        except OSError as error:
            raise DatabaseProblem(f"{file}: cannot check its permissions ({error.strerror})") from None
        if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
            try:
                os.chmod(file, 0o600)
            except OSError as error:
                raise DatabaseProblem(f"{file}: cannot make it readable by its owner only ({error.strerror}); nothing was written") from None


# -- faults from SQLite and the file system, each one line naming its cause
def database_error(error: BaseException, path: str | Path | None) -> CaseauditError:
    """Classify an sqlite3 or OS error met while using the database at ``path``."""
    where = f" ({path})" if path is not None else ""
    if isinstance(error, CaseauditError):
        return error
    if isinstance(error, OSError):
        name = error.filename or path
        where = f" ({name})" if name is not None else ""
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return DiskFull(f"the disk is full{where}; nothing acknowledged was lost, free some space and try again")
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return DatabaseReadOnly(f"permission denied or read-only{where}: {error.strerror}")
        return DatabaseProblem(f"cannot use {name if name is not None else 'a file'}: {error.strerror or error}")
    text = str(error).lower()
    if "full" in text:
        return DiskFull(f"the disk is full{where}; nothing acknowledged was lost, free some space and try again")
    if "readonly" in text or "read-only" in text or "read only" in text:
        return DatabaseReadOnly(f"the database cannot be written{where}: the file or its folder is read-only; nothing was changed")
    if "locked" in text or "busy" in text:
        return DatabaseBusy(
            f"the database is locked by another program or auditor{where}; nothing was changed, try again when it is free"
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return DatabaseDamaged(f"the database is damaged{where}: run caseaudit check")
    if "disk i/o" in text and _out_of_space(path):
        return DiskFull(f"the disk is full{where} (or the file-size limit is reached); nothing acknowledged was lost")
    if "disk i/o" in text:
        return DatabaseProblem(f"a disk error occurred reading or writing the database{where} (is the disk full, removed or failing?)")
    if "unable to open" in text:
        return DatabaseProblem(f"cannot open the database{where} (missing folder, permissions or a read-only folder)")
    return DatabaseProblem(f"the database cannot be used{where}: {error}")


def _out_of_space(path: str | Path | None) -> bool:
    """After an I/O error while writing: is the disk (nearly) full, or a file-size limit in force?"""
    import resource

    with contextlib.suppress(OSError, ValueError):
        if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
            return True
    if path is None:
        return False
    folder = Path(path).expanduser().parent
    with contextlib.suppress(OSError):
        info = os.statvfs(folder)
        return info.f_bavail * info.f_frsize < 1 << 20
    return False


def is_damage(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, sqlite3.DatabaseError) and ("malformed" in text or "corrupt" in text)


# -- waiting for a busy database
BUSY_TIMEOUT_MS = 1_000  # per attempt: short, so the wait can be announced and bounded
BUSY_DEADLINE_ENV = "CASEAUDIT_BUSY_SECONDS"
BUSY_DEADLINE_S = 25.0  # in all, never more than 30 s
busy_notice: Any = None  # set by the command line: called once with the most seconds it will wait


def busy_deadline() -> float:
    try:
        return min(max(float(os.environ.get(BUSY_DEADLINE_ENV, BUSY_DEADLINE_S)), 0.0), 30.0)
    except ValueError:
        return BUSY_DEADLINE_S


def _is_busy(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _connection_path(conn: sqlite3.Connection) -> str | None:
    with contextlib.suppress(sqlite3.Error):
        for _, name, file in conn.execute("PRAGMA database_list"):
            if name == "main":
                return file or None
    return None


def _retrying(action, path: Path | sqlite3.Connection | None = None):
    """Run an SQLite call, retrying while another process holds a lock: each attempt waits at
    most BUSY_TIMEOUT_MS, the first wait is announced (once) and the whole wait is bounded."""
    deadline = time.monotonic() + busy_deadline()
    announced = False
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                if isinstance(path, sqlite3.Connection):
                    path = _connection_path(path)
                where = f" ({path})" if path is not None else ""
                raise DatabaseBusy(
                    f"the database stayed busy or locked by another auditor or program for {busy_deadline():.0f} seconds{where};"
                    " nothing was changed, try again"
                ) from None
            if not announced and busy_notice is not None:
                announced = True
                busy_notice(busy_deadline())
            time.sleep(min(delay, max(left, 0)))
            delay = min(delay * 2, 0.25)


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open a database for reading only; never creates anything, and works in a read-only folder
    (USB stick, share) where SQLite cannot create the -shm file: then, if no WAL content is
    waiting, the file is opened as immutable."""
    uri = path.resolve().as_uri()
    conn = None
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _retrying(lambda: conn.execute("SELECT count(*) FROM sqlite_master").fetchone(), path)
        return conn
    except sqlite3.OperationalError as error:
        if conn is not None:
            conn.close()
        wal = path.with_name(path.name + "-wal")
        folder_writable = os.access(path.parent, os.W_OK)
        text = str(error).lower()
        if "unable to open" not in text and "readonly" not in text:
            raise
        if wal.exists() and wal.stat().st_size > 0:
            raise DatabaseReadOnly(
                f"cannot read the database ({path}): its folder is read-only and it has changes still in its WAL file;"
                " copy the folder somewhere writable first"
            ) from None
        if folder_writable and wal.exists():
            raise
    conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)
    return conn


def _inspect_existing(path: Path, *, verify: bool = False) -> int:
    """Check an existing file read-only; return its schema version. Never writes.

    The file is only ever opened through SQLite: a plain open()/close() of a
    database file releases every POSIX lock this process holds on it, and
    another process may then delete a WAL file we are still writing to.
    """
    if not os.access(path, os.R_OK):
        raise DatabaseProblem(f"{path}: cannot read the database file (permission denied)")
    try:
        conn = connect_readonly(path)
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error):
            raise DatabaseProblem(f"{path}: not a caseaudit database (not an SQLite file, or its header is damaged); it was left unchanged") from None
        raise database_error(error, path) from None
    try:
        def read():
            return (
                conn.execute("PRAGMA application_id").fetchone()[0],
                conn.execute("PRAGMA user_version").fetchone()[0],
                {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")},
            )

        application_id, version, tables = _retrying(read, path)
        if verify and _retrying(lambda: [row[0] for row in conn.execute("PRAGMA quick_check(1)")], path) != ["ok"]:
            raise DatabaseDamaged(f"the database is damaged ({path}): run caseaudit check on it; it was left unchanged")
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error):
            raise DatabaseProblem(f"{path}: not a caseaudit database (not an SQLite file, or its header is damaged); it was left unchanged") from None
        if is_damage(error):
            raise DatabaseDamaged(f"the database is damaged ({path}): run caseaudit check; it was left unchanged") from None
        raise database_error(error, path) from None
    finally:
        conn.close()
    if application_id != APPLICATION_ID:
        if application_id == 0 and not tables:
            return 0  # an empty SQLite file: ours to initialise
        raise DatabaseProblem(f"{path}: not a caseaudit database (it holds other tables); it was left unchanged")
    if version > SCHEMA_VERSION:
        raise DatabaseProblem(
            f"{path}: written by a newer caseaudit (schema {version}, this version knows {SCHEMA_VERSION});"
            " upgrade caseaudit to open it; it was left unchanged"
        )
    return version


def open_database(path: str | Path, *, create: bool = True, readonly: bool = False) -> sqlite_utils.Database:
    """Open (creating if allowed) a caseaudit database, migrated to the current schema.

    ``readonly``: open with SQLite's mode=ro and never create or change anything (a missing
    database is refused; an older schema is migrated by a writable open first).
    """
    path = Path(path).expanduser()
    existing_version = 0
    try:
        exists = path.exists()
        if exists and not stat.S_ISREG(path.stat().st_mode):
            raise DatabaseProblem(f"{path}: not a regular file")
        size = path.stat().st_size if exists else 0
    except OSError as error:
        raise database_error(error, path) from None
    if exists and size > 0:
        existing_version = _inspect_existing(path)
    elif not exists:
        if not create or readonly:
            raise NoSuchDatabase(f"no such database ({path}); nothing was created (check --db or $CASEAUDIT_DB)")
        try:
            create_private_file(path)
        except OSError as error:
            raise DatabaseProblem(f"{path}: cannot create the database ({error.strerror})") from None
    if readonly:
        if existing_version == 0:
            raise NoSuchDatabase(f"{path}: an empty file, not yet a caseaudit database; nothing was changed")
        if existing_version < SCHEMA_VERSION:
            open_database(path, create=False).close()  # migrated (with its backup) once, then read
        try:
            db = sqlite_utils.Database(connect_readonly(path))
            db.conn.execute("PRAGMA foreign_keys = ON")
            return db
        except sqlite3.DatabaseError as error:
            raise database_error(error, path) from None
    wal = path.with_name(path.name + "-wal")
    if not os.access(path, os.W_OK) or (not os.access(path.parent, os.W_OK) and not wal.exists()):
        raise DatabaseReadOnly(
            f"the database cannot be written ({path}): the file or its folder is read-only; nothing was changed"
            " (read-only commands such as summary, report and export still work)"
        )
    _make_owner_only(path)  # before anything is written into it (the -wal and -shm follow its mode)
    try:
        db = sqlite_utils.Database(path)
        db.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _retrying(lambda: db.conn.execute("PRAGMA journal_mode = WAL"), path)
        db.conn.execute("PRAGMA synchronous = FULL")
        db.conn.execute("PRAGMA foreign_keys = ON")
        if existing_version != SCHEMA_VERSION:
            with write_lock(db, path):
                # under the write lock: exactly one process writes the backup and migrates; the
                # others wait, then find the version current and nothing pending
                version = db.conn.execute("PRAGMA user_version").fetchone()[0]
                if 0 < version < SCHEMA_VERSION:
                    backup = path.with_name(f"{path.name}.schema{version}-backup")
                    if not backup.exists():
                        # read through a second connection: nobody can write while we hold the lock
                        reader = connect_readonly(path)
                        try:
                            _backup_connection(reader, backup)
                        finally:
                            reader.close()
                if migrations.pending(db) or version != SCHEMA_VERSION:
                    migrations.apply(db)
                    _set_schema_markers(db)
        return db
    except CaseauditError:
        raise
    except sqlite3.DatabaseError as error:
        if is_damage(error):
            raise DatabaseDamaged(f"the database is damaged ({path}): run caseaudit check") from None
        raise database_error(error, path) from None
    except OSError as error:
        raise database_error(error, path) from None


def _backup_connection(source: sqlite3.Connection, target: Path) -> None:
    """Copy an open connection's database to a new owner-only file (removed again on failure)."""
    create_private_file(target)
    try:
        dst = sqlite3.connect(target)
        try:
            source.backup(dst)
        finally:
            dst.close()
        os.chmod(target, 0o600)
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise


def backup_database(source: Path, target: Path, *, fresh: bool = True) -> None:
    """A consistent copy through SQLite's online backup (safe while others write), owner-only.
    Reads a copy in a read-only folder too. ``fresh=False``: ``target`` is an empty owner-only
    file made by the caller (output_file.atomic_path)."""
    if fresh:
        create_private_file(target)
    try:
        src = connect_readonly(Path(source))
        try:
            dst = sqlite3.connect(target)
            try:
                _retrying(lambda: src.backup(dst), Path(source))
            finally:
                dst.close()
        finally:
            src.close()
        os.chmod(target, 0o600)
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise


@contextlib.contextmanager
def write_lock(db: sqlite_utils.Database, path: Path | None = None) -> Iterator[sqlite_utils.Database]:
    """One short write transaction: BEGIN IMMEDIATE (waiting for other writers), then COMMIT.

    Nested sqlite-utils writes inside join this transaction; any exception rolls it all back.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    _retrying(lambda: db.conn.execute("BEGIN IMMEDIATE"), path or db.conn)
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    try:
        _retrying(lambda: db.conn.execute("COMMIT"), path or db.conn)
    except BaseException:
        db.conn.rollback()
        raise


def _set_schema_markers(db: sqlite_utils.Database) -> None:
    db.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


MAX_TEXT = 1_000_000  # characters in a note or reason: what a case sheet's cell may hold (sheets.CELL_CHARACTERS)


def _check_text_length(text: str | None, what: str) -> None:
    """A note or reason longer than a case sheet can carry would export but never import back."""
    if text is not None and len(text) > MAX_TEXT:
        raise InvalidValue(f"a {what} holds at most {MAX_TEXT:,} characters (this one has {len(text):,})")


# ------------------------------------------------------------------ answer text
_YES = {"y", "yes"}
_NO = {"n", "no"}
_NOT_APPLICABLE = {"na", "n/a", "n.a.", "not applicable", "not required", "nr", "x"}


def parse_answer_text(text: str | None) -> tuple[Answer | None, str | None]:
    """'Yes' / 'y' / 'No' / 'N/A' / 'N/A: no PSR prepared' / '' -> (answer, reason).

    Blank means unanswered. Raises InvalidValue naming what is accepted.
    """
    raw = (text or "").strip()
    if not raw:
        return None, None
    head, _, reason = raw.partition(":")
    word = head.strip().lower()
    if word in _YES and not reason:
        return Answer.YES, None
    if word in _NO and not reason:
        return Answer.NO, None
    if word in _NOT_APPLICABLE:
        return Answer.NOT_APPLICABLE, (reason.strip() or None)
    raise InvalidValue(f"{raw!r} is not an answer (use Yes, No, N/A or N/A: reason; blank for unanswered)")


def format_answer_text(value: str | None, reason: str | None) -> str:
    if value is None:
        return ""
    if value == Answer.NOT_APPLICABLE:
        return f"N/A: {reason}" if reason else "N/A"
    return value


def parse_rating(text: str) -> Rating:
    import difflib

    for rating in Rating:
        if text.strip().lower() == rating.value.lower():
            return rating
    words = [r.value for r in Rating]
    close = difflib.get_close_matches(text.strip(), words, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InvalidValue(f"{text!r} is not a rating; use one of: {', '.join(words)}.{hint}")


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
    def open(cls, path: str | Path, *, create: bool = True, readonly: bool = False) -> "AuditStore":
        """``readonly``: SQLite mode=ro, nothing created or changed (a missing database is refused)."""
        path = Path(path).expanduser()
        return cls(open_database(path, create=create, readonly=readonly), path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "AuditStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> dict | None:
        return next(iter(self.db.query(sql, list(params))), None)

    # -- rounds ----------------------------------------------------------
    def framework_for(self, round_row: dict) -> Framework:
        """The round's pinned framework version; FrameworkUnavailable (one clear line) if this build lacks it."""
        key = (round_row["framework_id"], round_row["framework_version"])
        if key not in self._frameworks:
            try:
                self._frameworks[key] = load_framework(*key)
            except UnknownFramework:
                raise FrameworkUnavailable(
                    f"round {round_row['name']!r} is pinned to framework {key[0]} version {key[1]}, which this caseaudit "
                    "does not have; add its definition with 'caseaudit frameworks add FILE.toml' (or use the caseaudit that wrote it)"
                ) from None
        return self._frameworks[key]

    round_framework = framework_for  # the name the screens use when opening a round

    def create_round(self, name: str, unit: str, framework_id: str, version: str | None = None, *, created_by: str | None = None) -> dict:
        name, unit = name.strip(), unit.strip()
        if not name:
            raise InvalidValue("a round needs a name")
        if not unit:
            raise InvalidValue("a round needs a unit (the PDU's name, as reports print it)")
        framework = load_framework(framework_id, version)
        row = {
            "id": uuid.uuid4().hex,
            "name": name,
            "unit": unit,
            "framework_id": framework.id,
            "framework_version": framework.version,
            "created_at": now(),
            "created_by": created_by or current_user(),
            "finalised_at": None,
            "finalised_by": None,
        }
        with write_lock(self.db):
            if self._one("SELECT id FROM rounds WHERE name = ?", [name]):
                raise DuplicateRound(f"a round called {name!r} already exists")
            self.db["rounds"].insert(row)
        return row

    def round(self, name: str) -> dict:
        row = self._one("SELECT * FROM rounds WHERE name = ?", [name])
        if row is None:
            names = [r["name"] for r in self.db.query("SELECT name FROM rounds ORDER BY created_at")]
            known = ", ".join(repr(n) for n in names) if names else "none yet (try 'caseaudit demo' or 'caseaudit import')"
            raise UnknownRound(f"no round called {name!r}; rounds: {known}")
        return row

    def round_by_id(self, round_id: str) -> dict:
        row = self._one("SELECT * FROM rounds WHERE id = ?", [round_id])
        if row is None:
            raise UnknownRound(f"no round with id {round_id!r}")
        return row

    def rename_round(self, name: str, new_name: str, *, by: str | None = None) -> None:
        """Rename a round (recorded as a round event); a finalised round keeps its name."""
        new_name = new_name.strip()
        if not new_name:
            raise InvalidValue("a round needs a name")
        with write_lock(self.db):
            row = self.round(name)
            self.check_writable(row)
            if new_name == row["name"]:
                return
            if self._one("SELECT id FROM rounds WHERE name = ?", [new_name]):
                raise DuplicateRound(f"a round called {new_name!r} already exists")
            self.db.execute("UPDATE rounds SET name = ? WHERE id = ?", [new_name, row["id"]])
            self._round_event(row, "renamed", f"{row['name']} -> {new_name}", by)

    def rounds(self) -> list[dict]:
        """Every round with its case count and progress (answered / expected answers)."""
        result = []
        for row in self.db.query(
            """
            SELECT r.*,
                   (SELECT count(*) FROM cases c WHERE c.round_id = r.id) AS cases,
                   (SELECT count(*) FROM answers a WHERE a.round_id = r.id AND a.value IS NOT NULL) AS answered
            FROM rounds r ORDER BY r.created_at, r.name
            """
        ):
            try:
                framework = self.framework_for(row)
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

    def check_writable(self, round_row: dict) -> None:
        if round_row.get("finalised_at"):
            raise RoundFinalised(
                f"round {round_row['name']!r} was finalised on {round_row['finalised_at'][:10]} by "
                f"{round_row['finalised_by']}; reopen it with a reason before changing it"
            )

    # -- cases -----------------------------------------------------------
    def case(self, round_row: dict, case_ref: str) -> dict:
        row = self._one("SELECT * FROM cases WHERE round_id = ? AND case_ref = ?", [round_row["id"], case_ref.strip().upper()])
        if row is None:
            raise UnknownCase(f"no case {case_ref!r} in round {round_row['name']!r}")
        return row

    def upsert_case(self, round_row: dict, case_ref: str, attributes: dict[str, str | None], *,
                    changed_by: str | None = None, source: str = "cli", must_be_new: bool = False) -> int:
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
            current_round = self.round_by_id(round_row["id"])  # asked inside the write: finalising cannot slip between
            self.check_writable(current_round)
            existing = self._one("SELECT * FROM cases WHERE round_id = ? AND case_ref = ?", [round_row["id"], ref])
            values = {k: v for k, v in attributes.items() if v not in (None, "")}
            if existing is not None and must_be_new:
                raise DuplicateCase(f"case {ref} is already in round {current_round['name']!r} (added {existing['created_at'][:16]})")
            if existing is None:
                merged = {c: values.get(c) for c in ATTRIBUTE_COLUMNS}
                merged["young_adult"] = derived_young_adult(merged.get("age"), merged.get("young_adult"))
                record = {"round_id": round_row["id"], "case_ref": ref, **{c: None for c in ATTRIBUTE_COLUMNS}, "created_at": now()}
                case_id = self.db["cases"].insert(record).last_pk
                self._write_attributes(case_id, {c: v for c, v in merged.items() if v not in (None, "")}, by, source, new_case=True)
                return case_id
            if values:
                merged = {**{c: existing[c] for c in ATTRIBUTE_COLUMNS}, **values}
                rederived = "age" in values and "young_adult" not in values and merged["age"] != existing["age"]
                if rederived:
                    merged["young_adult"] = derived_young_adult(merged.get("age"), None)
                # a changed age re-derives the young-adult flag as an event even when the flag stays the same:
                # merged with another copy's age change, the flag then follows the age shown (or is a conflict)
                changes = {c: merged[c] for c in ATTRIBUTE_COLUMNS if merged[c] != existing[c] or (rederived and c == "young_adult")}
                self._write_attributes(existing["id"], changes, by, source)
            return existing["id"]

    def _write_attributes(self, case_id: int, changes: dict[str, str | None], by: str, source: str, *, new_case: bool = False) -> None:
        """Within a write: set case attributes, each change an event based on the value shown."""
        from .events import format_based_on, heads, next_generation

        if not changes:
            return
        current = self._one("SELECT * FROM cases WHERE id = ?", [case_id])
        rows, unsettled = [], []
        for attribute, value in changes.items():
            old = current[attribute]
            events = [] if new_case else self.slot_events("attribute", (case_id, attribute))  # a case just added has no history
            head_events = heads(events)
            agreeing = [h for h in head_events if h.state == (old,)]
            if len(agreeing) < len(head_events):
                unsettled.append(attribute)
            rows.append({
                "event_id": uuid.uuid4().hex, "case_id": case_id, "attribute": attribute, "old_value": old, "new_value": value,
                "based_on": format_based_on(h.event_id for h in agreeing), "generation": next_generation(agreeing),
                "changed_by": by, "source": source, "changed_at": now(),
            })
        self.db["attribute_history"].insert_all(rows)
        self.db["cases"].update(case_id, changes)
        for attribute in unsettled:  # an open conflict on this attribute: the new value may now agree with the other side
            self.settle_slot("attribute", (case_id, attribute))

    def cases(self, round_row: dict) -> list[dict]:
        """Cases of a round with their answered-question count, in case-reference order."""
        framework = self.framework_for(round_row)
        return list(
            self.db.query(
                """
                SELECT c.*, count(a.question_id) AS answered, ? AS questions
                FROM cases c LEFT JOIN answers a ON a.case_id = c.id AND a.value IS NOT NULL
                WHERE c.round_id = ? GROUP BY c.id ORDER BY c.case_ref
                """,
                [len(framework.question_ids), round_row["id"]],
            )
        )

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
        round_row: dict,
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
    ) -> bool:
        """Commit one answer (None clears it). Returns True when something changed.

        ``keep_note``: when ``note`` is None, keep the existing note.
        ``based_on``: the answer's event id as the person saw it (None: they saw no answer).
        When given, the answer is written only if it is still that one; otherwise StaleAnswer
        says what is there now and nothing is written (compare-and-set). The command line
        states its value outright and leaves it out (last writer wins, recorded as 'cli').
        """
        framework = self.framework_for(round_row)
        if not framework.has_question(question_id):
            raise UnknownQuestion(f"{question_id!r} is not a question of {framework.id} version {framework.version}")
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
        with write_lock(self.db):
            current_round = self.round_by_id(round_row["id"])
            self.check_writable(current_round)
            case = self.case(current_round, case_ref)
            return self._write_answer(case["id"], question_id, value, reason, note, keep_note, auditor or current_user(), source,
                                      based_on=based_on)

    def record_note(self, round_row: dict, case_ref: str, question_id: str, note: str | None, *, auditor: str | None = None,
                    source: str = "cli", based_on: object = ANY_STATE) -> bool:
        """Change only the note on an answer: the answer itself is left exactly as it is stored."""
        _check_text_length(note, "note")
        framework = self.framework_for(round_row)
        if not framework.has_question(question_id):
            raise UnknownQuestion(f"{question_id!r} is not a question of {framework.id} version {framework.version}")
        with write_lock(self.db):
            current_round = self.round_by_id(round_row["id"])
            self.check_writable(current_round)
            case = self.case(current_round, case_ref)
            current = self._one("SELECT * FROM answers WHERE case_id = ? AND question_id = ?", [case["id"], question_id]) or {}
            value = Answer(current["value"]) if current.get("value") else None
            return self._write_answer(case["id"], question_id, value, current.get("reason"), (note or "").strip() or "", False,
                                      auditor or current_user(), source, based_on=based_on)

    def _check_based_on(self, current: dict | None, based_on: object, what: str) -> None:
        if based_on is ANY_STATE:
            return
        seen = current.get("event_id") if current else None
        if seen != based_on:
            who = current.get("auditor") or current.get("rater") if current else None
            raise StaleAnswer(
                f"{what} was changed by {who or 'someone else'} since this screen showed it; nothing was saved", current
            )

    def _parents_of(self, current: dict | None, history: str, state_columns: tuple[str, ...], shown_state: tuple) -> tuple[tuple[str, ...], int, list[str]]:
        """What a new event on this slot is based on: the shown answer and every head agreeing with it.

        Returns (based_on, generation, the other heads, which stay open conflicts)."""
        if not current or not current.get("event_id"):
            return (), 1, []
        if not current.get("heads"):
            return (current["event_id"],), (current.get("generation") or 1) + 1, []
        ids = current["heads"].split()
        marks = ", ".join("?" for _ in ids)
        rows = list(self.db.query(f"SELECT event_id, generation, {', '.join(state_columns)} FROM {history} WHERE event_id IN ({marks})", ids))
        agree = [r for r in rows if tuple(r[c] for c in state_columns) == shown_state]
        others = [r["event_id"] for r in rows if r not in agree]
        if not agree:
            agree = [{"event_id": current["event_id"], "generation": current.get("generation") or 1}]
        return tuple(sorted(r["event_id"] for r in agree)), 1 + max(r["generation"] or 1 for r in agree), others

    def _write_answer(self, case_id: int, question_id: str, value, reason, note, keep_note, auditor: str, source: str,
                      *, based_on: object = ANY_STATE) -> bool:
        from .events import format_based_on

        current = self._one("SELECT * FROM answers WHERE case_id = ? AND question_id = ?", [case_id, question_id])
        self._check_based_on(current, based_on, f"question {question_id}")
        old_value = current["value"] if current else None
        old_reason = current["reason"] if current else None
        old_note = current["note"] if current else None
        if note is None and keep_note:
            note = old_note
        note = (note or "").strip() or None
        new_value = value.value if value is not None else None
        if (old_value, old_reason, old_note) == (new_value, reason, note):
            return False
        parents, generation, other_heads = self._parents_of(
            current, "answer_history", ("new_value", "new_reason", "new_note"), (old_value, old_reason, old_note)
        )
        stamp = now()
        event_id = uuid.uuid4().hex
        self.db["answer_history"].insert(
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

    def write_answers_in_bulk(self, case_id: int, answers: dict[str, tuple[Answer, str | None]], auditor: str, source: str) -> int:
        """Within an open write_lock: set several answers of one case. Returns how many changed."""
        return sum(
            self._write_answer(case_id, qid, value, reason, None, True, auditor, source)
            for qid, (value, reason) in answers.items()
        )

    def na_reasons(self, round_row: dict, limit: int = 20) -> list[str]:
        """Not-applicable reasons used before in this round, most used first."""
        return [
            row["reason"]
            for row in self.db.query(
                """
                SELECT a.reason, count(*) AS n FROM answers a
                WHERE a.round_id = ? AND a.value = 'Not applicable' AND a.reason IS NOT NULL
                GROUP BY a.reason ORDER BY n DESC, a.reason LIMIT ?
                """,
                [round_row["id"], limit],
            )
        ]

    # -- aggregation -----------------------------------------------------
    def answer_counts(self, round_row: dict, where: str = "", params: Iterable[Any] = ()) -> dict[str, dict]:
        """Grouped counts per question: {question_id: {yes, no, not_applicable}} (SQL, not Python loops).

        A whole round is counted from the (round, question, value) index alone; a cohort
        (``where``, a SQL filter on the cases ``c``) joins its cases.
        """
        if where:
            sql = f"""
                SELECT a.question_id, sum(a.value = 'Yes') AS yes, sum(a.value = 'No') AS no,
                       sum(a.value = 'Not applicable') AS not_applicable
                FROM answers a JOIN cases c ON c.id = a.case_id
                WHERE a.round_id = ? AND a.value IS NOT NULL AND {where}
                GROUP BY a.question_id
            """
        else:
            # counted in the index's own order: (round, question, value) ranges, no sort, no table access
            counts: dict[str, dict] = {}
            for row in self.db.query(
                "SELECT question_id, value, count(*) AS n FROM answers WHERE round_id = ? AND value IS NOT NULL"
                " GROUP BY question_id, value",
                [round_row["id"]],
            ):
                entry = counts.setdefault(row["question_id"], {"question_id": row["question_id"], "yes": 0, "no": 0, "not_applicable": 0})
                entry[{"Yes": "yes", "No": "no", "Not applicable": "not_applicable"}[row["value"]]] = row["n"]
            return counts
        return {row["question_id"]: row for row in self.db.query(sql, [round_row["id"], *params])}

    def case_totals(self, round_row: dict, where: str = "", params: Iterable[Any] = ()) -> tuple[int, int]:
        """(cases, incomplete cases), optionally of the cases matching a SQL filter on ``c``.

        A case is incomplete until every question of its framework has an answer.
        """
        framework = self.framework_for(round_row)
        filter_sql = f"AND {where}" if where else ""
        # Each case counts its own answers (a short range of the case-ordered table): no sort of
        # every answer. Stored question ids are always the framework's (checked on every write and
        # by `caseaudit check`), so the count is of the framework's questions.
        row = self._one(
            f"""
            SELECT count(*) AS cases, coalesce(sum((
                SELECT count(*) FROM answers a WHERE a.case_id = c.id AND a.value IS NOT NULL
            ) < ?), 0) AS incomplete
            FROM cases c WHERE c.round_id = ? {filter_sql}
            """,
            [len(framework.question_ids), round_row["id"], *params],
        )
        return row["cases"], row["incomplete"]

    # -- domain-1 ratings --------------------------------------------------
    def domain_ratings(self, round_row: dict) -> dict[str, dict]:
        return {row["standard_id"]: row for row in self.db.query("SELECT * FROM domain_ratings WHERE round_id = ?", [round_row["id"]])}

    def rate_standard(
        self,
        round_row: dict,
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
        if exceeds_cap(framework, rating, cap) and not override_reason:
            raise CapExceeded(
                f"{standard_id} {standard.name}: '{rating}' is above the advisory cap '{cap.cap}' "
                f"(rule {cap.rule.id}: {cap.rule.guidance}); give the override reason with --reason"
            )
        row = {
            "round_id": round_row["id"],
            "standard_id": standard_id,
            "rating": rating.value,
            "evidence": (evidence or "").strip() or None,
            "override_reason": override_reason if exceeds_cap(framework, rating, cap) else None,
            "rater": rater or current_user(),
            "rated_at": now(),
            "event_id": uuid.uuid4().hex,
        }
        from .events import format_based_on

        with write_lock(self.db):
            self.check_writable(self.round_by_id(round_row["id"]))
            old = self._one("SELECT * FROM domain_ratings WHERE round_id = ? AND standard_id = ?", [round_row["id"], standard_id])
            self._check_based_on(old, based_on, f"the rating of {standard_id}")
            parents, generation, other_heads = self._parents_of(
                old, "rating_history", ("new_rating", "override_reason", "evidence"),
                (old["rating"], old["override_reason"], old["evidence"]) if old else (None, None, None),
            )
            row["generation"] = generation
            row["heads"] = format_based_on([row["event_id"], *other_heads]) if other_heads else None
            self.db["domain_ratings"].upsert(row, pk=("round_id", "standard_id"))
            self.db["rating_history"].insert(
                {
                    "round_id": round_row["id"],
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
                self.settle_slot("rating", (round_row["id"], standard_id))
        return row

    # -- finalising ----------------------------------------------------------
    def _round_event(self, round_row: dict, event: str, reason: str | None, by: str | None) -> dict:
        row = {
            "event_id": uuid.uuid4().hex,
            "round_id": round_row["id"],
            "event": event,
            "reason": reason,
            "done_by": by or current_user(),
            "done_at": now(),
        }
        self.db["round_events"].insert(row)
        return row

    def finalise_round(self, name: str, *, by: str | None = None) -> dict:
        """Lock a round: every later change is refused until it is reopened with a reason."""
        with write_lock(self.db):
            round_row = self.round(name)
            self.check_writable(round_row)
            event = self._round_event(round_row, "finalised", None, by)
            self.db.execute(
                "UPDATE rounds SET finalised_at = ?, finalised_by = ? WHERE id = ?",
                [event["done_at"], event["done_by"], round_row["id"]],
            )
        return self.round(name)

    def reopen_round(self, name: str, reason: str, *, by: str | None = None) -> dict:
        reason = (reason or "").strip()
        if not reason:
            raise InvalidValue("reopening a finalised round needs a reason (--reason), which is recorded")
        with write_lock(self.db):
            round_row = self.round(name)
            if not round_row["finalised_at"]:
                raise InvalidValue(f"round {name!r} is not finalised; there is nothing to reopen")
            self._round_event(round_row, "reopened", reason, by)
            self.db.execute("UPDATE rounds SET finalised_at = NULL, finalised_by = NULL WHERE id = ?", [round_row["id"]])
        return self.round(name)

    def round_events(self, round_row: dict) -> list[dict]:
        return list(self.db.query("SELECT * FROM round_events WHERE round_id = ? ORDER BY done_at, event_id", [round_row["id"]]))

    # -- history -------------------------------------------------------------
    def answer_history(self, round_row: dict, case_ref: str | None = None) -> list[dict]:
        """Who changed which answer when, old -> new, oldest first."""
        where, params = "c.round_id = ?", [round_row["id"]]
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

    def attribute_history(self, round_row: dict, case_ref: str | None = None) -> list[dict]:
        """Who changed which case attribute when, old -> new, oldest first."""
        where, params = "c.round_id = ?", [round_row["id"]]
        if case_ref is not None:
            where, params = "h.case_id = ?", [self.case(round_row, case_ref)["id"]]
        return list(self.db.query(
            f"SELECT h.*, c.case_ref FROM attribute_history h JOIN cases c ON c.id = h.case_id WHERE {where}"
            " ORDER BY h.changed_at, h.id", params,
        ))

    def rating_history(self, round_row: dict) -> list[dict]:
        return list(self.db.query("SELECT * FROM rating_history WHERE round_id = ? ORDER BY changed_at, id", [round_row["id"]]))

    # -- merge conflicts ---------------------------------------------------------
    def conflicts(self, round_row: dict, *, open_only: bool = True, case_id: int | None = None) -> list[dict]:
        """Answers, case attributes and domain-1 ratings on which merged copies disagree, with the value shown here."""
        filters = ["k.round_id = ?"]
        params: list[Any] = [round_row["id"]]
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
                WHERE {' AND '.join(filters)}
                ORDER BY c.case_ref, k.subject, k.id
                """,
                params,
            )
        )
        for row in rows:
            if row["kind"] == "attribute" and row["subject"] in ATTRIBUTE_COLUMNS:
                case = self._one(f"SELECT {row['subject']} AS value FROM cases WHERE id = ?", [row["case_id"]]) or {}
                row["our_value"] = case.get("value")
        return rows

    def resolve_conflict(self, round_row: dict, conflict_id: int, keep: str, *, by: str | None = None) -> dict:
        """Settle a merge conflict by keeping our value or taking theirs.

        The decision is an event based on every competing value, so it travels to other
        copies with the history and settles the conflict there too."""
        if keep not in ("ours", "theirs"):
            raise InvalidValue(f"{keep!r}: keep 'ours' (the value in this database) or 'theirs' (the merged copy's)")
        by = by or current_user()
        with write_lock(self.db):
            self.check_writable(self.round_by_id(round_row["id"]))
            conflict = self._one("SELECT * FROM conflicts WHERE id = ? AND round_id = ?", [conflict_id, round_row["id"]])
            if conflict is None:
                raise InvalidValue(f"no conflict {conflict_id} in round {round_row['name']!r} (see 'caseaudit conflicts')")
            if conflict["resolved_at"]:
                raise InvalidValue(
                    f"conflict {conflict_id} was already resolved by {conflict['resolved_by']} (kept {conflict['kept']})"
                )
            kind = SLOT_KINDS[conflict["kind"]]
            key = (conflict["round_id"] if conflict["kind"] == "rating" else conflict["case_id"], conflict["subject"])
            events = self.slot_events(conflict["kind"], key)
            from .events import format_based_on, heads, next_generation

            all_heads = heads(events)
            top = all_heads[0]
            theirs = next((e for e in events if e.event_id == conflict["their_event_id"]), None)
            chosen = theirs.state if keep == "theirs" and theirs is not None else top.state
            # settles this conflict only: based on the value shown and the one this conflict lists (and any
            # head agreeing with either); a third value, listed as another conflict, stays open
            settled_states = {top.state, theirs.state if theirs is not None else top.state}
            competing = [h for h in all_heads if h.state in settled_states]
            source = f"conflict {conflict_id} resolved: kept {keep} (merged from {conflict['from_file']})"
            row = {
                "event_id": uuid.uuid4().hex,
                kind.key[0]: key[0],
                kind.key[1]: key[1],
                "based_on": format_based_on(e.event_id for e in competing),
                "generation": next_generation(competing),
                kind.by: by,
                "changed_at": now(),
            }
            row.update(zip(kind.state, chosen))
            if conflict["kind"] == "answer":
                row.update({"old_value": top.state[0], "old_reason": top.state[1], "old_note": top.state[2], "source": source})
            elif conflict["kind"] == "rating":
                row["old_rating"] = top.state[0]
            else:
                row.update({"old_value": top.state[0], "source": source})
            self.db[kind.history].insert(row)
            self.settle_slot(conflict["kind"], key, from_file=conflict["from_file"])
            return self._one("SELECT * FROM conflicts WHERE id = ?", [conflict_id])

    # -- converging copies -------------------------------------------------------
    def slot_events(self, kind_name: str, key: tuple) -> list:
        """Every event of one answer / rating / attribute, as the convergence rules see them."""
        from .events import SlotEvent, parse_based_on

        kind = SLOT_KINDS[kind_name]
        return [
            SlotEvent(event_id=r["event_id"], based_on=parse_based_on(r["based_on"]), generation=r["generation"] or 1,
                      changed_at=r["changed_at"], state=tuple(r[c] for c in kind.state), by=r[kind.by])
            for r in self.db.query(
                f"SELECT * FROM {kind.history} WHERE {kind.key[0]} = ? AND {kind.key[1]} = ?", list(key)
            )
        ]

    def settle_slot(self, kind_name: str, key: tuple, *, from_file: str = "this database") -> "SettleOutcome":
        """Within a write: make the current value and the open conflicts of one slot what its events say."""
        return self.settle_slots(kind_name, [key], from_file=from_file)

    def settle_slots(self, kind_name: str, keys: Iterable[tuple], *, from_file: str = "this database") -> "SettleOutcome":
        """Within a write: make the current values and open conflicts of these slots what their events say.

        Reads each kind of row once per 500 cases (or rounds), works every slot out in Python by the
        rules in ``audit.events`` and writes back only the slots whose current value moved."""
        from .events import SlotEvent, format_based_on, heads, open_conflicts, parse_based_on, superseded_by

        kind = SLOT_KINDS[kind_name]
        keys = set(keys)
        if not keys:
            return SettleOutcome()
        owners = sorted({k[0] for k in keys}, key=str)
        chunks = [owners[i:i + 500] for i in range(0, len(owners), 500)]
        events: dict[tuple, list[SlotEvent]] = {}
        current: dict[tuple, tuple] = {}
        round_of: dict[Any, str] = {}
        conflict_rows: dict[tuple, list[dict]] = {}
        columns = ", ".join(("event_id", "based_on", "generation", "changed_at", kind.by, *kind.state, *kind.key))
        for chunk in chunks:
            marks = ", ".join("?" for _ in chunk)
            for r in self.db.conn.execute(f"SELECT {columns} FROM {kind.history} WHERE {kind.key[0]} IN ({marks})", chunk):
                slot = (r[-2], r[-1])
                if slot in keys:
                    events.setdefault(slot, []).append(SlotEvent(
                        event_id=r[0], based_on=parse_based_on(r[1]), generation=r[2] or 1, changed_at=r[3], by=r[4],
                        state=tuple(r[5:5 + len(kind.state)])))
            if kind_name == "answer":
                for r in self.db.conn.execute(
                    f"SELECT case_id, question_id, value, reason, note, event_id, heads, generation FROM answers WHERE case_id IN ({marks})", chunk
                ):
                    current[(r[0], r[1])] = (tuple(r[2:5]), r[5], r[6], r[7])
            elif kind_name == "rating":
                for r in self.db.conn.execute(
                    "SELECT round_id, standard_id, rating, override_reason, evidence, event_id, heads, generation"
                    f" FROM domain_ratings WHERE round_id IN ({marks})", chunk
                ):
                    current[(r[0], r[1])] = (tuple(r[2:5]), r[5], r[6], r[7])
            else:
                for case in self.db.query(f"SELECT * FROM cases WHERE id IN ({marks})", chunk):
                    for attribute in ATTRIBUTE_COLUMNS:
                        current[(case["id"], attribute)] = ((case[attribute],), None, None, None)
            if kind_name == "rating":
                round_of.update({r: r for r in chunk})
            else:
                round_of.update(dict(self.db.conn.execute(f"SELECT id, round_id FROM cases WHERE id IN ({marks})", chunk).fetchall()))
            owner_column = "round_id" if kind_name == "rating" else "case_id"
            for row in self.db.query(f"SELECT * FROM conflicts WHERE kind = ? AND {owner_column} IN ({marks})", [kind_name, *chunk]):
                conflict_rows.setdefault((row[owner_column], row["subject"]), []).append(row)

        changed = opened = settled = 0
        answer_writes, rating_writes, attribute_writes = [], [], {}
        for slot in keys:
            head_events = heads(events.get(slot, ()))
            if not head_events:
                continue
            top = head_events[0]
            heads_text = format_based_on(h.event_id for h in head_events) if len(head_events) > 1 else None
            before = current.get(slot)
            if kind_name == "attribute":
                if slot[1] not in ATTRIBUTE_COLUMNS:
                    raise InvalidValue(f"{slot[1]!r} is not a case attribute")
                if before is None or before[0] != top.state:
                    attribute_writes.setdefault(slot[1], []).append((top.state[0], slot[0]))
                    changed += 1
            elif before != (top.state, top.event_id, heads_text, top.generation):
                changed += before is None or before[0] != top.state
                row = (*slot, *top.state, top.by, top.changed_at, top.event_id, heads_text, top.generation)
                (answer_writes if kind_name == "answer" else rating_writes).append(
                    (slot[0], slot[1], round_of[slot[0]], *row[2:]) if kind_name == "answer" else row)
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
                        self.db.execute(
                            "UPDATE conflicts SET their_event_id = ?, their_value = ?, their_reason = ?, their_note = ?,"
                            " their_by = ?, their_at = ? WHERE id = ?",
                            [head.event_id, *state, head.by, head.changed_at, row["id"]],
                        )
                        by_event[head.event_id] = row
                        continue
                    # both sides now give the same value (someone answered with theirs): settled by agreement
                    settled += 1
                    self.db.execute(
                        "UPDATE conflicts SET resolved_at = ?, resolved_by = ?, kept = 'theirs' WHERE id = ?",
                        [top.changed_at, top.by, row["id"]],
                    )
                    continue
                settled += 1
                settler = superseded_by(row["their_event_id"], events.get(slot, ()))
                self.db.execute(
                    "UPDATE conflicts SET resolved_at = ?, resolved_by = ?, kept = ? WHERE id = ?",
                    [settler.changed_at if settler else now(), settler.by if settler else "merge",
                     "theirs" if settler and settler.state == their_state else "ours", row["id"]],
                )
            for event_id, head in wanted.items():
                existing = by_event.get(event_id)
                if existing is not None:
                    if existing["resolved_at"]:
                        self.db.execute("UPDATE conflicts SET resolved_at = NULL, resolved_by = NULL, kept = NULL WHERE id = ?", [existing["id"]])
                        opened += 1
                    continue
                opened += 1
                state = (*head.state, None, None)[:3]
                self.db.execute(
                    """
                    INSERT INTO conflicts (round_id, kind, case_id, subject, their_event_id, their_value, their_reason, their_note,
                        their_by, their_at, from_file, found_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [round_of[slot[0]], kind_name, None if kind_name == "rating" else slot[0], slot[1], event_id, *state,
                     head.by, head.changed_at, from_file, now()],
                )
        if answer_writes:
            self.db.conn.executemany(
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
            self.db.conn.executemany(
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
            self.db.conn.executemany(f"UPDATE cases SET {attribute} = ? WHERE id = ?", writes)
        return SettleOutcome(changed=changed, opened=opened, settled=settled)

    # -- settings ------------------------------------------------------------
    def deidentify_salt(self) -> str:
        """This database's secret salt for de-identified exports: created once, so hashes stay stable."""
        row = self._one("SELECT value FROM settings WHERE key = 'deidentify_salt'")
        if row:
            return row["value"]
        import secrets

        with write_lock(self.db):
            self.db.execute("INSERT OR IGNORE INTO settings (key, value) VALUES ('deidentify_salt', ?)", [secrets.token_hex(16)])
        return self._one("SELECT value FROM settings WHERE key = 'deidentify_salt'")["value"]

    # -- integrity -------------------------------------------------------------
    def verify_intact(self) -> None:
        """SQLite's quick check (every page read once): damage anywhere is refused, never summarised silently."""
        try:
            result = [row[0] for row in self.db.conn.execute("PRAGMA quick_check(1)")]
        except sqlite3.DatabaseError as error:
            if is_damage(error):
                result = [str(error)]
            else:
                raise
        if result != ["ok"]:
            raise DatabaseDamaged(f"the database is damaged ({self.path}): run caseaudit check")

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
            problems.append(f"damage: the remaining checks could not read the file ({error}); restore a backup or merge a sound copy")
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
        for round_row in self.db.query("SELECT * FROM rounds ORDER BY name"):
            try:
                framework = self.framework_for(round_row)
            except Exception as error:  # a definition this version does not ship
                problems.append(f"round {round_row['name']!r}: its framework cannot be loaded ({error})")
                continue
            known = set(framework.question_ids)
            for row in self.db.query(
                """
                SELECT c.case_ref, a.question_id, a.value, a.reason FROM answers a JOIN cases c ON c.id = a.case_id
                WHERE c.round_id = ? ORDER BY c.case_ref, a.question_id
                """,
                [round_row["id"]],
            ):
                where = f"round {round_row['name']!r}, case {row['case_ref']}, question {row['question_id']}"
                if row["question_id"] not in known:
                    problems.append(f"{where}: not a question of {framework.id} version {framework.version}")
                if row["value"] is not None and row["value"] not in {a.value for a in Answer}:
                    problems.append(f"{where}: {row['value']!r} is not an answer")
                if row["reason"] is not None and row["value"] != Answer.NOT_APPLICABLE:
                    problems.append(f"{where}: has a not-applicable reason but the answer is {row['value']!r}")
            judged = {s.id for s in framework.standards if s.method is RatingMethod.JUDGEMENT}
            for row in self.db.query("SELECT * FROM domain_ratings WHERE round_id = ?", [round_row["id"]]):
                where = f"round {round_row['name']!r}, standard {row['standard_id']}"
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
