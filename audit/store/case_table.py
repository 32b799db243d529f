"""A round's cases and answers read once, compactly: the case-level sheet, and every count
a report needs (whole-round counts, case totals, breakdowns) taken from it.

Each case is held as its reference, its attribute values and a string with one character
per question in framework order: "Y" Yes, "N" No, "A" N/A, " " unanswered, and for each
distinct other text (a not-applicable reason, "N/A: not on licence") a character of its own.
Counting is then string counting, which Python does in C: the figures of a 40,000-case round
take a few hundredths of a second once the table is read.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter

import attrs

from audit.core.attributes import ATTRIBUTE_COLUMNS
from audit.errors import InvalidValue
from audit.store import AuditStore, Round
from audit.store.audit_store import IN_SAMPLE

CASE_REF_COLUMN = "case_ref"
# the column of a question's notes, beside the question's own column (only for questions with any note)
NOTE_COLUMN_PREFIX = "note:"


def note_column(question_id: str) -> str:
    return NOTE_COLUMN_PREFIX + question_id


# dropped from de-identified tables: dates, exact ages (the young-adult flag stays) and staff names
DEIDENTIFY_DROPS = ("start_date", "age", "practitioner")

PLAIN_ANSWER_CODES = {"Yes": "Y", "No": "N", "N/A": "A", "": " "}
YES, NO, UNANSWERED = "Y", "N", " "  # every other code is a not-applicable answer
# codes for other texts: supplementary-plane characters, never a plain code or a marker below
_FIRST_TEXT_CODE, _LAST_TEXT_CODE = 0x10000, 0x10FFFF
# a not-applicable reason travels inside a case's code string between these two markers
_REASON_START, _REASON_END = "\x1e", "\x1f"

# the words for an answer, formatted by SQLite (the same words as format_answer_text)
_PRINTED = (
    "CASE WHEN a.value = 'Not applicable' AND a.reason <> '' THEN 'N/A: ' || a.reason"
    " WHEN a.value = 'Not applicable' THEN 'N/A' ELSE a.value END"
)
_PRINTED_DEIDENTIFIED = "CASE WHEN a.value = 'Not applicable' THEN 'N/A' ELSE a.value END"

# a round this size or larger is read as two halves on two connections at once
PARALLEL_READ_FROM = 4000


def deidentified_ref(salt: str, case_ref: str) -> str:
    """A stable pseudonym: the same case gives the same value in every export from this database."""
    import hashlib

    return "H" + hashlib.sha256(f"{salt}:{case_ref}".encode()).hexdigest()[:12].upper()


@attrs.frozen(kw_only=True)
class CaseAnswerTable:
    """A round's case sheet held compactly (see the module docstring)."""

    header: tuple[str, ...]
    attribute_columns: tuple[str, ...]
    question_ids: tuple[str, ...]
    words: dict[str, str]  # answer code -> the words the sheet shows
    cases: tuple[tuple[str, tuple[str, ...], str], ...]  # (case reference, attribute values, answer codes)
    # the notes on answers, by case reference and question id (none when de-identified); each
    # question with any note has a column of notes beside its own (``note_column``)
    notes: dict[str, dict[str, str]] = attrs.field(factory=dict)
    note_questions: tuple[str, ...] = ()  # the questions with any note, in the framework's order
    # (place in question_ids, question id) of each question with any note
    note_places: tuple[tuple[int, str], ...] = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: tuple((self.question_ids.index(q), q) for q in self.note_questions), takes_self=True),
    )

    def __len__(self) -> int:
        return len(self.cases)

    def with_notes(self, case_ref: str, answer_cells: list, note_cell: Callable[[str], object], blank: object) -> list:
        """A row's answer cells (one per question, in order) with its note cells put in beside
        them, as the header has them: ``note_cell(text)`` for a note, ``blank`` for none."""
        places = self.note_places
        if not places:
            return answer_cells
        notes = self.notes.get(case_ref)
        out: list = []
        start = 0
        for place, question_id in places:
            out += answer_cells[start : place + 1]
            text = notes.get(question_id) if notes else None
            out.append(note_cell(text) if text else blank)
            start = place + 1
        out += answer_cells[start:]
        return out

    def rows(self) -> Iterator[list[str]]:
        """The sheet's rows after the header, as plain text."""
        word = self.words.__getitem__
        places = self.note_places
        for case_ref, attributes, codes in self.cases:
            answers = list(map(word, codes))
            if places:
                answers = self.with_notes(case_ref, answers, str, "")
            yield [case_ref, *attributes, *answers]

    # -- counts --------------------------------------------------------
    def case_totals(self) -> tuple[int, int]:
        """(cases, incomplete cases): a case is incomplete until every question has an answer."""
        return len(self.cases), sum(UNANSWERED in codes for _, _, codes in self.cases)

    def answer_counts(self) -> dict[str, dict]:
        """{question_id: {question_id, yes, no, not_applicable}} for questions with any answer,
        the shape of ``AuditStore.answer_counts``."""
        return _counts_by_question(self.question_ids, [codes for _, _, codes in self.cases], self.question_ids)

    def breakdown_counts(self, columns: Iterable[str], question_ids: Iterable[str]) -> tuple[list[dict], list[dict]]:
        """Answer counts and case counts by each attribute column's values: (answer rows
        {column_name, value, question_id, yes, no, not_applicable}, case rows {column_name, value,
        cases}). A blank value is None, as SQL has it."""
        wanted = [q for q in question_ids if q in self.question_ids]
        answer_rows: list[dict] = []
        case_rows: list[dict] = []
        for column in columns:
            if column not in self.attribute_columns:
                continue
            place = self.attribute_columns.index(column)
            groups: dict[str, list[str]] = {}
            for _, attributes, codes in self.cases:
                groups.setdefault(attributes[place], []).append(codes)
            for value, members in groups.items():
                shown = value or None  # a blank attribute is counted as not recorded
                case_rows.append({"column_name": column, "value": shown, "cases": len(members)})
                for _question_id, counts in _counts_by_question(self.question_ids, members, wanted).items():
                    answer_rows.append({"column_name": column, "value": shown, **counts})
        return answer_rows, case_rows


