"""Importing a sheet: the same import in two copies makes the same events (a merge sees one change, not a
conflict), and the bulk write keeps every guarantee (all or nothing, a history event per answer)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3

import pytest

from audit.errors import SheetError
from audit.sheets.case_sheet import import_sheet
from audit.store import AuditStore, importing
from audit.store.merge import merge_database

UNIT = "Testshire PDU"


def copy_database(source, target):
    with AuditStore.open(source) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(source, target)
    return target


def two_copies_with_a_round(tmp_path, name="S"):
    """One database holding an empty round, and a file copy of it (a laptop's copy)."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with AuditStore.open(a) as store:
        store.create_round(name, UNIT, "hmip-probation-pdu-2021", created_by="qa.lead")
    return a, copy_database(a, b)


def write_sample_file(path):
    """24 cases in the main sample (two strata of 12) and two reserves per stratum, with answers."""
    lines = ["case_ref,sentence_type,stratum,reserve,draw_order,2.1.1,2.1.1a"]
    strata = (("male-licence-low", "A", "Licence", 0), ("male-community-low", "B", "Community order", 100))
    for stratum, letter, sentence, drawn_before in strata:
        for n in range(1, 15):
            reserve = "Yes" if n > 12 else "No"  # each case its own draw order, over the whole sample
            lines.append(f"{letter}1000{n:02d},{sentence},{stratum},{reserve},{drawn_before + n},{'Yes' if n % 3 else 'No'},Yes")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_into(db, sheet, *, auditor="spo.a", name="S"):
    with AuditStore.open(db) as store:
        return import_sheet(store, sheet, store.round(name), auditor=auditor)


def counted_cases_and_statuses(db, name="S"):
    with AuditStore.open(db) as store:
        round_row = store.round(name)
        statuses = {c["case_ref"]: c["sample_status"] for c in store.cases(round_row)}
        return store.sample_progress(round_row.id)[1], statuses, store.conflicts(round_row, open_only=True)


def test_one_sample_file_imported_into_two_copies_merges_without_conflict(tmp_path):
    """Issue 13: copy B swaps a case out; copy A's import of the same file is the same event as B's, so
    merging either way keeps the swap, lists no conflict and counts 24 cases, not 25."""
    a, b = two_copies_with_a_round(tmp_path)
    sheet = write_sample_file(tmp_path / "sample.csv")
    import_into(a, sheet)
    import_into(b, sheet)
    with AuditStore.open(b) as store:
        reserve = store.swap_case(store.round("S"), "A100002", "transferred to another region", by="spo.b")
    assert reserve["case_ref"] == "A100013"
    b_before_merge = tmp_path / "b-before.db"
    copy_database(b, b_before_merge)

    merged_into_b = merge_database(AuditStore.open(b), a, by="spo.b")
    merged_into_a = merge_database(AuditStore.open(a), b_before_merge, by="spo.a")
    assert (merged_into_b.conflicts_found, merged_into_a.conflicts_found) == (0, 0)
    for db in (a, b):
        counted, statuses, conflicts = counted_cases_and_statuses(db)
        assert conflicts == []
        assert (statuses["A100002"], statuses["A100013"]) == ("swapped out", "swapped in")
        assert counted == 24


def test_one_sheet_of_answers_imported_into_two_copies_then_changed_in_one_merges_as_that_change(tmp_path):
    """Issue 13: the same person importing the same answers into two copies makes the same events; a later
    change in one copy is simply the latest value after a merge, in both directions."""
    a, b = two_copies_with_a_round(tmp_path)
    sheet = tmp_path / "answers.csv"
    sheet.write_text("case_ref,team,2.2.1a,2.2.1\nA100001,Blue,Yes,No\nA100002,Red,N/A: no assessment,Yes\n", encoding="utf-8")
    import_into(a, sheet)
    import_into(b, sheet)
    with AuditStore.open(a) as store:
        assert store.record_answer(store.round("S"), "A100001", "2.2.1", "Yes", auditor="spo.a")
    a_before_merge = tmp_path / "a-before.db"
    copy_database(a, a_before_merge)

    into_b = merge_database(AuditStore.open(b), a, by="spo.b")
    into_a = merge_database(AuditStore.open(a), b, by="spo.a")
    assert (into_b.conflicts_found, into_a.conflicts_found) == (0, 0)
    assert into_a.history_added == 0  # b holds nothing a lacks: its import events are a's own
    for db in (a, b):
        with AuditStore.open(db) as store:
            round_row = store.round("S")
            assert store.conflicts(round_row) == []
            case = store.case(round_row, "A100001")
            assert store.answer(case["id"], "2.2.1")["value"] == "Yes"
            assert store.answer(case["id"], "2.2.1a")["value"] == "Yes"
            assert store.check() == []


def test_the_same_sheet_imported_by_another_person_is_another_event(tmp_path):
    """The person is part of an imported event's id: merge refuses an id reused for a different change,
    so two people's imports of one file stay two events (which agree: no conflict)."""
    a, b = two_copies_with_a_round(tmp_path)
    sheet = tmp_path / "answers.csv"
    sheet.write_text("case_ref,2.2.1\nA100001,Yes\n", encoding="utf-8")
    import_into(a, sheet, auditor="spo.a")
    import_into(b, sheet, auditor="spo.b")
    report = merge_database(AuditStore.open(a), b, by="spo.a")
    assert report.history_added == 1 and report.conflicts_found == 0
    with AuditStore.open(a) as store:
        people = {h["auditor"] for h in store.answer_history(store.round("S"))}
    assert people == {"spo.a", "spo.b"}


# ------------------------------------------------------------------ all or nothing, with its history
def dump(db):
    """Every table's rows (content, not bytes: a WAL checkpoint may rewrite pages), and the schema: every
    table, index, trigger and view as written (not where its pages are)."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        found = {t: sorted(map(repr, conn.execute(f"SELECT * FROM [{t}]"))) for t in tables}
        found["schema"] = sorted(map(repr, conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")))
        return found
    finally:
        conn.close()


@pytest.fixture(params=["index kept", "index set aside"])
def event_index(request, monkeypatch):
    """Each bulk write both ways: the history's event-id index written row by row, and (a big import of new
    cases) set aside while the new cases' answers go in and made again before the commit."""
    if request.param == "index set aside":
        monkeypatch.setattr(importing, "SET_ASIDE_AT", 0)
        aside = []
        real = importing._event_index_set_aside

        @contextlib.contextmanager
        def watched(conn, new_events):
            with real(conn, new_events):
                aside.append(
                    conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'answer_history_event'").fetchone()[0] == 0
                )
                yield

        monkeypatch.setattr(importing, "_event_index_set_aside", watched)
        yield aside
        assert any(aside), "the index was never set aside"
    else:
        yield []


