"""A round's cases and answers read once, compactly: the case-level sheet (an XLSX report's, an
export's), and the counts of a report that has one (whole-round counts, case totals, breakdowns)
taken from it; a report without one counts from ``AuditStore.answer_code_block``, with the same
``breakdown_counts``.

Each case is held as its reference, its attribute values and a string with one character
per question in framework order: "Y" Yes, "N" No, "A" N/A, " " unanswered, and for each
distinct other text (a not-applicable reason, "N/A: not on licence") a character of its own.
The strings are the database's own ``cases.answer_codes`` (kept by triggers on every answer:
``audit.store.answer_codes``), so a round is read one row per case, and counting is string
counting, which Python does in C: the figures of a 250,000-case round take a fraction of a
second once its cases are read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

import attrs

from audit.core.attributes import ATTRIBUTE_COLUMNS
from audit.errors import InvalidValue
from audit.store import AuditStore, Round
from audit.store.answer_codes import (
    NO_CODE,
    UNANSWERED_CODE,
    YES_CODE,
    CodeBlock,
    code_bits,
    counts_by_question,
    padded_codes_sql,
)
from audit.store.audit_store import IN_SAMPLE, attribute_sql

CASE_REF_COLUMN = "case_ref"
# the column of a question's notes, beside the question's own column (only for questions with any note)
NOTE_COLUMN_PREFIX = "note:"


def note_column(question_id: str) -> str:
    return NOTE_COLUMN_PREFIX + question_id


# dropped from de-identified tables: dates, exact ages (the young-adult flag stays) and staff names
DEIDENTIFY_DROPS = ("start_date", "age", "practitioner")

PLAIN_ANSWER_CODES = {"Yes": "Y", "No": "N", "N/A": "A", "": " "}
# codes for other texts: supplementary-plane characters, never a plain code
_FIRST_TEXT_CODE, _LAST_TEXT_CODE = 0x10000, 0x10FFFF

# the words for an answer, formatted by SQLite (the same words as format_answer_text)
_PRINTED = (
    "CASE WHEN a.value = 'Not applicable' AND a.reason <> '' THEN 'N/A: ' || a.reason"
    " WHEN a.value = 'Not applicable' THEN 'N/A' ELSE a.value END"
)


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
    def code_block(self) -> CodeBlock:
        """The cases' codes as one block (``audit.store.answer_codes.CodeBlock``), in the table's order:
        what the counts, the case totals and the judgement checks read. A not-applicable reason's code
        is held as "?" there (neither Yes, No nor blank: counted as not applicable)."""
        joined = "".join([codes for _, _, codes in self.cases]).encode("ascii", "replace")
        return CodeBlock(width=len(self.question_ids), cases=len(self.cases), joined=joined)

    def case_totals(self) -> tuple[int, int]:
        """(cases, incomplete cases): a case is incomplete until every question has an answer."""
        return len(self.cases), self.code_block().incomplete()

    def answer_counts(self) -> dict[str, dict]:
        """{question_id: {question_id, yes, no, not_applicable}} for questions with any answer,
        the shape of ``AuditStore.answer_counts``."""
        return self.code_block().counts(self.question_ids, self.question_ids)

    def attribute_values(self, column: str) -> list:
        """One attribute's values, a case after another in the table's order (blank for none)."""
        return list(map(itemgetter(self.attribute_columns.index(column)), map(itemgetter(1), self.cases)))

    def breakdown_counts(
        self, columns: Iterable[str], question_ids: Iterable[str], *, block: CodeBlock | None = None
    ) -> tuple[list[dict], list[dict]]:
        """Answer counts and case counts by each attribute column's values (``breakdown_counts``);
        ``block``: the table's ``code_block()``, when already made."""
        present = [c for c in columns if c in self.attribute_columns]
        block = self.code_block() if block is None else block
        return breakdown_counts(self.question_ids, block, self.attribute_values, present, question_ids)


MASKED_GROUPS = 16
"""An attribute with at most this many values is counted by bit masks (``breakdown_counts``); one with
more (a national round's hundreds of teams) by joining each group's codes."""