def _counts_by_question(question_ids: tuple[str, ...], rows: list[str], wanted: Iterable[str]) -> dict[str, dict]:
    """Counts of the ``wanted`` questions over equal-length code strings: all the rows are
    joined once, and a question's answers are every width-th character from its place."""
    width = len(question_ids)
    joined = "".join(rows)
    counts = {}
    for question_id in wanted:
        answers = joined[question_ids.index(question_id) :: width]
        yes, no = answers.count(YES), answers.count(NO)
        not_applicable = len(answers) - yes - no - answers.count(UNANSWERED)
        if yes or no or not_applicable:
            counts[question_id] = {"question_id": question_id, "yes": yes, "no": no, "not_applicable": not_applicable}
    return counts


class _AnswerCodes:
    """The code of each text a sheet shows for an answer. A text met for the first time gets
    the next free code; safe to use from the two reading threads at once (a race can only
    skip a code number, never give two texts one code)."""

    def __init__(self) -> None:
        self.code_of_text = dict(PLAIN_ANSWER_CODES)
        self.code_of_reason: dict[str, str] = {}
        self._numbers = itertools.count(_FIRST_TEXT_CODE)

    def __call__(self, text: str) -> str:
        code = self.code_of_text.get(text)
        if code is None:
            number = next(self._numbers)
            if number > _LAST_TEXT_CODE:
                raise InvalidValue("this round has more distinct not-applicable reasons than a case table can hold")
            code = self.code_of_text.setdefault(text, chr(number))
        return code

    def with_reasons_coded(self, codes: str) -> str | None:
        """A case's code string with each reason (between markers) replaced by its code;
        None if the markers do not pair up (a reason holding a marker character)."""
        plain, *with_reasons = codes.split(_REASON_START)
        coded = [plain]
        known = self.code_of_reason
        for part in with_reasons:
            reason, end, rest = part.partition(_REASON_END)
            if not end:
                return None
            code = known.get(reason)
            if code is None:
                code = known.setdefault(reason, self("N/A: " + reason))
            coded.append(code)
            coded.append(rest)
        coded_codes = "".join(coded)
        return None if _REASON_END in coded_codes else coded_codes

    def words(self) -> dict[str, str]:
        return {code: text for text, code in self.code_of_text.items()}