def foreign_keys_hold(store):
    """The store's connection enforces foreign keys again, and no row points at a missing case or round."""
    return (
        store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        and store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    )


QUESTIONS = ("2.1.1a", "2.1.1b", "2.1.1", "2.2.1a", "2.2.1")


def big_sheet(path, cases=60, last_cell="Yes", start=0, shift=0):
    lines = [f"case_ref,sentence_type,gender,{','.join(QUESTIONS)}"]
    for n in range(cases):
        cells = [("Yes", "No", "N/A", "N/A: not a licence case", "y")[(n + i + shift) % 5] for i in range(len(QUESTIONS))]
        if n == cases - 1:
            cells[-1] = last_cell
        lines.append(f"C{start + n:06d},Licence,{'Male' if n % 2 else 'Female'},{','.join(cells)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def history_of_every_answer(db):
    conn = sqlite3.connect(db)
    try:
        answers = conn.execute("SELECT count(*) FROM answers").fetchone()[0]
        joined = conn.execute(
            "SELECT count(*) FROM answers a JOIN answer_history h ON h.event_id = a.event_id"
            " AND h.case_id = a.case_id AND h.question_id = a.question_id"
            " AND h.new_value IS a.value AND h.new_reason IS a.reason AND h.new_note IS a.note"
        ).fetchone()[0]
        return answers, joined
    finally:
        conn.close()


def test_an_import_is_all_or_nothing_and_every_answer_has_its_history(tmp_path, event_index):
    db = tmp_path / "a.db"
    with AuditStore.open(db) as store:
        result = import_sheet(store, big_sheet(tmp_path / "first.csv"), "R", unit=UNIT, auditor="spo.a")
        assert foreign_keys_hold(store)
        assert store.check() == []  # includes: every case's answer codes equal its answers
    assert result.answers_changed == 60 * len(QUESTIONS)
    answers, joined = history_of_every_answer(db)
    assert answers == joined == 60 * len(QUESTIONS)
    before = dump(db)
    with AuditStore.open(tmp_path / "new.db"):
        schema = dump(tmp_path / "new.db")["schema"]  # a new database's tables, indexes, triggers and views
    assert before["schema"] == schema

    # a bad cell in the last row: refused whole, nothing written
    with AuditStore.open(db) as store, pytest.raises(SheetError, match="row 61, column H"):
        import_sheet(store, big_sheet(tmp_path / "bad.csv", last_cell="Perhaps", start=1000), store.round("R"), auditor="spo.a")
    assert dump(db) == before

    # a failure while the last row's answers are written (after every other row went in): nothing stays
    with AuditStore.open(db) as store:
        store.db.execute(
            "CREATE TEMP TRIGGER fail_last BEFORE INSERT ON main.answer_history WHEN"
            " NEW.case_id = (SELECT max(id) FROM cases) BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        )
        with pytest.raises(sqlite3.DatabaseError, match="simulated failure"):
            import_sheet(store, big_sheet(tmp_path / "more.csv", start=2000), store.round("R"), auditor="spo.a")
        assert foreign_keys_hold(store)
    assert dump(db) == before

    # a sheet of cases the round holds and new ones: every answer its event, the codes its answers
    with AuditStore.open(db) as store:
        changed = big_sheet(tmp_path / "changed.csv", cases=120, start=0, shift=1)
        result = import_sheet(store, changed, store.round("R"), auditor="spo.b")
        assert (result.cases_added, result.cases_updated) == (60, 60)
        assert foreign_keys_hold(store)
        assert store.check() == []
    assert dump(db)["schema"] == schema  # every index and trigger as it was
    answers, joined = history_of_every_answer(db)
    assert answers == joined == 120 * len(QUESTIONS)

    # importing the same sheet again writes nothing at all
    before = dump(db)
    with AuditStore.open(db) as store:
        again = import_sheet(store, tmp_path / "changed.csv", store.round("R"), auditor="spo.b")
    assert again.answers_changed == 0
    assert dump(db) == before


def test_an_import_settles_an_open_conflict_it_agrees_with(tmp_path, event_index):
    """Two copies answered differently; once merged, importing the other side's value settles the conflict."""
    a, b = two_copies_with_a_round(tmp_path)
    sheet = tmp_path / "s.csv"
    sheet.write_text("case_ref,2.2.1\nA100001,Yes\n", encoding="utf-8")
    import_into(a, sheet)
    copy_database(a, b)
    for db, value, who in ((a, "No", "spo.a"), (b, "Not applicable", "spo.b")):
        with AuditStore.open(db) as store:
            reason = "no risk work needed" if value == "Not applicable" else None
            store.record_answer(store.round("S"), "A100001", "2.2.1", value, reason=reason, auditor=who)
    assert merge_database(AuditStore.open(a), b, by="spo.a").conflicts_found == 1
    with AuditStore.open(a) as store:
        (conflict,) = store.conflicts(store.round("S"))
        other = "No" if conflict["our_value"] == "Not applicable" else "Not applicable"
    cell = "N/A: no risk work needed" if other == "Not applicable" else "No"
    sheet.write_text(f"case_ref,2.2.1\nA100001,{cell}\nA100002,Yes\n", encoding="utf-8")  # and a new case
    result = import_into(a, sheet, auditor="qa.lead")
    assert result.answers_changed == 2
    with AuditStore.open(a) as store:
        round_row = store.round("S")
        assert store.conflicts(round_row) == []
        answer = store.answer(store.case(round_row, "A100001")["id"], "2.2.1")
        assert (answer["value"], answer["auditor"]) == (other, "qa.lead")
        (settled,) = store.conflicts(round_row, open_only=False)
        assert (settled["resolved_by"], settled["kept"]) == ("qa.lead", "theirs")
        assert store.check() == []


def test_an_import_whose_derived_event_id_is_taken_records_its_change_all_the_same(tmp_path):
    """An answer rewritten outside caseaudit to an earlier event can make an import derive an id the history
    holds already: the change is recorded under another id, never refused or lost."""
    db = tmp_path / "a.db"
    yes, no = tmp_path / "yes.csv", tmp_path / "no.csv"
    yes.write_text("case_ref,2.2.1\nA100001,Yes\n", encoding="utf-8")
    no.write_text("case_ref,2.2.1\nA100001,No\n", encoding="utf-8")
    with AuditStore.open(db) as store:
        import_sheet(store, yes, "R", unit=UNIT, auditor="spo.a")
        round_row = store.round("R")
        store.record_answer(round_row, "A100001", "2.2.1", "No", auditor="spo.b")
        shown_no = store.answer(store.case(round_row, "A100001")["id"], "2.2.1")
        import_sheet(store, yes, round_row, auditor="spo.a")
        # someone puts the answer back to the earlier No outside caseaudit; importing Yes again would
        # derive the id of the Yes event just recorded
        store.db.execute(
            "UPDATE answers SET value = 'No', event_id = ?, generation = ?",
            [shown_no["event_id"], shown_no["generation"]],
        )
        again = import_sheet(store, yes, round_row, auditor="spo.a")
        assert again.answers_changed == 1
        history = store.answer_history(round_row, "A100001")
        assert [h["new_value"] for h in history] == ["Yes", "No", "Yes", "Yes"]
        assert len({h["event_id"] for h in history}) == 4
        assert store.answer(store.case(round_row, "A100001")["id"], "2.2.1")["value"] == "Yes"


def test_a_new_case_whose_first_events_the_history_holds_is_refused_in_one_clear_line(tmp_path, event_index, cli):
    """A case renamed outside caseaudit leaves its events under the old reference's ids: importing the
    old sheet again would make the same ids for the "new" case. Nothing is imported, and the line says why
    (it said the database could not be used)."""
    db = tmp_path / "a.db"
    sheet = big_sheet(tmp_path / "sheet.csv", cases=3)
    with AuditStore.open(db) as store:
        import_sheet(store, sheet, "R", unit=UNIT, auditor="spo.a")
        store.db.execute("UPDATE cases SET case_ref = 'RENAMED' WHERE case_ref = 'C000001'")  # outside caseaudit
    before = history_of_every_answer(db)
    result = cli("--db", db, "--auditor", "spo.a", "import", sheet, "--round", "R")
    assert result.code == 2 and "Traceback" not in result.err
    assert "sheet.csv: nothing was imported: the history already holds one of its changes" in result.err
    assert "renamed or deleted outside caseaudit" in result.err and "cannot be used" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert history_of_every_answer(db) == before
    with AuditStore.open(db) as store:
        assert store.db.execute("SELECT count(*) FROM cases WHERE case_ref = 'C000001'").fetchone()[0] == 0


# ------------------------------------------------------------------ reading XLSX text cells quickly, as openpyxl does
@pytest.mark.parametrize(
    "cell,quick",
    [
        ('<c r="B2" t="s"><v>1</v></c>', True),
        ('<c t="s"><v>0</v></c>', True),
        ('<c r="C2" t="s" s="3"><v></v></c>', True),
        ('<c r="D2" t="inlineStr"><is><t>Yes</t></is></c>', True),
        ('<c r="D2" t="inlineStr"><is><t xml:space="preserve"> N/A: no PSR </t></is></c>', True),
        ('<c r="E2" t="inlineStr"><is><t/></is></c>', True),
        ('<c r="F2" t="inlineStr"><is><r><t>Y</t></r><r><rPr><b/></rPr><t>es</t></r></is></c>', False),
        ('<c r="G2" t="inlineStr"><is><t>Ye</t><rPh sb="0" eb="1"><t>x</t></rPh></is></c>', False),
        ('<c r="H2" t="inlineStr"></c>', False),
        ('<c r="I2" t="s"><f>A1</f><v>1</v></c>', False),
        ('<c r="J2" t="inlineStr"><f>"x"</f><is><t>x</t></is></c>', False),
        ('<c r="K2"><v>42</v></c>', False),
        ('<c r="L2" t="str"><v>text</v></c>', False),
    ],
)
def test_a_text_cell_is_read_as_openpyxl_reads_it(cell, quick):
    import io
    from xml.etree.ElementTree import fromstring

    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.worksheet._reader import WorkSheetParser

    from audit.sheets.rows import _parse_text_cell

    namespace = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    element = fromstring(cell.replace("<c ", f'<c xmlns="{namespace}" ', 1))

    def parser():
        made = WorkSheetParser(io.BytesIO(b""), ["No", "Yes"], data_only=False)
        made.row_counter, made.col_counter = 2, 5
        return made

    ours, openpyxls = parser(), parser()
    read = _parse_text_cell(ours, element, coordinate_to_tuple)
    expected = openpyxls.parse_cell(element)
    if read is not None:  # any other cell is left to openpyxl's parse_cell
        assert read == expected and ours.col_counter == openpyxls.col_counter
    else:
        assert ours.col_counter == 5  # nothing consumed
    assert (read is not None) == quick  # the text cells spreadsheets and openpyxl write are read the quick way


def test_an_imported_event_id_is_derived_from_what_happened(tmp_path):
    """Round, case reference, question, parents, new value and person (audit.core.events.stable_event_id)."""
    from audit.core.events import stable_event_id

    db = tmp_path / "a.db"
    sheet = tmp_path / "s.csv"
    sheet.write_text("case_ref,gender,2.2.1,2.2.1a\nA100001,Male,N/A: no PSR prepared,Yes\n", encoding="utf-8")
    with AuditStore.open(db) as store:
        import_sheet(store, sheet, "R", unit=UNIT, auditor="spo.a")
        round_row = store.round("R")
        answers = {h["question_id"]: h["event_id"] for h in store.answer_history(round_row)}
        (gender,) = store.attribute_history(round_row)
    rid = round_row.id
    assert answers == {
        "2.2.1": stable_event_id(
            "import answer", rid, "A100001", "2.2.1", None, "Not applicable", "no PSR prepared", None, "spo.a"
        ),
        "2.2.1a": stable_event_id("import answer", rid, "A100001", "2.2.1a", None, "Yes", None, None, "spo.a"),
    }
    assert gender["event_id"] == stable_event_id("import attribute", rid, "A100001", "gender", None, "Male", "spo.a")


def test_a_long_import_shows_how_far_it_has_got_on_a_terminal(tmp_path, monkeypatch):
    import io
    import itertools
    import sys
    import time

    from audit.cli.rounds import _progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    clock = itertools.count(0, 0.5)  # half a second passes between two looks at the clock
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    sheet = tmp_path / "s.csv"
    sheet.write_text("case_ref,2.2.1\n" + "".join(f"C{n:06d},Yes\n" for n in range(2100)), encoding="utf-8")
    with AuditStore.open(tmp_path / "a.db") as store:
        import_sheet(store, sheet, "R", unit=UNIT, auditor="spo.a", progress=_progress())
    shown = terminal.getvalue()
    assert "\rReading the sheet: 2,000 rows\n" in shown
    assert shown.endswith("\rWriting: 1,000 of 2,100 cases\rWriting: 2,000 of 2,100 cases\rWriting: 2,100 of 2,100 cases\n")


def test_notes_go_in_with_the_bulk_write_and_the_answer_codes_follow_the_answers(tmp_path, event_index):
    """Notes in new and existing cases (a note on a blank answer keeps the answer; a blank note cell erases
    nothing), each in the history; the answer codes, worked out once at the end, equal the answers."""
    db = tmp_path / "a.db"
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(
        "case_ref,2.1.1,note:2.1.1,2.1.1a,note:2.1.1a\nA100001,Yes,seen the OASys,No,\nA100002,,plan overdue,N/A: custody,\n",
        encoding="utf-8",
    )
    second.write_text(
        "case_ref,2.1.1,note:2.1.1,2.1.1a,note:2.1.1a\nA100001,No,,,asked the PO\nA100002,Yes,,,\nA100003,,new case note,Yes,\n",
        encoding="utf-8",
    )
    with AuditStore.open(db) as store:
        import_sheet(store, first, "R", unit=UNIT, auditor="spo.a")
        result = import_sheet(store, second, store.round("R"), auditor="spo.b")
        assert (result.cases_added, result.answers_changed) == (1, 5)
        round_row = store.round("R")
        shown = {
            (ref, question): (a["value"], a["reason"], a["note"])
            for ref in ("A100001", "A100002", "A100003")
            for question in ("2.1.1", "2.1.1a")
            if (a := store.answer(store.case(round_row, ref)["id"], question)) is not None
        }
        assert shown == {
            ("A100001", "2.1.1"): ("No", None, "seen the OASys"),  # the blank note cell kept the note
            ("A100001", "2.1.1a"): ("No", None, "asked the PO"),  # a note on a blank answer kept the answer
            ("A100002", "2.1.1"): ("Yes", None, "plan overdue"),
            ("A100002", "2.1.1a"): ("Not applicable", "custody", None),
            ("A100003", "2.1.1"): (None, None, "new case note"),
            ("A100003", "2.1.1a"): ("Yes", None, None),
        }
        notes_recorded = {
            (r["case_ref"], r["question_id"], r["new_note"], r["auditor"])
            for r in store.db.query(
                "SELECT c.case_ref, h.question_id, h.new_note, h.auditor FROM answer_history h JOIN cases c ON c.id = h.case_id"
                " WHERE h.new_note IS NOT h.old_note"
            )
        }
        assert notes_recorded == {
            ("A100001", "2.1.1", "seen the OASys", "spo.a"),
            ("A100002", "2.1.1", "plan overdue", "spo.a"),
            ("A100001", "2.1.1a", "asked the PO", "spo.b"),
            ("A100003", "2.1.1", "new case note", "spo.b"),
        }
        assert store.check() == []  # includes: every case's answer codes equal its answers
        place = dict(store.db.execute("SELECT question_id, position FROM answer_code_positions").fetchall())
        codes = {
            ref: "".join((text or "").ljust(len(place))[place[q]] for q in ("2.1.1", "2.1.1a"))
            for ref, text in store.db.execute("SELECT case_ref, answer_codes FROM cases")
        }
        assert codes == {"A100001": "NN", "A100002": "YA", "A100003": " Y"}


# ------------------------------------------------------------------ hostile: a history and schema not as caseaudit left them
LARGEST_ROW_ID = 2**63 - 1


def test_new_cases_keep_their_answers_when_the_history_holds_the_largest_row_id(tmp_path, event_index):
    """A history row numbered 2**63 - 1 (written outside caseaudit; check finds nothing wrong with it) makes SQLite
    number the next rows at random: a new case's answers are still every one stored, with its codes."""
    db = tmp_path / "a.db"
    with AuditStore.open(db) as store:
        import_sheet(store, big_sheet(tmp_path / "first.csv", cases=3), "R", unit=UNIT, auditor="spo.a")
        columns = "case_id, question_id, old_value, new_value, old_reason, new_reason, old_note, new_note, auditor, source,"
        columns += " changed_at, based_on, generation"
        store.db.execute(
            f"INSERT INTO answer_history (id, event_id, {columns}) SELECT ?, ?, {columns} FROM answer_history LIMIT 1",
            [LARGEST_ROW_ID, "f" * 32],
        )
        store.db.conn.commit()
        assert store.check() == []
        result = import_sheet(store, big_sheet(tmp_path / "more.csv", cases=60, start=1000), store.round("R"), auditor="spo.b")
        assert result.answers_changed == 60 * len(QUESTIONS)
        assert store.check() == []
    answers, joined = history_of_every_answer(db)
    assert answers == joined == 63 * len(QUESTIONS)


def test_setting_the_event_index_aside_keeps_its_statistics(tmp_path, event_index):
    """A database someone ran ANALYZE on: the index made again keeps its row in sqlite_stat1 (dropping an index
    deletes its statistics), so the import leaves the schema's statistics as they were."""
    db = tmp_path / "a.db"
    with AuditStore.open(db) as store:
        import_sheet(store, big_sheet(tmp_path / "first.csv", cases=20), "R", unit=UNIT, auditor="spo.a")
        store.db.execute("ANALYZE")
        store.db.conn.commit()
        before = store.db.execute("SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx").fetchall()
        assert ("answer_history", "answer_history_event", "100 1") in before
        import_sheet(store, big_sheet(tmp_path / "more.csv", cases=60, start=1000), store.round("R"), auditor="spo.b")
        assert store.db.execute("SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx").fetchall() == before


@pytest.mark.parametrize("index", ["missing", "not unique"])
def test_check_finds_a_history_whose_event_ids_nothing_keeps_unique(tmp_path, index):
    """The import relies on the unique event-id index (a derived id already held fails it whole); one removed or
    made again without UNIQUE outside caseaudit is a finding of check, not silently duplicate events."""
    db = tmp_path / "a.db"
    with AuditStore.open(db) as store:
        import_sheet(store, big_sheet(tmp_path / "first.csv", cases=2), "R", unit=UNIT, auditor="spo.a")
        assert store.check() == []
        store.db.execute("DROP INDEX answer_history_event")
        if index == "not unique":
            store.db.execute("CREATE INDEX answer_history_event ON answer_history(event_id)")
        store.db.conn.commit()
        assert any("answer_history" in p and "event id" in p for p in store.check())
