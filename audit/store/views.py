"""Views for reading the database in another tool (Datasette, a SQL console): answers with their
question text, each case's progress, every note and every judgement to check.

The frameworks are TOML files, not tables, so the question texts a view needs are copied into
``framework_questions`` (one row per question of each framework version a round uses: its kind,
standard, key question and text, in the framework's order). A framework version never changes once
shipped or added, so a copy, once written, stays true; one is written when a round is created or
merged in, by migration m008 for the rounds before it, and on opening for a round whose framework
was added later.

The views are dropped before every migration run and created again after it (``open_database``), so
a later migration that rebuilds a table never leaves a view pointing at the old one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit.core.attributes import IN_SAMPLE_STATUSES
from framework import Framework, UnknownFramework, load_framework
from framework.model import KeyQuestion

if TYPE_CHECKING:
    import sqlite_utils

# counted: the main sample with the reserves swapped in, less any case removed from its round
_IN_SAMPLE = "(c.sample_status IN (" + ", ".join(f"'{s}'" for s in IN_SAMPLE_STATUSES) + ") AND c.removed = 'No')"

# the question's row for an answers row `a` of a case `c` in a round `r`
_QUESTION_OF_ANSWER = (
    "LEFT JOIN framework_questions q ON q.framework_id = r.framework_id AND q.framework_version = r.framework_version"
    " AND q.question_id = a.question_id"
)

VIEWS: dict[str, str] = {
    "answer_sheet": f"""
        SELECT r.name AS round, c.case_ref, a.question_id, q.text AS question_text, q.kind,
               a.value, a.reason, a.note, a.auditor, a.answered_at, {_IN_SAMPLE} AS counted
        FROM answers a JOIN cases c ON c.id = a.case_id JOIN rounds r ON r.id = c.round_id
        {_QUESTION_OF_ANSWER}
        WHERE a.value IS NOT NULL OR a.note IS NOT NULL""",
    "case_progress": f"""
        SELECT r.name AS round, c.case_ref, c.sample_status, c.removed, {_IN_SAMPLE} AS counted,
               c.sentence_type, c.rosh_level, c.practitioner, c.team,
               (SELECT count(*) FROM answers a WHERE a.case_id = c.id AND a.value IS NOT NULL) AS answered,
               (SELECT count(*) FROM framework_questions q
                WHERE q.framework_id = r.framework_id AND q.framework_version = r.framework_version) AS questions,
               CASE
                 WHEN (SELECT count(*) FROM answers a WHERE a.case_id = c.id AND a.value IS NOT NULL) = 0 THEN 'not started'
                 WHEN (SELECT count(*) FROM answers a WHERE a.case_id = c.id AND a.value IS NOT NULL)
                      >= (SELECT count(*) FROM framework_questions q
                          WHERE q.framework_id = r.framework_id AND q.framework_version = r.framework_version) THEN 'complete'
                 ELSE 'in progress'
               END AS status,
               (SELECT count(*) FROM answers a WHERE a.case_id = c.id AND a.note IS NOT NULL AND a.note <> '') AS notes,
               (SELECT max(a.answered_at) FROM answers a WHERE a.case_id = c.id) AS last_answered_at
        FROM cases c JOIN rounds r ON r.id = c.round_id""",
    "notes": f"""
        SELECT r.name AS round, c.case_ref, {_IN_SAMPLE} AS counted, a.question_id, q.text AS question_text, a.note,
               a.value, a.auditor, a.answered_at
        FROM answers a JOIN cases c ON c.id = a.case_id JOIN rounds r ON r.id = c.round_id
        {_QUESTION_OF_ANSWER}
        WHERE a.note IS NOT NULL AND a.note <> ''""",
    # a key-question judgement contradicting every relevant prompt (Yes with every prompt answered Yes or
    # No being No, or the reverse): the case screen's "check" warning, never a block
    "judgement_checks": f"""
        SELECT r.name AS round, c.case_ref, c.sample_status, {_IN_SAMPLE} AS counted, kq.question_id AS key_question_id,
               kq.text AS key_question_text, a.value AS judgement, count(pa.question_id) AS relevant_prompts
        FROM answers a JOIN cases c ON c.id = a.case_id JOIN rounds r ON r.id = c.round_id
        JOIN framework_questions kq ON kq.framework_id = r.framework_id AND kq.framework_version = r.framework_version
             AND kq.question_id = a.question_id AND kq.kind = 'key question'
        JOIN framework_questions p ON p.framework_id = kq.framework_id AND p.framework_version = kq.framework_version
             AND p.key_question_id = kq.question_id AND p.kind = 'prompt'
        JOIN answers pa ON pa.case_id = a.case_id AND pa.question_id = p.question_id AND pa.value IN ('Yes', 'No')
        WHERE a.value IN ('Yes', 'No')
        GROUP BY a.case_id, a.question_id
        HAVING sum(pa.value = a.value) = 0""",
}


def create_framework_questions_table(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE framework_questions (
            framework_id TEXT NOT NULL,
            framework_version TEXT NOT NULL,
            question_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('prompt', 'data item', 'key question')),
            standard_id TEXT NOT NULL,
            key_question_id TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (framework_id, framework_version, question_id)
        )"""
    )
    db.execute(
        "CREATE INDEX framework_questions_key_question ON framework_questions(framework_id, framework_version, key_question_id)"
    )


