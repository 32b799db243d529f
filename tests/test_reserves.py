"""A sample's reserves live in the round (listed, never counted); `caseaudit swap` brings one in."""

from __future__ import annotations

import shutil

import attrs
import pytest

from audit.store import AuditStore
from audit.store.case_table import read_case_answer_table
from audit.store.figures import summarise

HEADER = "case_ref,sentence_type,stratum,reserve,draw_order,2.1.1,2.1.1a"
LICENCE, COMMUNITY = "male-licence-low", "male-community-low"  # two of the PDU framework's strata
# (case, sentence type, stratum, reserve, draw order, answer to 2.1.1, answer to 2.1.1a)
SAMPLE = [
    ("A100001", "Licence", LICENCE, "No", 1, "Yes", "Yes"),
    ("A100002", "Licence", LICENCE, "No", 2, "No", "Yes"),
    ("A100003", "Licence", LICENCE, "Yes", 3, "No", "No"),
    ("A100004", "Licence", LICENCE, "Yes", 4, "Yes", ""),
    ("B100001", "Community order", COMMUNITY, "No", 5, "Yes", "No"),
    ("B100002", "Community order", COMMUNITY, "Yes", 6, "", ""),
]


def write_sample(path, rows=SAMPLE, *, sample_columns=True):
    lines = [HEADER if sample_columns else "case_ref,sentence_type,2.1.1,2.1.1a"]
    for ref, sentence, stratum, reserve, order, a, b in rows:
        middle = f"{stratum},{reserve},{order}," if sample_columns else ""
        lines.append(f"{ref},{sentence},{middle}{a},{b}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def plain_round(cli, tmp_path, db_path, name, refs):
    """The same cases and answers as an ordinary case sheet (no sample columns, no reserves)."""
    rows = [r for r in SAMPLE if r[0] in refs]
    result = cli(
        "--db",
        db_path,
        "import",
        write_sample(tmp_path / f"{name}.csv", rows, sample_columns=False),
        "--round",
        name,
        "--unit",
        "Testshire PDU",
    )
    assert result.code == 0, result.err


def figures(store, name):
    r = store.round(name)
    summary = attrs.evolve(summarise(store, r), round="x", round_id="x")
    table = read_case_answer_table(store, r)
    return summary, [(ref, answers) for ref, _, answers in table.cases], store.sample_progress(r.id)


@pytest.fixture
def sampled(cli, tmp_path, db_path):
    result = cli(
        "--db",
        db_path,
        "--auditor",
        "spo.a",
        "import",
        write_sample(tmp_path / "sample.csv"),
        "--round",
        "S",
        "--unit",
        "Testshire PDU",
    )
    assert result.code == 0, result.err
    assert "3 case(s) added" in result.out and "3 reserve case(s) stored as reserves" in result.out
    return db_path


def test_reserves_are_stored_and_listed_but_not_counted(cli, tmp_path, sampled):
    plain_round(cli, tmp_path, sampled, "Plain", {"A100001", "A100002", "B100001"})
    with AuditStore.open(sampled) as store:
        listed = {c["case_ref"]: c for c in store.cases(store.round("S"))}
        assert {ref: (c["sample_status"], c["stratum"], c["draw_order"]) for ref, c in listed.items()} == {
            "A100001": ("main", LICENCE, 1),
            "A100002": ("main", LICENCE, 2),
            "A100003": ("reserve", LICENCE, 3),
            "A100004": ("reserve", LICENCE, 4),
            "B100001": ("main", COMMUNITY, 5),
            "B100002": ("reserve", COMMUNITY, 6),
        }
        assert [ref for ref, c in listed.items() if c["in_sample"]] == ["A100001", "A100002", "B100001"]
        # a reserve's answers are stored (never lost), just not counted
        assert store.answers_for_case(listed["A100003"]["id"])["2.1.1"]["value"] == "No"
        assert figures(store, "S") == figures(store, "Plain")
        by_name = {r["name"]: r for r in store.rounds()}
        assert (by_name["S"]["cases"], by_name["S"]["progress"]) == (by_name["Plain"]["cases"], by_name["Plain"]["progress"])
        assert store.case_totals(store.round("S"), "c.sentence_type = ?", ["Licence"]) == (2, 2)
    # moderation chooses from the sample only, and agreement counts only the cases in it
    too_many = cli("--db", sampled, "moderate", "--round", "S", "--cases", "4", "--seed", "1")
    assert too_many.code == 2 and "the 3 case(s)" in too_many.err
    refused = cli("--db", sampled, "moderate", "--round", "S", "--case", "A100003")
    assert refused.code == 2 and "A100003 is reserve, not in the sample" in refused.err
    agreement_rounds = cli("--db", sampled, "moderate", "--round", "S", "--cases", "3", "--seed", "1")
    assert agreement_rounds.code == 0, agreement_rounds.err
    for ref, value in (("A100001", "Yes"), ("A100002", "No"), ("B100001", "Yes")):
        assert cli("--db", sampled, "answer", "--round", "S moderation", ref, "2.1.1", value).code == 0
    from audit.store.moderation import moderation_of

    with AuditStore.open(sampled) as store:
        moderation = store.moderation_rounds(store.round("S"))[0]
        assert {c["case_ref"] for c in store.cases(moderation)} == {"A100001", "A100002", "B100001"}
        assert moderation_of(store, store.round("S")).agreement.overall.compared == 3
    assert cli("--db", sampled, "swap", "--round", "S", "A100001", "--reason", "in custody").code == 0
    with AuditStore.open(sampled) as store:
        agreement = moderation_of(store, store.round("S")).agreement
        assert (agreement.overall.compared, agreement.overall.agreed) == (2, 2)  # the swapped-out case is not compared


def test_swapping_out_a_case_changes_the_figures_as_removing_it_would(cli, tmp_path, sampled):
    plain_round(cli, tmp_path, sampled, "Expected", {"A100002", "A100003", "B100001"})
    swapped = cli("--db", sampled, "--auditor", "spo.b", "swap", "--round", "S", "a100001", "--reason", "in custody <b>")
    assert swapped.code == 0, swapped.err
    assert swapped.out.count("\n") == 1 and "reserve A100003" in swapped.out and "A100001 swapped out" in swapped.out
    with AuditStore.open(sampled) as store:
        listed = {c["case_ref"]: c for c in store.cases(store.round("S"))}
        assert (listed["A100001"]["sample_status"], listed["A100003"]["sample_status"]) == ("swapped out", "swapped in")
        assert figures(store, "S") == figures(store, "Expected")
        # the swapped-out case's answers are kept
        assert store.answers_for_case(listed["A100001"]["id"])["2.1.1"]["value"] == "Yes"
        events = [
            h for h in store.attribute_history(store.round("S")) if h["attribute"] == "sample_status" and h["source"] == "swap"
        ]
        assert {(h["case_ref"], h["old_value"], h["new_value"], h["changed_by"]) for h in events} == {
            ("A100001", "main", "swapped out", "spo.b"),
            ("A100003", "reserve", "swapped in", "spo.b"),
        }
        assert all("in custody <b>" in h["reason"] for h in events)
    history = cli("--db", sampled, "history", "--round", "S", "--case", "A100001")
    assert "main -> swapped out" in history.out and "spo.b" in history.out and "reason: in custody <b>" in history.out
    # importing the sample file again does not undo the swap
    again = cli("--db", sampled, "import", tmp_path / "sample.csv", "--round", "S")
    assert again.code == 0, again.err
    with AuditStore.open(sampled) as store:
        assert figures(store, "S") == figures(store, "Expected")


def test_swap_refuses_in_one_line(cli, sampled):
    def refused(*args):
        result = cli("--db", sampled, "swap", "--round", "S", *args)
        assert result.code == 2 and result.err.strip().count("\n") == 0, result
        return result.err

    assert "no case" in refused("Z999999", "--reason", "gone")
    assert "is a reserve" in refused("A100003", "--reason", "gone")
    assert "needs a reason" in refused("A100001", "--reason", "  ")
    assert cli("--db", sampled, "swap", "--round", "S", "B100001", "--reason", "moved").code == 0
    assert f"no reserve left in stratum {COMMUNITY!r}" in refused("B100002", "--reason", "moved too")
    assert "already been swapped out" in refused("B100001", "--reason", "again")
    assert cli("--db", sampled, "finalise", "--round", "S").code == 0
    assert "finalised" in refused("A100001", "--reason", "in custody")
    with AuditStore.open(sampled) as store:
        statuses = {c["case_ref"]: c["sample_status"] for c in store.cases(store.round("S"))}
    assert statuses["A100001"] == "main" and statuses["A100003"] == "reserve"


def test_swapping_again_a_case_whose_reserve_was_itself_swapped_out_says_it_is_already_swapped_out(cli, tmp_path, sampled):
    """A100001 out (A100003 in), then A100003 out (A100004 in): every swapped-out case has had its reserve, so
    swapping A100001 again is 'already swapped out', not 'no reserve left' (nor a reserve brought in), and a
    merge of these swaps warns of no case left without a reserve."""
    earlier = tmp_path / "earlier.db"
    assert cli("--db", sampled, "backup", earlier).code == 0
    assert cli("--db", sampled, "swap", "--round", "S", "A100001", "--reason", "in custody").code == 0
    assert cli("--db", sampled, "swap", "--round", "S", "A100003", "--reason", "moved area").code == 0
    again = cli("--db", sampled, "swap", "--round", "S", "A100001", "--reason", "again")
    assert again.code == 2 and "case A100001 has already been swapped out" in again.err, again
    merged = cli("--db", earlier, "merge", sampled)
    assert merged.code == 0 and "no reserve in their place" not in merged.out, merged


def test_a_swap_travels_in_a_merge(cli, tmp_path, sampled):
    theirs = tmp_path / "theirs.db"
    with AuditStore.open(sampled) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(sampled, theirs)
    assert cli("--db", theirs, "--auditor", "spo.c", "swap", "--round", "S", "A100002", "--reason", "transferred").code == 0
    merged = cli("--db", sampled, "merge", theirs)
    assert merged.code == 0, merged.err
    with AuditStore.open(sampled) as store:
        listed = {c["case_ref"]: c for c in store.cases(store.round("S"))}
        assert (listed["A100002"]["sample_status"], listed["A100003"]["sample_status"]) == ("swapped out", "swapped in")
        reasons = {
            h["case_ref"]: (h["changed_by"], h["reason"])
            for h in store.attribute_history(store.round("S"))
            if h["source"] == "swap"
        }
        assert reasons["A100002"] == ("spo.c", "transferred")
        assert store.check() == []
    assert "Nothing new" in cli("--db", theirs, "merge", sampled).out


async def test_cases_screen_marks_reserves_and_swaps_with_a_reason(sampled):
    from audit.tui.app import CaseAuditApp
    from audit.tui.screens.cases import CasesScreen

    app = CaseAuditApp(sampled, round_name="S", auditor="spo.tui")
    async with app.run_test(size=(100, 32)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CasesScreen)
        table = screen.query_one("#cases")
        assert table.row_count == 6
        count = str(screen.query_one("#cases-count").render())
        assert "6 of 3 cases shown (+3 not in the sample: 3 reserve(s))" in count
        rows = {key: values for key, values in screen_rows(screen)}
        assert rows["A100003"][-1] == "reserve" and rows["A100001"][-1] != "reserve"
        assert sum(1 for values in rows.values() if values[-1] == "reserve") == 3
        table.move_cursor(0)  # A100001
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("enter")  # a reason is required: nothing happens without one
        await pilot.pause()
        for char in "died":
            await pilot.press(char)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        rows = {key: values for key, values in screen_rows(screen)}
        assert rows["A100001"][-1] == "swapped out"
        assert rows["A100003"][-1] == "swapped in"
        assert "swapped out" in screen_text(app)
    with AuditStore.open(sampled) as store:
        events = [h for h in store.attribute_history(store.round("S")) if h["source"] == "swap"]
        assert {(h["case_ref"], h["new_value"], h["changed_by"]) for h in events} == {
            ("A100001", "swapped out", "spo.tui"),
            ("A100003", "swapped in", "spo.tui"),
        }
        assert events[0]["reason"].endswith("died")


def screen_rows(screen):
    table = screen.query_one("#cases")
    return [(values[0], values) for values in table._cells]


def screen_text(app) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")


def test_report_says_how_the_sample_was_drawn_in_every_format(cli, tmp_path, db_path):
    import io

    import openpyxl

    from audit.reports.html import render_html
    from audit.reports.markdown import render_markdown_report
    from audit.reports.model import build_report
    from audit.reports.xlsx import render_xlsx

    hostile = "=HYPERLINK(1) <b>|x</b>"
    assert cli("--db", db_path, "import", write_sample(tmp_path / "s.csv"), "--round", "S", "--unit", "U").code == 0
    with AuditStore.open(db_path) as store:  # a stratum of any text, as a copy from before strata were checked could bring
        store.db.execute("UPDATE cases SET stratum = ? WHERE stratum = ?", [hostile, COMMUNITY])
    plain_round(cli, tmp_path, db_path, "Plain", {"A100001", "A100002", "B100001"})
    assert cli("--db", db_path, "swap", "--round", "S", "A100001", "--reason", "in custody").code == 0
    with AuditStore.open(db_path) as store:
        assert build_report(store, store.round("Plain"), case_level=False).sample is None
        report = build_report(store, store.round("S"), case_level=False)
    assert "How the sample was drawn" not in render_markdown_report(attrs.evolve(report, sample=None))
    assert [(s.stratum, s.in_sample, s.reserves_used, s.swaps, s.reserves_left) for s in report.sample.strata] == [
        (hostile, 1, 0, 0, 1),
        (LICENCE, 2, 1, 1, 1),
    ]
    markdown = render_markdown_report(report)
    assert "## How the sample was drawn" in markdown
    assert f"| {LICENCE} | 2 | 1 | 1 | 1 |" in markdown and "| All strata | 3 | 1 | 1 | 2 |" in markdown
    assert "<b>" not in markdown and "\\|x" in markdown
    page = render_html(report)
    assert 'id="sample"' in page and "<b>|x</b>" not in page and "&lt;b&gt;" in page
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))
    cells = [[c.value for c in row] for row in book["Sample"].iter_rows()]
    assert cells[0][0] == "Stratum" and [LICENCE, 2, 1, 1, 1, 0] in cells
    assert all(cell.data_type == "s" for cell in book["Sample"]["A"][1:])  # a stratum is text, never a formula


