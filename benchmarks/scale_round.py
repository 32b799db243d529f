"""A national-scale round for benchmarks/scale.py: the same cases as a case sheet (to time `caseaudit import`)
or written straight into a caseaudit database through its schema (to build 250,000 cases in minutes).

Both come from one seeded description of the round, so a round imported from the sheet and one written
directly hold the same cases, attributes and answers, and give the same figures. The direct writer
records what an import records: each case's attributes as first events in ``attribute_history``, each
answer as a first event in ``answer_history`` (based on nothing, generation 1) with the current answer
naming that event. `caseaudit check` passes on it (tests/test_scale_round.py checks so).

The round: the PDU framework (hmip-probation-pdu-2021), every key question and prompt answered (74 a
case; the 3 data items are left blank, as benchmarks/import_rate.py leaves them) in the proportions
6 Yes : 3 No : 1 Not applicable for the prompts (half the N/As with a reason) and each key question judged
from its prompts (Yes when most relevant prompts are Yes; a few judged the other way, to check), and a
realistic mix of attributes (sentence types, RoSH levels, gender, ethnicity, ages with the young-adult
flag, MAPPA, IOM, grades, about 40 cases per practitioner and 10 practitioners per team).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

FRAMEWORK_ID = "hmip-probation-pdu-2021"
AUDITOR = "scale-bench"
REASONS = (
    "No pre-sentence report prepared in the PDU",
    "Not a licence case",
    "No identifiable victim",
    "No breach or recall required",
    "Accommodation not linked to offending",
)
ANSWER_PATTERNS = 997  # distinct ways a case is answered; each case takes one at random
START = dt.date(2021, 2, 1)


def _weighted(rng: random.Random, options: dict[str, int]) -> str:
    return rng.choices(list(options), list(options.values()))[0]


def case_attributes(rng: random.Random, n: int, cases: int) -> dict[str, str]:
    """One case's attributes, as a case sheet would give them (young_adult derived from the age)."""
    practitioners = max(1, cases // 40)
    practitioner = rng.randrange(practitioners)
    age = rng.choices(range(18, 76), [3 if a <= 25 else 2 if a <= 40 else 1 for a in range(18, 76)])[0]
    return {
        "sentence_type": _weighted(
            rng, {"Community order": 40, "Suspended sentence order": 22, "Licence": 30, "Post-sentence supervision": 8}
        ),
        "start_date": (START + dt.timedelta(days=rng.randrange(365))).isoformat(),
        "rosh_level": _weighted(rng, {"Low": 30, "Medium": 50, "High": 18, "Very high": 2}),
        "gender": _weighted(rng, {"Male": 85, "Female": 14, "Not stated": 1}),
        "ethnicity": _weighted(rng, {"White": 74, "Black": 9, "Asian": 8, "Mixed": 5, "Other": 2, "Not stated": 2}),
        "age": str(age),
        "young_adult": "Yes" if age <= 25 else "No",
        "mappa_level": _weighted(rng, {"None": 88, "1": 9, "2": 2, "3": 1}),
        "iom": _weighted(rng, {"No": 90, "Yes": 10}),
        "practitioner": f"Practitioner {practitioner:04d}",
        "practitioner_grade": _weighted(rng, {"PO": 60, "PSO": 30, "PQiP": 8, "SPO": 2}),
        "team": f"Team {practitioner // 10:03d}",
    }


def answer_patterns(question_ids: tuple[str, ...], seed: int) -> list[list[tuple[str | None, str | None]]]:
    """ANSWER_PATTERNS ways of answering the framework: (value, reason), both None for a data item (left
    blank), per question in framework order."""
    from framework import load_framework

    framework = load_framework(FRAMEWORK_ID)
    prompts_of = {kq.id: [p.id for p in kq.prompts] for kq in framework.key_questions}
    answered = set(answered_questions())
    rng = random.Random(seed * 7919 + 1)
    patterns = []
    for number in range(ANSWER_PATTERNS):
        given: dict[str, tuple[str | None, str | None]] = {}
        for question in question_ids:
            if question not in answered:
                given[question] = (None, None)
            elif question not in prompts_of:  # a prompt: 6 Yes : 3 No : 1 N/A, half the N/As with a reason
                value = rng.choices(("Yes", "No", "Not applicable"), (6, 3, 1))[0]
                given[question] = (value, rng.choice(REASONS) if value == "Not applicable" and rng.random() < 0.5 else None)
        for kq, prompts in prompts_of.items():
            # a key question is a judgement on its prompts: Yes when most relevant prompts are (1 pattern in
            # 100 judges one the other way: a few judgements to check, as a real round has)
            relevant = [given[p][0] for p in prompts if given[p][0] in ("Yes", "No")]
            if prompts and not relevant:
                given[kq] = ("Not applicable", rng.choice(REASONS))
            elif prompts:
                judged_yes = relevant.count("Yes") * 2 >= len(relevant)
                if number % 100 == 0 and kq == framework.key_questions[number % len(framework.key_questions)].id:
                    judged_yes = not judged_yes
                given[kq] = ("Yes" if judged_yes else "No", None)
            else:
                given[kq] = (rng.choices(("Yes", "No"), (2, 1))[0], None)
        patterns.append([given[q] for q in question_ids])
    return patterns


def describe_round(cases: int, seed: int = 14) -> Iterator[tuple[str, dict[str, str], int]]:
    """(case reference, attributes, answer pattern number) for each case, the same for the same seed."""
    rng = random.Random(seed)
    for n in range(cases):
        yield f"X{n:06d}", case_attributes(rng, n, cases), rng.randrange(ANSWER_PATTERNS)


def question_ids() -> tuple[str, ...]:
    """Every question of the framework, in its order (the case sheet's columns)."""
    from framework import load_framework

    return tuple(load_framework(FRAMEWORK_ID).question_ids)


def answered_questions() -> tuple[str, ...]:
    """The key questions and prompts: the questions each case answers."""
    from framework import load_framework
    from framework.model import QuestionKind

    framework = load_framework(FRAMEWORK_ID)
    return tuple(q for q in framework.question_ids if framework.question(q).kind is not QuestionKind.DATA_ITEM)


def write_case_sheet(path: Path, cases: int, seed: int = 14) -> int:
    """The round as a case sheet (CSV) for `caseaudit import`; returns the number of answers in it."""
    from audit.core.attributes import ATTRIBUTE_COLUMNS

    questions = question_ids()
    patterns = answer_patterns(questions, seed)
    texts = [
        [value if value != "Not applicable" else f"N/A: {reason}" if reason else "N/A" for value, reason in p] for p in patterns
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_ref", *ATTRIBUTE_COLUMNS, *questions])
        for case_ref, attributes, pattern in describe_round(cases, seed):
            writer.writerow([case_ref, *(attributes[c] for c in ATTRIBUTE_COLUMNS), *texts[pattern]])
    return cases * len(answered_questions())


def build_round_directly(path: Path, cases: int, *, name: str = "Scale", seed: int = 14) -> int:
    """Write the round into a new caseaudit database at ``path`` through its schema, as an import of
    write_case_sheet's sheet would record it. Returns the number of answers written.

    The database is made by caseaudit (schema, markers, the round); then one connection writes the
    cases, their attribute events and their answers with their events, in primary-key order, with
    synchronous writes off (a benchmark's file: a crash while building it is simply built again)."""
    from audit.core.attributes import ATTRIBUTE_COLUMNS
    from audit.store import AuditStore, now
    from audit.store.answer_codes import CODE_OF_VALUE

    with AuditStore.open(path) as store:
        round_row = store.create_round(name, f"{name} PDU", FRAMEWORK_ID, created_by=AUDITOR)
    questions = question_ids()
    patterns = answer_patterns(questions, seed)
    stamp = now()
    source = f"import:{name.lower()}.csv"
    prefix = secrets.token_hex(8)  # 16 hex digits; with a kind and a 15-digit counter, a 32-character event id
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -400000")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("BEGIN")
        # each case's answer codes are written with the case (as the triggers on answers would leave them),
        # so the triggers are set aside while the answers go in, and made again from their own SQL
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'answers'").fetchall()
        for trigger_name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{trigger_name}"')
        conn.execute("CREATE TEMP TABLE question (position INTEGER PRIMARY KEY, question_id TEXT NOT NULL, event TEXT NOT NULL)")
        # numbered in the order SQLite sorts the ids: the answers table's own (case, question id) order
        rank = {q: i for i, q in enumerate(sorted(questions))}
        conn.executemany("INSERT INTO question VALUES (?, ?, ?)", ((rank[q], q, f"{rank[q]:02x}") for q in questions))
        conn.execute(
            "CREATE TEMP TABLE pattern_answer (pattern INTEGER, position INTEGER, value TEXT, reason TEXT,"
            " PRIMARY KEY (pattern, position)) WITHOUT ROWID"
        )
        conn.executemany(
            "INSERT INTO pattern_answer VALUES (?, ?, ?, ?)",
            (
                (p, rank[q], v, r)
                for p, pattern in enumerate(patterns)
                for q, (v, r) in zip(questions, pattern, strict=True)
                if v is not None  # a data item: left blank, no answer row
            ),
        )
        # each case's answer pattern and the start of its answers' event ids (the question's number ends them)
        conn.execute(
            "CREATE TEMP TABLE case_pattern (case_id INTEGER PRIMARY KEY, pattern INTEGER NOT NULL, event TEXT NOT NULL)"
        )
        columns = ", ".join(ATTRIBUTE_COLUMNS)
        marks = ", ".join("?" for _ in ATTRIBUTE_COLUMNS)
        first = (conn.execute("SELECT coalesce(max(id), 0) FROM cases").fetchone()[0]) + 1
        codes = ["".join(CODE_OF_VALUE.get(value or "", " ") for value, _ in pattern) for pattern in patterns]
        rows = []
        patterns_of = []
        for n, (case_ref, attributes, pattern) in enumerate(describe_round(cases, seed)):
            rows.append((first + n, round_row.id, case_ref, *(attributes[c] for c in ATTRIBUTE_COLUMNS), stamp, codes[pattern]))
            patterns_of.append((first + n, pattern, f"{prefix}0{first + n:013x}"))
        conn.executemany(
            f"INSERT INTO cases (id, round_id, case_ref, {columns}, created_at, answer_codes) VALUES (?, ?, ?, {marks}, ?, ?)",
            rows,
        )
        conn.executemany("INSERT INTO case_pattern VALUES (?, ?, ?)", patterns_of)
        del rows, patterns_of
        # each attribute a first event, as upsert_case records a new case's attributes
        conn.execute("CREATE TEMP TABLE attribute (position INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.executemany("INSERT INTO attribute VALUES (?, ?)", enumerate(ATTRIBUTE_COLUMNS))
        value_of = "CASE a.name " + " ".join(f"WHEN '{c}' THEN c.{c}" for c in ATTRIBUTE_COLUMNS) + " END"
        conn.execute(
            f"""
            INSERT INTO attribute_history (event_id, case_id, attribute, old_value, new_value, based_on, generation,
                                           changed_by, source, changed_at, reason)
            SELECT printf('%s1%015x', ?, c.id * 64 + a.position), c.id, a.name, NULL, {value_of}, NULL, 1, ?, ?, ?, NULL
            FROM cases c JOIN attribute a WHERE c.round_id = ? AND {value_of} IS NOT NULL ORDER BY c.id, a.position
            """,
            [prefix, AUDITOR, source, stamp, round_row.id],
        )
        # each answer a first event, and the current answer naming it (as _write_answer records them)
        event = "p.event || q.event"
        answers_of_round = """
            FROM case_pattern p JOIN question q JOIN pattern_answer pa ON pa.pattern = p.pattern AND pa.position = q.position
        """
        conn.execute(
            f"""
            INSERT INTO answer_history (event_id, case_id, question_id, old_value, new_value, old_reason, new_reason,
                                        old_note, new_note, auditor, source, changed_at, based_on, generation)
            SELECT {event}, p.case_id, q.question_id, NULL, pa.value, NULL, pa.reason, NULL, NULL, ?, ?, ?, NULL, 1
            {answers_of_round} ORDER BY p.case_id, pa.position
            """,
            [AUDITOR, source, stamp],
        )
        conn.execute(
            f"""
            INSERT INTO answers (case_id, question_id, round_id, value, reason, note, auditor, answered_at, event_id, heads, generation)
            SELECT p.case_id, q.question_id, ?, pa.value, pa.reason, NULL, ?, ?, {event}, NULL, 1
            {answers_of_round} ORDER BY p.case_id, pa.position
            """,
            [round_row.id, AUDITOR, stamp],
        )
        for _, trigger_sql in triggers:
            conn.execute(trigger_sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return cases * len(answered_questions())
