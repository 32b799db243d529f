"""Each case's answers as one short string, kept by SQLite itself: what every figure is counted from.

``cases.answer_codes`` holds a character per question of the round's framework, in the framework's
order: "Y" Yes, "N" No, "A" Not applicable, " " unanswered (or cleared); a string shorter than the
framework is unanswered beyond its end, and NULL is a case with no answer yet. Triggers on ``answers``
set the character of each answer as it is inserted, changed or deleted, so every way an answer is
written (the TUI, the command line, an import, a merge, settling a conflict, a migration) keeps it
right, within the same transaction as the answer itself.

A trigger finds a question's place in ``answer_code_positions`` (round, question id -> position), filled
from the round's pinned framework when the round is made (``record_positions``, for every question at
once). An answer to a question the framework lacks has no place and changes no code (no figure counts
it; `caseaudit check` lists it). A round without places (made by another tool, or before answer codes
while its framework was missing) is given them, and its codes, the next time the database is opened
(``rounds_to_fill``).

The figures of a round then read one row per case (a 250,000-case round: about 20 MB) instead of
every answer (19 million rows), and the counts are string counting (see ``audit.store.case_table``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import sqlite_utils

CODE_OF_VALUE = {"Yes": "Y", "No": "N", "Not applicable": "A"}
YES_CODE, NO_CODE, UNANSWERED_CODE = "Y", "N", " "  # every other code is a not-applicable answer

_CODE = "CASE {row}.value WHEN 'Yes' THEN 'Y' WHEN 'No' THEN 'N' WHEN 'Not applicable' THEN 'A' ELSE ' ' END"
# while a bulk writer has deferred the codes (``deferred_codes``), the triggers do nothing
_NOT_DEFERRED = "NOT EXISTS (SELECT 1 FROM settings WHERE key = 'answer_codes_deferred')"


def _set_code(row: str, code: str) -> str:
    """The UPDATE that puts ``code`` at the place of ``row``'s question in its case's string (padding
    a shorter string with blanks); the place is looked up once, and a question without one changes nothing."""
    codes = "coalesce(cases.answer_codes, '')"
    return f"""
        UPDATE cases SET answer_codes = coalesce((
            SELECT substr({codes} || printf('%*s', p.position, ''), 1, p.position) || {code} || substr({codes}, p.position + 2)
            FROM answer_code_positions p WHERE p.round_id = {row}.round_id AND p.question_id = {row}.question_id
        ), cases.answer_codes)
        WHERE id = {row}.case_id;"""


TRIGGERS = {
    "answers_codes_insert": f"""
        CREATE TRIGGER answers_codes_insert AFTER INSERT ON answers WHEN {_NOT_DEFERRED} BEGIN
            {_set_code("NEW", _CODE.format(row="NEW"))}
        END""",
    "answers_codes_update": f"""
        CREATE TRIGGER answers_codes_update AFTER UPDATE OF value ON answers
        WHEN OLD.value IS NOT NEW.value AND OLD.case_id = NEW.case_id AND OLD.question_id = NEW.question_id
             AND OLD.round_id = NEW.round_id AND {_NOT_DEFERRED}
        BEGIN
            {_set_code("NEW", _CODE.format(row="NEW"))}
        END""",
    # caseaudit never moves an answer to another case or question; were one moved, both places follow
    "answers_codes_move": f"""
        CREATE TRIGGER answers_codes_move AFTER UPDATE OF case_id, question_id, round_id ON answers
        WHEN (OLD.case_id IS NOT NEW.case_id OR OLD.question_id IS NOT NEW.question_id OR OLD.round_id IS NOT NEW.round_id)
             AND {_NOT_DEFERRED}
        BEGIN
            {_set_code("OLD", "' '")}
            {_set_code("NEW", _CODE.format(row="NEW"))}
        END""",
    "answers_codes_delete": f"""
        CREATE TRIGGER answers_codes_delete AFTER DELETE ON answers WHEN {_NOT_DEFERRED} BEGIN
            {_set_code("OLD", "' '")}
        END""",
}


def create_answer_codes(db: sqlite_utils.Database) -> None:
    """The column, the positions table, the triggers and an index of the answers with reasons (the
    migration that adds them)."""
    db.execute("ALTER TABLE cases ADD COLUMN answer_codes TEXT")
    db.execute(
        """
        CREATE TABLE answer_code_positions (
            round_id TEXT NOT NULL REFERENCES rounds(id),
            question_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (round_id, question_id)
        ) WITHOUT ROWID"""
    )
    for sql in TRIGGERS.values():
        db.execute(sql)
    # the answers with a not-applicable reason (a few per cent), everything the case-level sheet needs of them
    # in the index itself: read without going through every answer, or to the table for each
    db.execute(
        "CREATE INDEX answers_with_reasons ON answers(round_id, case_id, question_id, value, reason) WHERE reason IS NOT NULL"
    )
    # and the answers with a note, for the case sheet's note columns and the report's notes appendix
    db.execute("CREATE INDEX answers_with_notes ON answers(round_id, case_id, question_id) WHERE note IS NOT NULL")


def record_positions(db: sqlite_utils.Database, round_id: str, question_ids: Iterable[str]) -> None:
    """Give each question of a round's framework its place (the framework's order), once."""
    db.conn.executemany(
        "INSERT OR IGNORE INTO answer_code_positions (round_id, question_id, position) VALUES (?, ?, ?)",
        [(round_id, question_id, position) for position, question_id in enumerate(question_ids)],
    )


def rounds_without_positions(db: sqlite_utils.Database) -> list[tuple[str, str, str]]:
    """(round id, framework id, version) of each round whose questions have no places yet: made by a
    caseaudit before answer codes, when its framework could not be loaded."""
    return [
        tuple(row)
        for row in db.conn.execute(
            "SELECT id, framework_id, framework_version FROM rounds r"
            " WHERE NOT EXISTS (SELECT 1 FROM answer_code_positions p WHERE p.round_id = r.id)"
        )
    ]


def rounds_to_fill(db: sqlite_utils.Database) -> list[tuple[str, str, str]]:
    """The rounds without places whose framework this caseaudit has (normally none: a query on a small table)."""
    from framework import UnknownFramework, load_framework

    found = []
    for round_id, framework_id, version in rounds_without_positions(db):
        try:
            load_framework(framework_id, version)
        except UnknownFramework:
            continue
        found.append((round_id, framework_id, version))
    return found


def fill_answer_codes(db: sqlite_utils.Database, rounds: Iterable[tuple[str, str, str]] | None = None) -> list[str]:
    """Give places to the questions of ``rounds`` (default: every round without them) whose framework
    this caseaudit has, and write their cases' answer codes from the stored answers. Returns the ids of
    the rounds filled. Within a write (a migration, or opening a database)."""
    from framework import UnknownFramework, load_framework

    filled = []
    for round_id, framework_id, version in rounds_without_positions(db) if rounds is None else rounds:
        try:
            framework = load_framework(framework_id, version)
        except UnknownFramework:
            continue  # its rounds cannot be opened until the definition is added; filled then
        questions = tuple(framework.question_ids)
        record_positions(db, round_id, questions)
        place = {q: i for i, q in enumerate(questions)}
        codes: dict[int, list[str]] = {}
        for case_id, question_id, value in db.conn.execute(
            "SELECT case_id, question_id, value FROM answers WHERE round_id = ?", [round_id]
        ):
            if question_id in place:  # an answer to an unknown question is a finding of `caseaudit check`
                codes.setdefault(case_id, [UNANSWERED_CODE] * len(questions))[place[question_id]] = CODE_OF_VALUE.get(
                    value, UNANSWERED_CODE
                )
        db.conn.executemany(
            "UPDATE cases SET answer_codes = ? WHERE id = ?", [("".join(c), case_id) for case_id, c in codes.items()]
        )
        filled.append(round_id)
    return filled


@contextlib.contextmanager
def deferred_codes(db: sqlite_utils.Database) -> Iterator[set[int]]:
    """For a bulk writer, within its open write transaction: the triggers stand aside while it writes
    many answers, and the codes of the cases it names (it adds their ids to the set yielded) are worked
    out once from their answers at the end, in the same transaction. Other connections never see the
    codes out of date: the setting that defers them is never committed.

        with write_lock(db), deferred_codes(db) as touched:
            ... insert answers ...; touched.add(case_id)
    """
    if not db.conn.in_transaction:
        raise RuntimeError("deferred_codes is used within an open write transaction (write_lock)")
    db.conn.execute("INSERT INTO settings (key, value) VALUES ('answer_codes_deferred', 'yes')")
    touched: set[int] = set()
    try:
        yield touched
        refresh_case_codes(db, touched)
    finally:
        db.conn.execute("DELETE FROM settings WHERE key = 'answer_codes_deferred'")


def refresh_case_codes(db: sqlite_utils.Database, case_ids: Iterable[int]) -> None:
    """Work out the codes of these cases from their stored answers (within a write)."""
    ids = sorted(set(case_ids))
    places: dict[str, dict[str, int]] = {}
    updates = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        codes: dict[int, list[str]] = {}
        rounds: dict[int, str] = {}
        for case_id, round_id in db.conn.execute(f"SELECT id, round_id FROM cases WHERE id IN ({marks})", chunk):
            rounds[case_id] = round_id
            if round_id not in places:
                places[round_id] = {
                    q: n
                    for q, n in db.conn.execute(
                        "SELECT question_id, position FROM answer_code_positions WHERE round_id = ?", [round_id]
                    )
                }
            codes[case_id] = [UNANSWERED_CODE] * len(places[round_id])
        for case_id, question_id, value in db.conn.execute(
            f"SELECT case_id, question_id, value FROM answers WHERE case_id IN ({marks})", chunk
        ):
            place = places[rounds[case_id]].get(question_id)
            if place is not None:
                codes[case_id][place] = CODE_OF_VALUE.get(value, UNANSWERED_CODE)
        updates += [("".join(letters) if places[rounds[c]] else None, c) for c, letters in codes.items()]
    db.conn.executemany("UPDATE cases SET answer_codes = coalesce(?, answer_codes) WHERE id = ?", updates)


def padded_codes_sql(width: int, column: str = "c.answer_codes") -> str:
    """SQL for a case's codes as exactly ``width`` characters (blanks for the unanswered)."""
    return f"substr(coalesce({column}, '') || '{UNANSWERED_CODE * width}', 1, {width})"