def breakdown_counts(
    question_ids: tuple[str, ...],
    block: CodeBlock,
    values_of: Callable[[str], list],
    columns: Iterable[str],
    wanted: Iterable[str],
    *,
    masked_groups: int = MASKED_GROUPS,
) -> tuple[list[dict], list[dict]]:
    """Answer counts and case counts by each attribute column's values: (answer rows {column_name,
    value, question_id, yes, no, not_applicable} of the ``wanted`` questions, case rows {column_name,
    value, cases}). ``values_of(column)``: the column's value for each case of ``block``, in its order.
    A blank value is None, as SQL has it.

    An attribute with at most ``masked_groups`` values (most: sentence type, gender, RoSH level...) is
    counted with numbers that hold a byte per case, 1 or 0 (``code_bits``): one for each value ("this
    case is in the group") and, made once, one for each wanted question's Yes, No and blank; a group's
    count is the 1s two numbers share. One with many values (teams) is counted from each group's codes
    joined."""
    wanted = [q for q in wanted if q in question_ids]
    answer_rows: list[dict] = []
    case_rows: list[dict] = []
    masks: dict[str, tuple[int, int, int]] = {}  # made at the first attribute counted by masks
    rows: list = []  # each case's codes, made at the first attribute counted by joined codes
    for column in columns:
        values = values_of(column)
        if len(values) != block.cases:
            raise ValueError(f"{column}: {len(values)} values for {block.cases} cases")
        distinct = list(dict.fromkeys(values))  # in order of first use
        if len(distinct) <= min(masked_groups, 256):  # a group's number is a byte
            masks = masks or {q: _code_masks(block.columns[question_ids.index(q)]) for q in wanted}
            groups = _groups_by_masks(values, distinct, masks)
        else:
            rows = rows or block.rows()
            groups = _groups_by_joined_codes(question_ids, values, distinct, rows, wanted)
        for value, in_group, counts in groups:
            shown = value or None  # a blank attribute is counted as not recorded
            case_rows.append({"column_name": column, "value": shown, "cases": in_group})
            answer_rows += [{"column_name": column, "value": shown, **c} for c in counts]
    return answer_rows, case_rows


def _groups_by_masks(
    values: list, distinct: list, masks: dict[str, tuple[int, int, int]]
) -> Iterator[tuple[Any, int, list[dict]]]:
    """(value, cases, counts of each wanted question answered) of each group of an attribute with few values."""
    number = {value: n for n, value in enumerate(distinct)}
    group_of = bytes(map(number.__getitem__, values))  # a byte per case: its group's number
    for n, value in enumerate(distinct):
        one_for_n = bytes(n) + b"\x01" + bytes(255 - n)  # 1 where a case is in this group, else 0
        group = int.from_bytes(group_of.translate(one_for_n), "big")
        in_group = group.bit_count()
        counts = []
        for question_id, (yes_mask, no_mask, blank_mask) in masks.items():
            yes, no = (yes_mask & group).bit_count(), (no_mask & group).bit_count()
            not_applicable = in_group - yes - no - (blank_mask & group).bit_count()
            if yes or no or not_applicable:
                counts.append({"question_id": question_id, "yes": yes, "no": no, "not_applicable": not_applicable})
        yield value, in_group, counts


def _groups_by_joined_codes(
    question_ids: tuple[str, ...], values: list, distinct: list, rows: list, wanted: list[str]
) -> Iterator[tuple[Any, int, list[dict]]]:
    """The same, of an attribute with many values: each group's codes joined and counted."""
    groups: dict[object, list] = {value: [] for value in distinct}
    for value, case_codes in zip(values, rows, strict=True):
        groups[value].append(case_codes)
    for value, members in groups.items():
        yield value, len(members), list(counts_by_question(question_ids, members, wanted).values())


def _code_masks(column: bytes | str) -> tuple[int, int, int]:
    """(Yes, No, blank) of one question's codes, each as one number (``code_bits``)."""
    return code_bits(column, YES_CODE), code_bits(column, NO_CODE), code_bits(column, UNANSWERED_CODE)


class _AnswerCodes:
    """The code of each text a sheet shows for an answer. A text met for the first time gets
    the next free code."""

    def __init__(self) -> None:
        self.code_of_text = dict(PLAIN_ANSWER_CODES)
        self._numbers = itertools.count(_FIRST_TEXT_CODE)

    def __call__(self, text: str) -> str:
        code = self.code_of_text.get(text)
        if code is None:
            number = next(self._numbers)
            if number > _LAST_TEXT_CODE:
                raise InvalidValue("this round has more distinct not-applicable reasons than a case table can hold")
            code = self.code_of_text.setdefault(text, chr(number))
        return code

    def words(self) -> dict[str, str]:
        return {code: text for text, code in self.code_of_text.items()}