def record_framework_questions(db: sqlite_utils.Database, framework: Framework) -> None:
    """Copy a framework version's questions into ``framework_questions`` (nothing if already there)."""
    rows = []
    for position, question in enumerate(framework.iter_questions(), 1):
        key_question_id = question.id if isinstance(question, KeyQuestion) else question.key_question_id
        standard_id = framework.standard_of(question.id).id
        rows.append(
            (
                framework.id,
                framework.version,
                question.id,
                position,
                str(question.kind),
                standard_id,
                key_question_id,
                question.text,
            )
        )
    db.conn.executemany(
        "INSERT OR IGNORE INTO framework_questions (framework_id, framework_version, question_id, position, kind,"
        " standard_id, key_question_id, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def frameworks_missing(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """The framework versions rounds use whose questions are not yet in ``framework_questions``."""
    return [
        (row[0], row[1])
        for row in db.execute(
            "SELECT DISTINCT framework_id, framework_version FROM rounds EXCEPT"
            " SELECT DISTINCT framework_id, framework_version FROM framework_questions"
        ).fetchall()
    ]


def record_round_frameworks(db: sqlite_utils.Database, missing: list[tuple[str, str]] | None = None) -> None:
    """Copy in the questions of every framework version a round uses that this caseaudit has and the
    table lacks (one it lacks is copied once it is added: see ``open_database``)."""
    for framework_id, version in frameworks_missing(db) if missing is None else missing:
        try:
            framework = load_framework(framework_id, version)
        except UnknownFramework:
            continue
        record_framework_questions(db, framework)


def drop_views(db: sqlite_utils.Database) -> None:
    """Drop caseaudit's views (any other view someone made is left as it is)."""
    for name in VIEWS:
        db.execute(f'DROP VIEW IF EXISTS "{name}"')


def views_current(db: sqlite_utils.Database) -> bool:
    """Whether the database's views are this caseaudit's (a newer build may read more through them)."""
    stored = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
    return all(stored.get(name) == f'CREATE VIEW "{name}" AS {sql.strip()}' for name, sql in VIEWS.items())


def create_views(db: sqlite_utils.Database) -> None:
    """(Re)create every view over the tables as they are now."""
    for name, sql in VIEWS.items():
        db.execute(f'DROP VIEW IF EXISTS "{name}"')
        db.execute(f'CREATE VIEW "{name}" AS {sql.strip()}')