def test_copies_that_swapped_in_the_same_reserve_are_told_and_can_bring_in_the_next(cli, tmp_path, sampled):
    theirs = tmp_path / "theirs.db"
    with AuditStore.open(sampled) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(sampled, theirs)
    assert cli("--db", sampled, "swap", "--round", "S", "A100001", "--reason", "x").code == 0
    assert cli("--db", theirs, "swap", "--round", "S", "A100002", "--reason", "y").code == 0
    merged = cli("--db", sampled, "merge", theirs)
    assert merged.code == 0 and f"stratum {LICENCE!r}: 1 swapped-out case(s) have no reserve in their place" in merged.out
    with AuditStore.open(sampled) as store:
        assert store.case_totals(store.round("S"))[0] == 2  # A100003 and B100001: the sample is one short
    again = cli("--db", sampled, "swap", "--round", "S", "A100002", "--reason", "y")
    assert again.code == 0 and "reserve A100004" in again.out, again
    with AuditStore.open(sampled) as store:
        listed = {c["case_ref"]: c["sample_status"] for c in store.cases(store.round("S"))}
        assert store.case_totals(store.round("S"))[0] == 3
    assert listed == {
        "A100001": "swapped out",
        "A100002": "swapped out",
        "A100003": "swapped in",
        "A100004": "swapped in",
        "B100001": "main",
        "B100002": "reserve",
    }
    assert "already been swapped out" in cli("--db", sampled, "swap", "--round", "S", "A100002", "--reason", "z").err