def read_case_answer_table(
    store: AuditStore,
    round_row: Round,
    *,
    deidentify: bool = False,
) -> CaseAnswerTable:
    """The case sheet of a round, in case-reference order. De-identified: case references become
    salted hashes (and the rows are sorted by them); notes, not-applicable reasons, dates, ages
    and practitioners' names are left out.

    Each case's answers are its ``answer_codes`` (``audit.store.answer_codes``), one row per case;
    the not-applicable reasons come from the answers that have one (a partial index holds them).
    An attribute value is held once however many cases share it (a national round's 250,000 cases
    name a few hundred teams).
    """
    framework = store.framework_for(round_row)
    questions = tuple(framework.question_ids)
    width = len(questions)
    attribute_columns = tuple(c for c in ATTRIBUTE_COLUMNS if not (deidentify and c in DEIDENTIFY_DROPS))
    shared: dict[str, str] = {}
    one_copy = shared.setdefault
    case_ids: list[int] = []
    cases: list[tuple[str, tuple[str, ...], str]] = []
    for row in store.db.conn.execute(
        f"""
        SELECT c.id, c.case_ref, {padded_codes_sql(width)}{"".join(f", {attribute_sql(c)}" for c in attribute_columns)}
        FROM cases c WHERE c.round_id = ? AND {IN_SAMPLE} ORDER BY c.case_ref
        """,
        [round_row.id],
    ):
        case_ids.append(row[0])
        cases.append((row[1], tuple([one_copy(value, value) for value in row[3:]]), row[2]))
    answer_codes = _AnswerCodes()
    if not deidentify:
        _add_reasons(store, round_row, case_ids, cases, questions, answer_codes)
    else:
        salt = store.deidentify_salt()
        cases = sorted(((deidentified_ref(salt, ref), attributes, codes) for ref, attributes, codes in cases), key=itemgetter(0))
    notes = {} if deidentify else read_notes(store, round_row)
    noted = {q for of_case in notes.values() for q in of_case}
    note_questions = tuple(q for q in questions if q in noted)
    return CaseAnswerTable(
        header=(CASE_REF_COLUMN, *attribute_columns, *sheet_question_columns(questions, note_questions)),
        attribute_columns=attribute_columns,
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
    Read through the index of the answers with notes (``audit.store.answer_codes``), never every answer."""
    order = {q: n for n, q in enumerate(store.framework_for(round_row).question_ids)}
    lines = [
        NoteLine(case_ref=case_ref, question=question_id, answer=answer or "", note=note, auditor=auditor or "")
        for case_ref, question_id, answer, note, auditor in store.db.conn.execute(
            f"""
            SELECT c.case_ref, a.question_id, {_PRINTED}, a.note, a.auditor FROM answers a JOIN cases c ON c.id = a.case_id
            WHERE a.round_id = ? AND a.note IS NOT NULL AND a.note <> '' AND {IN_SAMPLE}
            ORDER BY c.case_ref
            """,
            [round_row.id],
        )
    ]
    return sorted(lines, key=lambda line: (line.case_ref, order.get(line.question, len(order))))


def read_notes(store: AuditStore, round_row: Round) -> dict[str, dict[str, str]]:
    """Every note on an answer of the round's sample, by case reference and question id (a note
    stays when its answer is cleared, so a note may stand on an unanswered question). Read through the
    index of the answers with notes (``audit.store.answer_codes``), never every answer."""
    notes: dict[str, dict[str, str]] = {}
    for case_ref, question_id, note in store.db.conn.execute(
        f"""
        SELECT c.case_ref, a.question_id, a.note FROM answers a JOIN cases c ON c.id = a.case_id
        WHERE a.round_id = ? AND a.note IS NOT NULL AND a.note <> '' AND {IN_SAMPLE}
        """,
        [round_row.id],
    ):
        notes.setdefault(case_ref, {})[question_id] = note
    return notes


def _add_reasons(
    store: AuditStore,
    round_row: Round,
    case_ids: list[int],
    cases: list[tuple[str, tuple[str, ...], str]],
    questions: tuple[str, ...],
    answer_codes: _AnswerCodes,
) -> None:
    """Give each not-applicable answer with a reason the code of its words ("N/A: reason"), in place."""
    place_of_case = {case_id: n for n, case_id in enumerate(case_ids)}
    place_of_question = {q: i for i, q in enumerate(questions)}
    reasons: dict[int, list[tuple[int, str]]] = {}
    for case_id, question_id, reason in store.db.conn.execute(
        "SELECT case_id, question_id, reason FROM answers"
        " WHERE round_id = ? AND reason IS NOT NULL AND value = 'Not applicable' AND reason <> ''",
        [round_row.id],
    ):
        n = place_of_case.get(case_id)
        if n is not None and question_id in place_of_question:
            reasons.setdefault(n, []).append((place_of_question[question_id], answer_codes("N/A: " + reason)))
    for n, given in reasons.items():
        case_ref, attributes, codes = cases[n]
        letters = list(codes)
        for place, code in given:
            letters[place] = code
        cases[n] = (case_ref, attributes, "".join(letters))
