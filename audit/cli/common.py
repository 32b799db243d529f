"""What every command shares: the database it works on, and printing safely to a terminal."""

from __future__ import annotations

import os
from pathlib import Path

from audit.core.safe_text import lines_for_terminal

DB_ENV = "CASEAUDIT_DB"


def default_db_path() -> Path:
    """$CASEAUDIT_DB, else caseaudit.db in the user's data directory."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    import platformdirs

    return platformdirs.user_data_path("caseaudit", appauthor=False) / "caseaudit.db"


def open_store(args, *, readonly: bool = False, verify: bool = False):
    """The database for a command. ``readonly``: opened with SQLite's mode=ro; a missing database
    is refused and nothing (file or folder) is created. ``verify``: SQLite's quick check first, so
    figures are never drawn silently from a damaged file."""
    from audit.store import AuditStore

    store = AuditStore.open(args.db, readonly=readonly)
    if verify:
        try:
            store.verify_intact()
        except BaseException:
            store.close()
            raise
    return store


def say(text: object = "", **options) -> None:
    """Print a line for the person at the terminal: any control character in it (from a stored
    name, a note, a file name, a framework's text) is shown as an escape, never obeyed."""
    print(lines_for_terminal(str(text)), **options)