@attrs.frozen
class CodeBlock:
    """The answer codes of a set of cases read at once (``AuditStore.answer_code_block``): every case's
    codes, ``width`` characters each, joined a case after another, and the cases' ids in the same order.

    ``columns``: the same codes a question at a time (one character per case, in the block's order),
    made once from ``joined`` (``code_columns``); every count, the incomplete cases and the judgement
    checks read them. ``attributes``: the attribute values asked for, a JSON array per column in the
    same order, each read when asked for (``attribute_values``): a national round's lists are large."""

    width: int
    cases: int
    joined: bytes | str  # bytes when every code is plain (Y, N, A, blank): they count faster
    ids_text: str = ""  # the case ids, comma-separated, in the order of ``joined``
    attributes: dict[str, str] = attrs.field(factory=dict)  # column -> its values as a JSON array (``attribute_values``)
    columns: tuple[Any, ...] = attrs.field(init=False)

    @columns.default
    def _columns(self) -> tuple[Any, ...]:
        return code_columns(self.joined, self.width)

    def attribute_values(self, column: str) -> list[Any]:
        """One attribute's values, a case after another in the block's order (blank for none)."""
        return json.loads(self.attributes[column]) if self.cases else []

    def case_ids_at(self, places: Iterable[int]) -> list[int]:
        """The ids of the cases at these places of the block."""
        ids = self.ids_text.split(",")
        return [int(ids[n]) for n in places]

    def counts(self, question_ids: tuple[str, ...], wanted: Iterable[str]) -> dict[str, dict]:
        return counts_in_columns(question_ids, self.columns, wanted)

    def rows(self) -> list[Any]:
        """Each case's codes, in the block's order."""
        width, joined = self.width, self.joined
        if not width:
            return [joined[:0]] * self.cases
        return [joined[start : start + width] for start in range(0, self.cases * width, width)]

    def incomplete(self) -> int:
        """How many of the cases have a question unanswered: for each question with a blank, its codes as
        one number (``code_bits``: a byte per case, 1 where it is blank); the cases with any 1, counted."""
        if not self.cases:
            return 0
        blank = UNANSWERED_CODE if isinstance(self.joined, str) else UNANSWERED_CODE.encode()
        blank_anywhere = 0
        for column in self.columns:
            blanks = column.count(blank)
            if blanks == self.cases:  # every case has this one blank
                return self.cases
            if blanks:
                blank_anywhere |= code_bits(column, UNANSWERED_CODE)
        return blank_anywhere.bit_count()


