"""Opening a caseaudit database safely: checks before any write, owner-only files, bounded waits for the
write lock, and SQLite's failures turned into one clear line each."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import (
    CaseauditError,
    DatabaseBusy,
    DatabaseDamaged,
    DatabaseProblem,
    DatabaseReadOnly,
    DiskFull,
    InvalidValue,
    NoSuchDatabase,
)
from audit.store.answer_codes import fill_answer_codes, rounds_to_fill
from audit.store.schema import APPLICATION_ID, SCHEMA_VERSION, migrations
from audit.store.views import create_views, drop_views, frameworks_missing, record_round_frameworks, views_current
from framework import UnknownFramework, load_framework

if TYPE_CHECKING:
    import sqlite_utils
    from sqlite_utils import Database as _SqliteUtilsDatabase
else:
    _SqliteUtilsDatabase = object

ANY_STATE = object()  # a write that states its value outright, whatever is stored (the command line)


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
    import getpass  # here: a command that only reads never asks who is recording

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
                raise DatabaseProblem(
                    f"{file}: cannot make it readable by its owner only ({error.strerror}); nothing was written"
                ) from None


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
        return DatabaseReadOnly(
            f"the database cannot be written{where}: the file or its folder is read-only; nothing was changed"
        )
    if "locked" in text or "busy" in text:
        return DatabaseBusy(
            f"the database is locked by another program or auditor{where}; nothing was changed, try again when it is free"
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return DatabaseDamaged(f"the database is damaged{where}: run caseaudit check")
    if "disk i/o" in text and _out_of_space(path):
        return DiskFull(f"the disk is full{where} (or the file-size limit is reached); nothing acknowledged was lost")
    if "disk i/o" in text:
        return DatabaseProblem(
            f"a disk error occurred reading or writing the database{where} (is the disk full, removed or failing?)"
        )
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
                named = _connection_path(path) if isinstance(path, sqlite3.Connection) else path
                where = f" ({named})" if named is not None else ""
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


class ReadOnlyDatabase(_SqliteUtilsDatabase):
    """A database opened read-only (mode=ro) through plain sqlite3, standing for sqlite-utils' ``Database``.

    What reading a round's figures uses (``conn``, ``query`` of a SELECT, ``execute`` of a SELECT or a
    PRAGMA, ``close``) is answered here, as sqlite-utils answers it on a connection that cannot write:
    so ``caseaudit summary`` never imports sqlite-utils (a third of its start-up). Anything else (a
    table's API, a query naming a column twice, any other statement) is handed to a sqlite-utils
    ``Database`` over the same connection, made the first time one is needed."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._sqlite_utils: sqlite_utils.Database | None = None
        conn.execute("PRAGMA recursive_triggers = on")  # as sqlite-utils sets it (no trigger runs here: nothing writes)

    def _full(self) -> sqlite_utils.Database:
        if self._sqlite_utils is None:
            import sqlite_utils

            self._sqlite_utils = sqlite_utils.Database(self.conn, execute_plugins=False)
        return self._sqlite_utils

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("conn", "_sqlite_utils"):
            raise AttributeError(name)
        return getattr(self._full(), name)

    def query(self, sql: str, params: Any = None) -> Any:
        """Rows as dictionaries, as sqlite-utils' ``query`` gives them: a SELECT whose columns have different
        names is run here; anything else by sqlite-utils (which renames a repeated column name)."""
        if _first_word(sql) == "SELECT":
            cursor = self.conn.execute(sql, *((params,) if params is not None else ()))
            keys = [column[0] for column in cursor.description]
            if len(set(keys)) == len(keys):
                return (dict(zip(keys, row, strict=True)) for row in cursor)
            cursor.close()
        return self._full().query(sql, params)

    def execute(self, sql: str, parameters: Any = None) -> sqlite3.Cursor:
        """A SELECT or a PRAGMA runs straight on the connection (on one that cannot write, sqlite-utils does
        no more); any other statement goes through sqlite-utils' ``execute``."""
        if _first_word(sql) in ("SELECT", "PRAGMA"):
            return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)
        return self._full().execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()

    def __getitem__(self, table_name: str) -> Any:  # db["cases"]: a special method, never looked up by __getattr__
        return self._full()[table_name]

    def __repr__(self) -> str:
        return f"<ReadOnlyDatabase {self.conn}>"

    def __enter__(self) -> ReadOnlyDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_word(sql: str) -> str:
    """The statement's first word, upper-cased ("" if it starts with anything else, a comment for one)."""
    words = sql.lstrip().split(None, 1)
    return words[0].upper() if words and words[0].isalpha() else ""


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
            raise DatabaseProblem(
                f"{path}: not a caseaudit database (not an SQLite file, or its header is damaged); it was left unchanged"
            ) from None
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
            raise DatabaseProblem(
                f"{path}: not a caseaudit database (not an SQLite file, or its header is damaged); it was left unchanged"
            ) from None
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

    sqlite-utils plugins are not loaded (``execute_plugins=False``): no installed package can add
    functions to caseaudit's connections, and a command does not scan every installed package first.

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
            opened = ReadOnlyDatabase(connect_readonly(path))
            opened.conn.execute("PRAGMA foreign_keys = ON")
            if rounds_to_fill(opened):  # a round made before answer codes, whose framework was added since
                opened.close()
                open_database(path, create=False).close()  # its codes written once, then read
                opened = ReadOnlyDatabase(connect_readonly(path))
                opened.conn.execute("PRAGMA foreign_keys = ON")
            return opened
        except sqlite3.DatabaseError as error:
            raise database_error(error, path) from None
    wal = path.with_name(path.name + "-wal")
    if not os.access(path, os.W_OK) or (not os.access(path.parent, os.W_OK) and not wal.exists()):
        raise DatabaseReadOnly(
            f"the database cannot be written ({path}): the file or its folder is read-only; nothing was changed"
            " (read-only commands such as summary, report and export still work)"
        )
    _make_owner_only(path)  # before anything is written into it (the -wal and -shm follow its mode)
    import sqlite_utils  # only here: a read-only open (above) works without it

    try:
        db = sqlite_utils.Database(path, execute_plugins=False)
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
                    # the views are made again after every migration run: a migration that rebuilds a
                    # table never leaves a view reading the old one
                    drop_views(db)
                    migrations.apply(db)
                    create_views(db)
                    _set_schema_markers(db)
        if not views_current(db):  # views of an earlier build at this schema version: made again
            with write_lock(db, path):
                create_views(db)
        _record_added_frameworks(db, path)
        if rounds_to_fill(db):  # a round made before answer codes, whose framework was added since
            with write_lock(db, path):
                fill_answer_codes(db, rounds_to_fill(db))
        return db
    except CaseauditError:
        raise
    except sqlite3.DatabaseError as error:
        if is_damage(error):
            raise DatabaseDamaged(f"the database is damaged ({path}): run caseaudit check") from None
        raise database_error(error, path) from None
    except OSError as error:
        raise database_error(error, path) from None