def test_an_import_never_changes_how_a_case_was_drawn(cli, tmp_path, sampled):
    """A sheet that marks a main-sample case a reserve (or a reserve main, or another stratum) is refused
    whole: moving a case in or out of the figures takes a swap and its reason."""
    from tests.test_sheets import db_state

    before = db_state(sampled)
    for changed in (
        [(*SAMPLE[0][:3], "Yes", *SAMPLE[0][4:])],  # A100001: main -> reserve
        [(*SAMPLE[2][:3], "No", *SAMPLE[2][4:])],  # A100003: reserve -> main
        [(SAMPLE[0][0], SAMPLE[0][1], COMMUNITY, *SAMPLE[0][3:])],  # A100001: another stratum
    ):
        refused = cli("--db", sampled, "import", write_sample(tmp_path / "changed.csv", changed), "--round", "S")
        assert refused.code == 2 and "An import does not change" in refused.err, refused
        assert db_state(sampled) == before
    # an ordinary round: an answered case cannot become a reserve by importing a sample file over it
    plain_round(cli, tmp_path, sampled, "Plain", {"A100001"})
    refused = cli(
        "--db", sampled, "import", write_sample(tmp_path / "r.csv", [(*SAMPLE[0][:3], "Yes", *SAMPLE[0][4:])]), "--round", "Plain"
    )
    assert refused.code == 2 and "already in the round as main" in refused.err, refused