_ONE_FOR_CODE = {
    code: bytes(1 if byte == ord(code) else 0 for byte in range(256)) for code in (YES_CODE, NO_CODE, UNANSWERED_CODE)
}


def code_bits(column: bytes | str, code: str) -> int:
    """One question's codes (a character per case: a ``CodeBlock`` column) as one number: a byte per
    case, 1 where the case's code is ``code`` (Y, N or blank), else 0. Numbers made so are combined a
    case at a time by ``&``, ``|`` and ``^``, and ``bit_count()`` counts the cases. A code that is not
    plain (a not-applicable reason's, in a case table) is none of the three."""
    if isinstance(column, str):
        column = column.encode("ascii", "replace")
    return int.from_bytes(column.translate(_ONE_FOR_CODE[code]), "big")


TRANSPOSED_CASES_AT_A_TIME = 1024
"""``code_columns`` takes the codes this many cases at a time: each piece (about 80 kB for the PDU framework)
stays in the processor's cache while every question's characters are taken from it, about three times
faster at 250,000 cases than taking each question's from the whole block."""


def code_columns(joined: Any, width: int) -> tuple[Any, ...]:
    """Codes joined a case after another (``width`` characters each), a question at a time: the
    ``width`` strings of one character per case (bytes in, bytes out; text in, text out)."""
    if not width:
        return ()
    pieces: list[list[Any]] = [[] for _ in range(width)]
    step = TRANSPOSED_CASES_AT_A_TIME * width
    for start in range(0, len(joined), step):
        piece = joined[start : start + step]
        for place in range(width):
            pieces[place].append(piece[place::width])
    nothing = joined[:0]
    return tuple(nothing.join(of_question) for of_question in pieces)


