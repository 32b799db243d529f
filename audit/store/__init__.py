"""Storage: one SQLite database per team, through sqlite-utils.

- ``database``: opening safely (checks before any write, owner-only files, bounded waits, one-line errors);
- ``schema``: the migrations, in order;
- ``rounds``: ``Round``, a round as read, keyed by its id;
- ``audit_store``: rounds, cases, answers, ratings, history and conflicts (``AuditStore``);
- ``slots``: the value shown for an answer, rating or attribute, worked out from its events;
- ``merge``: bringing another copy in; ``case_table``: a round read once, compactly.
"""

from audit.store.audit_store import AuditStore, check_database
from audit.store.clock import now
from audit.store.database import (
    auditor_name,
    backup_database,
    current_user,
    database_error,
    make_private_folders,
    open_database,
    write_lock,
)
from audit.store.rounds import Round
from audit.store.schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "AuditStore",
    "Round",
    "auditor_name",
    "backup_database",
    "check_database",
    "current_user",
    "database_error",
    "make_private_folders",
    "now",
    "open_database",
    "write_lock",
]