def read_case_answer_table(store: AuditStore, round_row: Round, *, deidentify: bool = False) -> CaseAnswerTable:
    """The case sheet of a round, in case-reference order. De-identified: case references become
    salted hashes (and the rows are sorted by them); notes, not-applicable reasons, dates, ages
    and practitioners' names are left out.

    Each case's answers come back from SQLite as one string in question-id order (a short
    ordered range of the case-ordered answers table): a letter per answer, with any
    not-applicable reason inside markers. A fixed permutation puts a complete case's codes in
    framework order; an incomplete case is read again with the question ids of its answers.
    Stored question ids are always the framework's (checked on every write and by ``caseaudit
    check``), so a case with as many answers as questions is complete.
    """
    framework = store.framework_for(round_row)
    questions = tuple(framework.question_ids)
    columns = tuple(c for c in ATTRIBUTE_COLUMNS if not (deidentify and c in DEIDENTIFY_DROPS))
    not_applicable = "'A'" if deidentify else "CASE WHEN a.reason <> '' THEN char(30) || a.reason || char(31) ELSE 'A' END"
    # a case's answers in question-id order, a code each (the case-ordered table holds them so: no sort)
    answers_of_case = f"""
        SELECT CASE a.value WHEN 'Yes' THEN 'Y' WHEN 'No' THEN 'N' ELSE {not_applicable} END AS code, a.question_id
        FROM answers a WHERE a.case_id = c.id AND a.value IS NOT NULL ORDER BY a.question_id
    """
    select = f"""
        SELECT c.id, c.case_ref, {"".join(f"coalesce(c.{c}, ''), " for c in columns)}(
            SELECT group_concat(code, '') FROM ({answers_of_case})
        ) FROM cases c WHERE c.round_id = ? AND {IN_SAMPLE} {{range}} ORDER BY c.case_ref
    """
    by_id = sorted(questions)  # SQLite's BINARY order of the ids: the order a case's answers are stored in
    to_framework_order = itemgetter(*(by_id.index(q) for q in questions))
    width = len(questions)
    blank = UNANSWERED * width
    salt = store.deidentify_salt() if deidentify else ""
    answer_codes = _AnswerCodes()
    with_reasons_coded = answer_codes.with_reasons_coded
    printed = _PRINTED_DEIDENTIFIED if deidentify else _PRINTED

    def read_part(reader: AuditStore, range_sql: str, params: list) -> list:
        """The cases of a range of references (all of them when ``range_sql`` is empty)."""
        cases: list = []
        incomplete: dict[int, int] = {}  # case id -> place in ``cases``
        for row in reader.db.conn.execute(select.format(range=range_sql), [round_row.id, *params]).fetchall():
            codes = row[-1]
            if codes is None:
                answers = blank
            else:
                if _REASON_START in codes:
                    codes = with_reasons_coded(codes)
                if codes is not None and len(codes) == width:
                    answers = "".join(to_framework_order(codes))
                else:  # incomplete (or a reason holding a marker character)
                    incomplete[row[0]] = len(cases)
                    answers = blank
            cases.append((deidentified_ref(salt, row[1]) if deidentify else row[1], row[2:-1], answers))
        unreadable = _read_incomplete(reader, incomplete, cases, questions, answers_of_case, answer_codes) if incomplete else {}
        if unreadable:
            _read_answer_by_answer(reader, unreadable, cases, questions, answer_codes, printed)
        return cases

    cases = _read_in_halves(store, round_row.id, read_part)
    if deidentify:
        cases.sort(key=lambda case: case[0])  # case-reference order would hint at the real references
    notes = {} if deidentify else read_notes(store, round_row)
    noted = {q for of_case in notes.values() for q in of_case}
    note_questions = tuple(q for q in questions if q in noted)
    return CaseAnswerTable(
        header=(CASE_REF_COLUMN, *columns, *sheet_question_columns(questions, note_questions)),
        attribute_columns=columns,
        question_ids=questions,
        words=answer_codes.words(),
        cases=tuple(cases),
        notes=notes,
        note_questions=note_questions,
    )


def sheet_question_columns(questions: Iterable[str], note_questions: Iterable[str]) -> list[str]:
    """The question columns of a case sheet, each followed by its notes' column when it has any note."""
    noted = set(note_questions)
    return [c for q in questions for c in ((q, note_column(q)) if q in noted else (q,))]


@attrs.frozen(kw_only=True)
class NoteLine:
    """One note on an answer, as a report's notes appendix lists it."""

    case_ref: str
    question: str
    answer: str  # the answer's words ("Yes", "N/A: reason"), blank when unanswered
    note: str
    auditor: str  # who last changed the answer or its note


def read_note_lines(store: AuditStore, round_row: Round) -> list[NoteLine]:
    """Every note on an answer of the round's sample (a note stays when its answer is cleared, so
    a note may stand on an unanswered question), in case-reference order then the framework's.
    Read case by case (CROSS JOIN keeps that order): each case's answers are one short range of the
    case-ordered table, where the (round, question) index would look every answer up apart."""
    order = {q: n for n, q in enumerate(store.framework_for(round_row).question_ids)}
    lines = [
        NoteLine(case_ref=case_ref, question=question_id, answer=answer or "", note=note, auditor=auditor or "")
        for case_ref, question_id, answer, note, auditor in store.db.conn.execute(
            f"""
            SELECT c.case_ref, a.question_id, {_PRINTED}, a.note, a.auditor FROM cases c CROSS JOIN answers a ON a.case_id = c.id
            WHERE c.round_id = ? AND {IN_SAMPLE} AND a.note IS NOT NULL AND a.note <> ''
            ORDER BY c.case_ref
            """,
            [round_row.id],
        )
    ]
    return sorted(lines, key=lambda line: (line.case_ref, order.get(line.question, len(order))))