def test_a_reserve_without_a_stratum_is_refused(cli, tmp_path, db_path):
    rows = [SAMPLE[0], (SAMPLE[2][0], SAMPLE[2][1], "", *SAMPLE[2][3:])]
    refused = cli("--db", db_path, "import", write_sample(tmp_path / "s.csv", rows), "--round", "S", "--unit", "U")
    assert refused.code == 2 and "reserve case A100003 has no stratum" in refused.err, refused


def test_chained_swaps_count_every_reserve_used_and_answers_to_uncounted_cases_say_so(cli, sampled):
    """A reserve swapped in and later swapped out itself was still used: the report counts reserves from the
    history, not from who is in now. A reason of invisible characters is no reason; answering a case that is not
    counted says so."""
    from audit.reports.model import build_report

    assert cli("--db", sampled, "swap", "--round", "S", "A100001", "--reason", "in custody").code == 0
    zero_width = cli("--db", sampled, "swap", "--round", "S", "A100003", "--reason", "\u200b\u2060\u00a0")
    assert zero_width.code == 2 and "needs a reason" in zero_width.err
    again = cli("--db", sampled, "swap", "--round", "S", "A100003", "--reason", "moved area")  # the reserve goes too
    assert again.code == 0 and "reserve A100004 (draw 4) comes in" in again.out
    with AuditStore.open(sampled) as store:
        report = build_report(store, store.round("S"), case_level=False)
    licence = next(s for s in report.sample.strata if s.stratum == LICENCE)
    assert (licence.in_sample, licence.reserves_used, licence.swaps, licence.reserves_left) == (2, 2, 2, 0)
    counted = cli("--db", sampled, "answer", "--round", "S", "A100004", "2.1.1", "Yes")
    assert counted.code == 0 and counted.err == ""
    uncounted = cli("--db", sampled, "answer", "--round", "S", "A100001", "2.1.1", "No")
    assert uncounted.code == 0 and "A100001 is swapped out: its answers are kept but not counted" in uncounted.err