def joined_codes(text: str) -> bytes | str:
    """The plain codes as bytes (they count faster); any other code (a case table's reasons) as text."""
    return text.encode("ascii") if text.isascii() else text


def counts_by_question(question_ids: tuple[str, ...], rows: list[Any], wanted: Iterable[str]) -> dict[str, dict]:
    """{question_id: {question_id, yes, no, not_applicable}} of the ``wanted`` questions with any answer,
    over code strings of ``len(question_ids)`` characters each: the rows are joined once, and a
    question's answers are every width-th character from its place (string counting, in C)."""
    joined = rows[0][:0].join(rows) if rows else ""
    return counts_in_joined(question_ids, joined_codes(joined) if isinstance(joined, str) else joined, wanted)


def counts_in_joined(question_ids: tuple[str, ...], joined: Any, wanted: Iterable[str]) -> dict[str, dict]:
    """``counts_by_question`` over codes already joined (``joined_codes``): each wanted question's
    answers taken as every width-th character from its place."""
    width = len(question_ids)
    wanted = tuple(wanted)
    columns = {q: joined[question_ids.index(q) :: width] for q in wanted}
    return _counted(wanted, columns.__getitem__, isinstance(joined, str))


def counts_in_columns(question_ids: tuple[str, ...], columns: tuple[Any, ...], wanted: Iterable[str]) -> dict[str, dict]:
    """``counts_by_question`` over codes a question at a time (``code_columns``)."""
    text = bool(columns) and isinstance(columns[0], str)
    return _counted(tuple(wanted), lambda q: columns[question_ids.index(q)], text)


def _counted(wanted: tuple[str, ...], column_of, text: bool) -> dict[str, dict]:
    yes_code, no_code, blank = (YES_CODE, NO_CODE, UNANSWERED_CODE) if text else (b"Y", b"N", b" ")
    counts = {}
    for question_id in wanted:
        answers = column_of(question_id)
        yes, no = answers.count(yes_code), answers.count(no_code)
        not_applicable = len(answers) - yes - no - answers.count(blank)
        if yes or no or not_applicable:
            counts[question_id] = {"question_id": question_id, "yes": yes, "no": no, "not_applicable": not_applicable}
    return counts