def read_notes(store: AuditStore, round_row: Round) -> dict[str, dict[str, str]]:
    """Every note on an answer of the round's sample, by case reference and question id (a note
    stays when its answer is cleared, so a note may stand on an unanswered question). Read case by
    case (CROSS JOIN keeps that order): each case's answers are one short range of the case-ordered
    table, where the (round, question) index would look every answer up apart."""
    notes: dict[str, dict[str, str]] = {}
    for case_ref, question_id, note in store.db.conn.execute(
        f"""
        SELECT c.case_ref, a.question_id, a.note FROM cases c CROSS JOIN answers a ON a.case_id = c.id
        WHERE c.round_id = ? AND {IN_SAMPLE} AND a.note IS NOT NULL AND a.note <> ''
        """,
        [round_row.id],
    ):
        notes.setdefault(case_ref, {})[question_id] = note
    return notes


def _read_in_halves(store: AuditStore, round_id: str, read_part: Callable[[AuditStore, str, list], list]) -> list:
    """The round's cases by ``read_part``. For a large round on a database file the second
    half of the case references is read on a second connection at the same time (SQLite
    releases the GIL while it works). Each case is in exactly one half."""
    total = store.db.conn.execute("SELECT count(*) FROM cases WHERE round_id = ?", [round_id]).fetchone()[0]
    path = store.path
    if path is None or total < PARALLEL_READ_FROM:
        return read_part(store, "", [])
    middle = store.db.conn.execute(
        "SELECT case_ref FROM cases WHERE round_id = ? ORDER BY case_ref LIMIT 1 OFFSET ?", [round_id, total // 2]
    ).fetchone()[0]

    def second_half() -> list:
        with AuditStore.open(path, create=False) as reader:
            return read_part(reader, "AND c.case_ref >= ?", [middle])

    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(second_half)
        first = read_part(store, "AND c.case_ref < ?", [middle])
        return first + later.result()


def _read_incomplete(
    store: AuditStore,
    places: dict[int, int],
    cases: list,
    questions: tuple[str, ...],
    answers_of_case: str,
    answer_codes: _AnswerCodes,
) -> dict[int, int]:
    """Fill in the incomplete cases at ``places`` (case id -> index in ``cases``): their codes
    come back with the question ids they answer. Returns the places of any case whose codes
    could not be read so (a reason holding a marker character), to be read answer by answer."""
    unreadable = {}
    for case_id, found in store.db.conn.execute(
        f"""
        SELECT c.id, (SELECT group_concat(code, '') || char(28) || group_concat(question_id, char(29)) FROM ({answers_of_case}))
        FROM cases c WHERE c.id IN (SELECT value FROM json_each(?))
        """,
        [json.dumps(list(places))],
    ):
        if found is None:  # every answer cleared since the first read: left blank
            continue
        place = places[case_id]
        codes, _, ids = found.rpartition("\x1c")  # question ids never hold the separators
        if _REASON_START in codes:
            codes = answer_codes.with_reasons_coded(codes)
        ids = ids.split("\x1d")
        if codes is None or len(codes) != len(ids):
            unreadable[case_id] = place
            continue
        given = dict(zip(ids, codes, strict=False))
        ref, attributes, _ = cases[place]
        cases[place] = (ref, attributes, "".join(map(given.get, questions, itertools.repeat(UNANSWERED))))
    return unreadable


def _read_answer_by_answer(
    store: AuditStore,
    places: dict[int, int],
    cases: list,
    questions: tuple[str, ...],
    answer_codes: _AnswerCodes,
    printed: str,
) -> None:
    """Fill in the cases at ``places`` (case id -> index in ``cases``) from their answers one by one:
    the way round for a case with a not-applicable reason holding a marker character."""
    position = {q: i for i, q in enumerate(questions)}
    filled: dict[int, list[str]] = {}
    for case_id, question_id, text in store.db.conn.execute(
        f"SELECT a.case_id, a.question_id, {printed} FROM answers a"
        " WHERE a.case_id IN (SELECT value FROM json_each(?)) AND a.value IS NOT NULL",
        [json.dumps(list(places))],
    ):
        if question_id in position:
            filled.setdefault(case_id, [UNANSWERED] * len(questions))[position[question_id]] = answer_codes(text)
    for case_id, place in places.items():
        ref, attributes, _ = cases[place]
        cases[place] = (ref, attributes, "".join(filled[case_id]) if case_id in filled else UNANSWERED * len(questions))