def test_a_rounds_export_imports_back_into_it_after_a_swap(cli, tmp_path, sampled):
    """An export has no sample columns: importing it back leaves every case's place in the sample as it is
    (the swapped-in reserve stays swapped in) and changes nothing."""
    from tests.test_sheets import db_state

    assert cli("--db", sampled, "swap", "--round", "S", "A100001", "--reason", "in custody").code == 0
    exported = cli("--db", sampled, "export", "--round", "S", tmp_path / "back.csv")
    assert exported.code == 0, exported.err
    before = db_state(sampled)
    again = cli("--db", sampled, "import", tmp_path / "back.csv", "--round", "S")
    assert again.code == 0 and "nothing changed" in again.out, again
    assert db_state(sampled) == before


def test_draw_orders_are_whole_numbers_in_ascii_digits_and_each_cases_own(cli, tmp_path, sampled):
    """A draw order of other digits ("²", "１") would be stored as text and sort after every number, so a swap
    would bring in the wrong reserve; two cases with one draw order leave which reserve is next to chance."""
    from tests.test_sheets import db_state

    with AuditStore.open(sampled) as store:  # stored as numbers, so the lowest really is the next reserve
        assert {r["t"] for r in store.db.query("SELECT typeof(draw_order) AS t FROM cases")} == {"integer"}
    before = db_state(sampled)
    new = ("C100001", "Licence", LICENCE, "Yes")
    for rows, expected in (
        ([(*new, "²", "", "")], "row 2, column E (draw_order): '²' is not a draw order"),
        ([(*new, "１", "", "")], "row 2, column E (draw_order): '１' is not a draw order"),
        (
            [(*new, 7, "", ""), ("C100002", "Licence", LICENCE, "Yes", 7, "", "")],
            "row 3, column E (draw_order): draw order 7 is also case C100001's (row 2)",
        ),
        ([(*new, 3, "", "")], "row 2, column E (draw_order): draw order 3 is already case A100003's"),
    ):
        refused = cli("--db", sampled, "import", write_sample(tmp_path / "more.csv", rows), "--round", "S")
        assert refused.code == 2 and expected in refused.err, refused
        assert db_state(sampled) == before
    fine = cli("--db", sampled, "import", write_sample(tmp_path / "more.csv", [(*new, 7, "", "")]), "--round", "S")
    assert fine.code == 0, fine