_UNAVAILABLE_FRAMEWORKS: set[tuple[str, str]] = set()  # looked for once per process


def _record_added_frameworks(db: sqlite_utils.Database, path: Path) -> None:
    """A round pinned to a framework this caseaudit lacked when the round arrived: once the framework is
    added (``caseaudit frameworks add``), its question texts are copied in for the views."""
    missing = [pair for pair in frameworks_missing(db) if pair not in _UNAVAILABLE_FRAMEWORKS]
    if not missing:
        return
    available = []
    for pair in missing:
        try:
            load_framework(*pair)
            available.append(pair)
        except UnknownFramework:
            _UNAVAILABLE_FRAMEWORKS.add(pair)
    if available:
        with write_lock(db, path):
            record_round_frameworks(db, available)


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


@contextlib.contextmanager
def bulk_write(db: sqlite_utils.Database, path: Path | None = None) -> Iterator[sqlite_utils.Database]:
    """``write_lock`` for a bulk writer (an import of a whole sheet) that makes its own references right:
    SQLite does not look up each row's case and round (foreign keys are not enforced within it; that
    lookup was a third of a big import's time). The writer takes every case id it writes from the
    round's cases in the same transaction, and ``caseaudit check`` finds any row whose case is missing.
    Enforcement is back on when the write ends, committed or not."""
    if db.conn.in_transaction:  # within a caller's write: joined, as it is (SQLite switches them only outside one)
        with write_lock(db, path):
            yield db
        return
    db.conn.execute("PRAGMA foreign_keys = OFF")
    try:
        with write_lock(db, path):
            yield db
    finally:
        db.conn.execute("PRAGMA foreign_keys = ON")


def _set_schema_markers(db: sqlite_utils.Database) -> None:
    db.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


MAX_TEXT = 1_000_000  # characters in a note or reason: what a case sheet's cell may hold (sheets.CELL_CHARACTERS)


def _check_text_length(text: str | None, what: str) -> None:
    """A note or reason longer than a case sheet can carry would export but never import back."""
    if text is not None and len(text) > MAX_TEXT:
        raise InvalidValue(f"a {what} holds at most {MAX_TEXT:,} characters (this one has {len(text):,})")