def test_a_stratum_is_one_of_the_rounds_frameworks_whatever_its_case(cli, tmp_path, db_path):
    rows = [
        ("A100001", "Licence", "FEMALE", "No", 1, "", ""),
        ("A100002", "Licence", "Female", "Yes", 2, "", ""),
        ("A100003", "Licence", "female", "Yes", 3, "", ""),
        ("A100004", "Licence", '"Male, post-custody, low RoSH"', "No", 4, "", ""),  # its name, as the framework gives it
    ]
    result = cli("--db", db_path, "import", write_sample(tmp_path / "s.csv", rows), "--round", "S", "--unit", "U")
    assert result.code == 0, result
    with AuditStore.open(db_path) as store:
        stored = {c["case_ref"]: c["stratum"] for c in store.cases(store.round("S"))}
    assert stored == {"A100001": "female", "A100002": "female", "A100003": "female", "A100004": LICENCE}
    assert "A100002" in cli("--db", db_path, "swap", "--round", "S", "A100001", "--reason", "moved").out
    unknown = [("B100001", "Licence", "licence", "No", 9, "", "")]
    refused = cli("--db", db_path, "import", write_sample(tmp_path / "u.csv", unknown), "--round", "S")
    assert refused.code == 2, refused
    assert "row 2, column C (stratum): 'licence' is not a stratum of hmip-probation-pdu-2021" in refused.err
    assert "female, male-community-low" in refused.err
    youth = cli(
        "--db", db_path, "import", write_sample(tmp_path / "y.csv", rows[:1]), "--round", "Y", "--unit", "U",
        "--framework", "hmip-youth-2021",
    )  # fmt: skip
    assert youth.code == 2 and "column C (stratum): framework hmip-youth-2021" in youth.err and "defines no strata" in youth.err


def test_the_report_keeps_swaps_of_removed_cases_and_says_when_a_stratum_is_short(cli, tmp_path, sampled):
    """A swap stays a swap when its case is later removed; a stratum whose swapped-in reserve is removed (here,
    or in another copy merged in) is a case short of its draw, and the report and the merge say so."""
    from audit.reports.markdown import render_markdown_report
    from audit.reports.model import build_report

    def lines(db):
        with AuditStore.open(db) as store:
            report = build_report(store, store.round("S"), case_level=False)
        found = {s.stratum: (s.in_sample, s.reserves_used, s.swaps, s.reserves_left, s.short) for s in report.sample.strata}
        return found, report

    theirs = tmp_path / "theirs.db"
    assert cli("--db", sampled, "backup", theirs).code == 0
    assert cli("--db", sampled, "swap", "--round", "S", "B100001", "--reason", "in custody").code == 0
    assert cli("--db", sampled, "remove-case", "--round", "S", "B100001", "--reason", "a duplicate").code == 0
    assert lines(sampled)[0][COMMUNITY] == (1, 1, 1, 0, 0)
    # one copy swaps a case out, the other removes the reserve it brought in: merged, the stratum is a case short
    assert cli("--db", sampled, "swap", "--round", "S", "A100001", "--reason", "in custody").code == 0
    assert cli("--db", theirs, "remove-case", "--round", "S", "A100003", "--reason", "added by mistake").code == 0
    merged = cli("--db", sampled, "merge", theirs)
    assert merged.code == 0 and "1 swapped-out case(s) have no reserve in their place" in merged.out, merged
    assert "or a reserve swapped in was removed" in merged.out
    found, report = lines(sampled)
    assert found[LICENCE] == (1, 1, 1, 1, 1)
    markdown = render_markdown_report(report)
    assert "| Stratum | Cases in the sample | Reserves used | Swaps | Reserves not used | Cases short |" in markdown
    assert f"| {LICENCE} | 1 | 1 | 1 | 1 | 1 |" in markdown
