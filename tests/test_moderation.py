"""Moderation: blind second marking, agreement and Cohen's kappa."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.core.moderation import CATEGORIES, cohens_kappa, compare_markings, kappa_text, landis_koch

Y, N, NA = CATEGORIES


def pairs_from_table(table: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [pair for pair, count in table.items() for _ in range(count)]


# ------------------------------------------------------------------ kappa by hand
def test_kappa_two_by_two_by_hand():
    #              second Yes  second No   | first's total
    # first Yes         4          1       |  5
    # first No          1          4       |  5
    # second's total    5          5       | 10
    # p_o = (4 + 4) / 10 = 0.8
    # p_e = (5 * 5 + 5 * 5) / 10² = 50 / 100 = 0.5
    # κ = (0.8 − 0.5) / (1 − 0.5) = 0.3 / 0.5 = 0.6  -> "moderate" (0.41–0.60)
    kappa = cohens_kappa(pairs_from_table({(Y, Y): 4, (Y, N): 1, (N, Y): 1, (N, N): 4}))
    assert kappa is not None
    assert kappa.observed == Fraction(4, 5) and kappa.expected == Fraction(1, 2)
    assert kappa.exact == Fraction(3, 5)
    assert kappa.printed == "0.60" and kappa.words == "moderate"


def test_kappa_three_by_three_by_hand():
    #              Yes  No  N/A  (second) | first's total
    # first Yes      5   1    0           |  6
    # first No       2   3    0           |  5
    # first N/A      0   1    3           |  4
    # second's total 7   5    3           | 15
    # p_o = (5 + 3 + 3) / 15 = 11/15
    # p_e = (6·7 + 5·5 + 4·3) / 15² = (42 + 25 + 12) / 225 = 79/225
    # κ = (165/225 − 79/225) / (146/225) = 86/146 = 43/73 ≈ 0.589 -> printed 0.59, "moderate"
    table = {(Y, Y): 5, (Y, N): 1, (N, Y): 2, (N, N): 3, (NA, N): 1, (NA, NA): 3}
    kappa = cohens_kappa(pairs_from_table(table))
    assert kappa is not None
    assert kappa.observed == Fraction(11, 15) and kappa.expected == Fraction(79, 225)
    assert kappa.exact == Fraction(43, 73)
    assert str(kappa) == "0.59 (moderate)"


def test_kappa_below_chance_is_poor_and_negative():
    # first Yes,No ; second No,Yes: p_o = 0, p_e = (1·1 + 1·1)/4 = 1/2, κ = −0.5/0.5 = −1
    kappa = cohens_kappa([(Y, N), (N, Y)])
    assert kappa is not None and kappa.exact == -1 and kappa.printed == "-1.00" and kappa.words == "poor"


def test_kappa_undefined_when_both_markers_used_one_answer_throughout():
    assert cohens_kappa([(Y, Y)] * 7) is None
    assert kappa_text(cohens_kappa([(NA, NA)] * 3)) == "undefined"
    assert cohens_kappa([]) is None
    # one marker used one answer, the other two: p_e < 1, so kappa is defined (and 0 here)
    # first Yes×4; second Yes×2, No×2: p_o = 1/2, p_e = (4·2)/16 = 1/2, κ = 0
    kappa = cohens_kappa([(Y, Y), (Y, Y), (Y, N), (Y, N)])
    assert kappa is not None and kappa.exact == 0 and kappa.words == "slight"


@pytest.mark.parametrize(
    "value, word",
    [
        ("-0.01", "poor"),
        ("0", "slight"),
        ("0.20", "slight"),
        ("0.21", "fair"),
        ("0.40", "fair"),
        ("0.41", "moderate"),
        ("0.60", "moderate"),
        ("0.61", "substantial"),
        ("0.80", "substantial"),
        ("0.81", "almost perfect"),
        ("1", "almost perfect"),
    ],
)
def test_landis_koch_words(value, word):
    assert landis_koch(Fraction(value)) == word


answers = st.sampled_from(CATEGORIES)
pair_lists = st.lists(st.tuples(answers, answers), min_size=1, max_size=40)


@given(st.lists(answers, min_size=2, max_size=40).filter(lambda xs: len(set(xs)) >= 2))
def test_identical_marking_with_two_or_more_answers_is_kappa_one(marks):
    kappa = cohens_kappa([(m, m) for m in marks])
    assert kappa is not None and kappa.exact == 1 and kappa.words == "almost perfect"


@given(pair_lists)
def test_kappa_is_symmetric_in_the_two_markers(pairs):
    forward, backward = cohens_kappa(pairs), cohens_kappa([(b, a) for a, b in pairs])
    assert (forward is None) == (backward is None)
    if forward is not None and backward is not None:
        assert forward.exact == backward.exact


@given(pair_lists)
def test_kappa_is_at_most_one(pairs):
    kappa = cohens_kappa(pairs)
    if kappa is not None:
        assert kappa.exact <= 1


@given(answers, st.integers(1, 30))
def test_kappa_undefined_for_one_shared_answer(answer, n):
    assert cohens_kappa([(answer, answer)] * n) is None


# ------------------------------------------------------------------ agreement over questions
def test_compare_markings_per_question_overall_and_disagreements():
    questions = [("q1", "prompt"), ("q2", "key question")]
    first = {("A1", "q1"): Y, ("A2", "q1"): N, ("A3", "q1"): Y, ("A1", "q2"): Y, ("A2", "q2"): Y, ("A3", "q2"): None}
    second = {("A1", "q1"): Y, ("A2", "q1"): Y, ("A3", "q1"): Y, ("A1", "q2"): Y, ("A2", "q2"): Y, ("A3", "q2"): N}
    result = compare_markings(questions, first, second)
    q1, q2 = result.questions
    # q1: 3 compared, 2 agreed = 66.67% -> 67; first Y2 N1, second Y3: p_o = 2/3, p_e = 2·3/9 = 2/3 -> κ = 0
    assert (q1.compared, q1.agreed, q1.percent) == (3, 2, 67)
    assert q1.kappa is not None and q1.kappa.exact == 0
    # q2: A3 unanswered by the first marker -> not compared; both Yes throughout -> undefined, never 0
    assert (q2.compared, q2.agreed, q2.percent, q2.kappa) == (2, 2, 100, None)
    assert q2.as_dict()["kappa"] is None and q2.as_dict()["kappa_words"] == "undefined"
    # overall pools the five pairs: 4 agreed = 80%; first Y4 N1, second Y5: p_o = 4/5, p_e = 20/25 = 4/5 -> κ = 0
    assert (result.overall.compared, result.overall.agreed, result.overall.percent) == (5, 4, 80)
    assert [d.as_dict() for d in result.disagreements] == [{"case_ref": "A2", "question": "q1", "first": N, "second": Y}]


def test_percent_agreement_rounds_halves_up():
    # 7 of 8 agreed = 87.5% -> 88 (Python's round would give 88 too; 1 of 8 = 12.5% -> 13, round gives 12)
    first = {(f"C{i}", "q"): Y for i in range(8)}
    second = {**{(f"C{i}", "q"): N for i in range(7)}, ("C7", "q"): Y}
    assert compare_markings([("q", "prompt")], first, second).questions[0].percent == 13


def test_compare_markings_refuses_other_values():
    with pytest.raises(ValueError):
        compare_markings([("q", "prompt")], {("A", "q"): "Maybe"}, {("A", "q"): Y})


# ------------------------------------------------------------------ store and command line
FIRST = {  # the first marking of round R: (case, question) -> answer
    ("A111111", "2.1.1"): "Yes",
    ("B222222", "2.1.1"): "No",
    ("C333333", "2.1.1"): "Yes",
    ("A111111", "2.1.1a"): "Yes",
    ("B222222", "2.1.1a"): "Yes",
    ("C333333", "2.1.1a"): "N/A: no assessment due",
    ("A111111", "2.1.1b"): "Yes",
    ("B222222", "2.1.1b"): "Yes",
}
SECOND = {
    ("A111111", "2.1.1"): "Yes",
    ("B222222", "2.1.1"): "No",
    ("C333333", "2.1.1"): "No",
    ("A111111", "2.1.1a"): "Yes",
    ("B222222", "2.1.1a"): "Yes",
    ("C333333", "2.1.1a"): "N/A: no assessment due",
    ("A111111", "2.1.1b"): "Yes",
    ("B222222", "2.1.1b"): "Yes",
    ("C333333", "2.1.1b"): "Yes",
}


@pytest.fixture
def marked(cli, db_path):
    """Round R (four cases, answered by the first marker) and its moderation round, second-marked."""
    from audit.store import AuditStore

    with AuditStore.open(db_path) as store:
        r = store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021", created_by="first-marker")
        for ref, age in (("A111111", "22"), ("B222222", "40"), ("C333333", "31"), ("D444444", "19")):
            store.upsert_case(r, ref, {"sentence_type": "Licence", "age": age, "team": "North"})
    for (ref, q), value in FIRST.items():
        assert cli("--db", db_path, "--auditor", "first-marker", "answer", "--round", "R", ref, q, value).code == 0
    made = cli("--db", db_path, "--auditor", "second-marker", "moderate", "--round", "R", "--cases", "3", "--seed", "1")
    assert made.code == 0, made
    return db_path


def second_mark(cli, db_path, answers=SECOND):
    for (ref, q), value in answers.items():
        assert cli("--db", db_path, "--auditor", "second-marker", "answer", "--round", "R moderation", ref, q, value).code == 0


def refs_of(store, round_row):
    return [c["case_ref"] for c in store.cases(round_row)]


def test_moderate_creates_a_blind_round_with_the_same_framework_version_and_attributes(cli, db_path):
    from audit.store import AuditStore

    with AuditStore.open(db_path) as store:
        r = store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021")
        store.upsert_case(r, "A111111", {"sentence_type": "Licence", "age": "22", "team": "North"})
        store.upsert_case(r, "B222222", {"sentence_type": "Community order", "age": "40"})
        store.upsert_case(r, "C333333", {"age": "31"})
        # pin R to a version other than the newest would be ideal; at least the version is copied verbatim
        store.db.execute("UPDATE rounds SET framework_version = '1' WHERE id = ?", [r.id])
    cli("--db", db_path, "answer", "--round", "R", "A111111", "2.1.1", "Yes")
    made = cli(
        "--db", db_path, "--auditor", "second-marker", "moderate", "--round", "R", "--case", "a111111", "--case", "B222222"
    )
    assert made.code == 0, made
    assert "'R moderation'" in made.out
    with AuditStore.open(db_path) as store:
        r, m = store.round("R"), store.round("R moderation")
        assert m.moderates == r.id and r.moderates is None
        assert (m.framework_id, m.framework_version, m.unit) == (r.framework_id, r.framework_version, r.unit)
        assert m.created_by == "second-marker"
        assert refs_of(store, m) == ["A111111", "B222222"]
        assert all(c["answered"] == 0 for c in store.cases(m))  # blind: no answers
        assert not list(store.db.query("SELECT 1 FROM answers a JOIN cases c ON c.id = a.case_id WHERE c.round_id = ?", [m.id]))
        for ref in ("A111111", "B222222"):
            original, copy = store.case(r, ref), store.case(m, ref)
            from audit.core.attributes import ATTRIBUTE_COLUMNS

            assert {k: original[k] for k in ATTRIBUTE_COLUMNS} == {k: copy[k] for k in ATTRIBUTE_COLUMNS}
        assert store.moderation_round(r) == m


def test_moderate_chooses_seeded_cases(marked, cli, tmp_path):
    from audit.store import AuditStore

    with AuditStore.open(marked) as store:
        chosen = refs_of(store, store.round("R moderation"))
    assert len(chosen) == 3
    again = cli("--db", marked, "moderate", "--round", "R", "--cases", "3", "--seed", "1", "--name", "again")
    assert again.code == 0
    listing = cli("--db", marked, "rounds")
    assert "(second marking of 'R')" in listing.out and listing.out.count("second marking of") == 2
    with AuditStore.open(marked) as store:
        assert refs_of(store, store.round("again")) == chosen
        assert store.moderation_round(store.round("R"), newest_if_several=True).name == "again"  # the newest
    # with two markings and no name, a command never picks one silently
    for command in (("agreement", "--round", "R"), ("settle", "--round", "R", sorted(chosen)[0], "2.2.1", "second")):
        refused = cli("--db", marked, *command)
        assert refused.code == 2 and "2 moderation rounds ('again', 'R moderation')" in refused.err, refused
    assert cli("--db", marked, "agreement", "--round", "R", "--moderation", "again").code == 0


def test_agreement_json_on_a_hand_made_example(cli, db_path):
    from audit.store import AuditStore

    with AuditStore.open(db_path) as store:
        r = store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021")
        for ref in ("A111111", "B222222", "C333333", "D444444"):
            store.upsert_case(r, ref, {"age": "30"})
    for (ref, q), value in FIRST.items():
        cli("--db", db_path, "answer", "--round", "R", ref, q, value)
    made = cli("--db", db_path, "moderate", "--round", "R", "--case", "A111111", "--case", "B222222", "--case", "C333333")
    assert made.code == 0, made
    second_mark(cli, db_path)
    result = cli("--db", db_path, "agreement", "--round", "R", "--format", "json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert list(data) == [
        "round",
        "moderation_round",
        "questions",
        "overall",
        "disagreements",
        "first_marking_as_of",
        "answers_since_not_compared",
    ]
    assert (data["round"], data["moderation_round"]) == ("R", "R moderation")
    by_id = {q["id"]: q for q in data["questions"]}
    assert len(by_id) == 77  # every question of the framework, key questions, prompts and data items
    # 2.1.1: pairs (Y,Y) (N,N) (Y,N): 2 of 3 agreed = 66.7% -> 67
    #   first Y2 N1, second Y1 N2: p_o = 2/3, p_e = (2·1 + 1·2)/9 = 4/9, κ = (6/9 − 4/9)/(5/9) = 2/5 = 0.40 fair
    assert by_id["2.1.1"] == {
        "id": "2.1.1",
        "kind": "key question",
        "compared": 3,
        "agreed": 2,
        "percent": 67,
        "kappa": 0.4,
        "kappa_words": "fair",
    }
    # 2.1.1a: (Y,Y) (Y,Y) (NA,NA): p_o = 1, p_e = (2·2 + 1·1)/9 = 5/9, κ = 1
    assert (by_id["2.1.1a"]["percent"], by_id["2.1.1a"]["kappa"], by_id["2.1.1a"]["kind"]) == (100, 1.0, "prompt")
    # 2.1.1b: C333333 unanswered by the first marker -> 2 compared, both Yes throughout: undefined, never 0
    assert (by_id["2.1.1b"]["compared"], by_id["2.1.1b"]["kappa"], by_id["2.1.1b"]["kappa_words"]) == (2, None, "undefined")
    assert by_id["2.2.1"]["compared"] == 0 and by_id["2.2.1"]["percent"] is None
    # overall, pooled: 8 pairs, 7 agreed = 87.5% -> 88; first Y6 N1 NA1, second Y5 N2 NA1:
    #   p_o = 7/8, p_e = (6·5 + 1·2 + 1·1)/64 = 33/64, κ = (56/64 − 33/64)/(31/64) = 23/31 ≈ 0.742 -> 0.74 substantial
    overall = data["overall"]
    assert (overall["compared"], overall["agreed"], overall["percent"], overall["kappa"]) == (8, 7, 88, 0.74)
    assert overall["kappa_words"] == "substantial"
    assert data["disagreements"] == [{"case_ref": "C333333", "question": "2.1.1", "first": "Yes", "second": "No"}]
    table = cli("--db", db_path, "agreement", "--round", "R")
    assert table.code == 0
    assert "0.40 (fair)" in table.out and "undefined" in table.out and "C333333 2.1.1" in table.out


def test_settle_records_the_moderated_answer_in_the_history(marked, cli):
    from audit.store import AuditStore

    with AuditStore.open(marked) as store:
        refs = refs_of(store, store.round("R moderation"))
    second_mark(cli, marked, {k: v for k, v in SECOND.items() if k[0] in refs})
    ref = "C333333" if "C333333" in refs else refs[0]
    cli("--db", marked, "--auditor", "second-marker", "answer", "--round", "R moderation", ref, "2.1.1", "No")
    done = cli("--db", marked, "--auditor", "qa-lead", "settle", "--round", "R", ref, "2.1.1", "second", "--reason", "no review")
    assert done.code == 0, done
    with AuditStore.open(marked) as store:
        r = store.round("R")
        assert store.answer(store.case(r, ref)["id"], "2.1.1")["value"] == "No"
        last = store.answer_history(r, ref)[-1]
        assert (last["source"], last["auditor"], last["new_value"], last["new_note"]) == (
            "moderation",
            "qa-lead",
            "No",
            "no review",
        )
        before = len(store.answer_history(r))
    history = cli("--db", marked, "history", "--round", "R", "--case", ref)
    assert "qa-lead" in history.out and "(moderation)" in history.out and "no review" in history.out
    # keeping the first answer where R already has it still records that it was moderated (old = new)
    kept = cli("--db", marked, "--auditor", "qa-lead", "settle", "--round", "R", "A111111", "2.1.1a", "first")
    assert kept.code == 0 and "confirmed" in kept.out, kept
    with AuditStore.open(marked) as store:
        r = store.round("R")
        history = store.answer_history(r)
        assert len(history) == before + 1
        assert (history[-1]["old_value"], history[-1]["new_value"], history[-1]["source"]) == ("Yes", "Yes", "moderation")
        assert store.check() == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["moderate", "--round", "nope", "--cases", "1"], "no round called 'nope'"),
        (["moderate", "--round", "R", "--case", "Z999999"], "no case 'Z999999'"),
        (["moderate", "--round", "R", "--cases", "5"], "more than the 4 case(s)"),
        (["moderate", "--round", "R moderation", "--cases", "1"], "is itself a moderation round"),
        (["agreement", "--round", "nope"], "no round called 'nope'"),
        (["agreement", "--round", "R", "--moderation", "other"], "no moderation round called 'other'"),
        (["settle", "--round", "R", "Z999999", "2.1.1", "first"], "no case 'Z999999'"),
        (["settle", "--round", "R", "A111111", "9.9.9", "first"], "not a question"),
        (["settle", "--round", "R", "D444444", "2.1.1", "first"], "had not answered"),
    ],
)
def test_errors_exit_2_with_one_line(marked, cli, args, words):
    from audit.store import AuditStore

    if args[0] == "settle" and args[3] == "D444444":  # a case in both rounds that the first marker left unanswered
        with AuditStore.open(marked) as store:
            args = [*args[:3], refs_of(store, store.round("R moderation"))[0], "2.2.1", "first"]
    result = cli("--db", marked, *args)
    assert result.code == 2, result
    assert words in result.err and len(result.err.strip().splitlines()) == 1


def test_a_round_without_moderation_says_so(cli, db_path):
    from audit.store import AuditStore

    with AuditStore.open(db_path) as store:
        store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021")
    result = cli("--db", db_path, "agreement", "--round", "R")
    assert result.code == 2 and "has no moderation round" in result.err


def test_schema_4_fixture_migrates_to_moderation(tmp_path):
    import shutil

    from audit.store import SCHEMA_VERSION, AuditStore

    path = tmp_path / "old.db"
    shutil.copy(Path(__file__).parent / "fixtures" / "schema-4.db", path)
    with AuditStore.open(path) as store:
        assert store.db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 5
        r = store.round("Schema one round")
        assert r.moderates is None and store.moderation_rounds(r) == []
        m = store.create_moderation_round(r, ["A123456"])
        assert m.moderates == r.id and store.check() == []


# ------------------------------------------------------------------ report section
def test_report_has_a_moderation_section_in_every_format(cli, db_path):
    import io

    import openpyxl

    from audit.reports.html import render_html
    from audit.reports.markdown import render_markdown_report
    from audit.reports.model import build_report
    from audit.reports.xlsx import render_xlsx
    from audit.store import AuditStore

    with AuditStore.open(db_path) as store:
        r = store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021")
        for ref in ("A111111", "B222222", "C333333"):
            store.upsert_case(r, ref, {"age": "30"})
        without = build_report(store, r, case_level=False)
    assert without.moderation is None
    assert "Moderation" not in render_markdown_report(without)
    for (ref, q), value in FIRST.items():
        if ref != "D444444":
            cli("--db", db_path, "answer", "--round", "R", ref, q, value)
    hostile = '=HYPERLINK("x") <b>#QA</b>'
    made = cli("--db", db_path, "moderate", "--round", "R", "--cases", "3", "--name", hostile)
    assert made.code == 0, made
    for (ref, q), value in SECOND.items():
        cli("--db", db_path, "answer", "--round", hostile, ref, q, value)
    with AuditStore.open(db_path) as store:
        report = build_report(store, store.round("R"), case_level=False)
    m = report.moderation
    assert m is not None and m.moderation_round == hostile and m.disagreements == 1
    by_id = {q.id: q for q, _ in m.key_questions}
    assert set(by_id) == {kq.id for kq in report.summary.framework.key_questions}  # key questions only
    assert (by_id["2.1.1"].percent, m.kappa_text(by_id["2.1.1"])) == (67, "0.40 (fair)")  # as worked out above
    assert (m.overall.percent, m.kappa_text(m.overall)) == (88, "0.74 (substantial)")
    markdown = render_markdown_report(report)
    assert "## Moderation" in markdown and "0.40 (fair)" in markdown and "0.74 (substantial)" in markdown
    assert "<b>" not in markdown and "&lt;b&gt;" in markdown
    html = render_html(report)
    assert 'id="moderation"' in html and "0.40 (fair)" in html and "<b>#QA" not in html and "&lt;b&gt;" in html
    workbook = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))
    sheet = workbook["Moderation"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["2.1.1"][2:7] == (3, 2, 0.67, 0.4, "0.40 (fair)")
    assert rows["overall"][4:7] == (0.88, 0.74, "0.74 (substantial)")
    assert all(cell.data_type == "s" for cell in sheet["H"][1:])  # the name is text, never a formula


# ------------------------------------------------------------------ the TUI keeps the second marking blind
async def test_the_moderation_rounds_case_screen_shows_no_first_answers(marked):
    from audit.store import AuditStore
    from audit.tui.app import CaseAuditApp
    from audit.tui.screens.case import CaseScreen

    with AuditStore.open(marked) as store:
        r, m = store.round("R"), store.round("R moderation")
        ref = refs_of(store, m)[0]
        assert store.answers_for_case(store.case(r, ref)["id"])  # the first marker answered this case
        questions = store.framework_for(m).question_ids
    app = CaseAuditApp(marked, round_name="R moderation", case_ref=ref)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CaseScreen)
        assert screen.case["case_ref"] == ref and screen.case["round_id"] == m.id
        assert screen.answers == {}
        assert all(screen.answers.get(q) is None for q in questions)  # every question unanswered
        assert screen.answered_count() == 0
    control = CaseAuditApp(marked, round_name="R", case_ref=ref)  # the same case in R: its answers do show
    async with control.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(control.screen, CaseScreen) and control.screen.answered_count() > 0


def test_moderation_round_keeps_the_original_framework_version_when_a_newer_one_exists(cli, db_path, tmp_path, monkeypatch):
    from audit.store import AuditStore
    from framework import load_framework

    monkeypatch.setenv("CASEAUDIT_FRAMEWORKS_DIR", str(tmp_path / "my-frameworks"))
    source = tmp_path / "local.toml"
    assert cli("frameworks", "new", "our-audit", "--from", "hmip-probation-pdu-2021", "-o", source).code == 0
    assert cli("frameworks", "add", source).code == 0
    with AuditStore.open(db_path) as store:
        r = store.create_round("R", "Testshire PDU", "our-audit", "1")
        store.upsert_case(r, "A111111", {"age": "30"})
    text = source.read_text(encoding="utf-8").replace('version = "1"', 'version = "2"', 1)
    source.write_text(text.replace('"Outstanding" = 3', '"Outstanding" = 4'), encoding="utf-8")
    assert cli("frameworks", "add", source).code == 0
    assert load_framework("our-audit").version == "2"
    assert cli("--db", db_path, "moderate", "--round", "R", "--cases", "1").code == 0
    with AuditStore.open(db_path) as store:
        m = store.round("R moderation")
        assert (m.framework_id, m.framework_version) == ("our-audit", "1")


def test_a_moderation_round_travels_in_a_merge(marked, cli, tmp_path):
    from audit.store import AuditStore

    other = tmp_path / "other.db"
    with AuditStore.open(other):
        pass
    merged = cli("--db", other, "merge", marked)
    assert merged.code == 0, merged
    with AuditStore.open(other) as store:
        r = store.round("R")
        assert store.moderation_round(r).name == "R moderation"
        assert store.check() == []


def test_the_first_marking_is_what_r_held_when_moderation_began(marked, cli):
    """An answer given in R after the moderation round was made (or a settlement) is not the first marker's:
    agreement keeps comparing what the first marker said, and settling 'first' records that answer."""
    import json

    from audit.store import AuditStore

    with AuditStore.open(marked) as store:
        refs = refs_of(store, store.round("R moderation"))
    second_mark(cli, marked, {k: v for k, v in SECOND.items() if k[0] in refs})
    ref = "C333333" if "C333333" in refs else refs[0]
    cli("--db", marked, "--auditor", "second-marker", "answer", "--round", "R moderation", ref, "2.1.1", "No")
    first_said = FIRST[(ref, "2.1.1")]
    other = "No" if first_said == "Yes" else "Yes"
    before = json.loads(cli("--db", marked, "agreement", "--round", "R", "--format", "json").out)
    # someone changes R's answer after the moderation began: the first marking is unchanged (and the change is counted
    # as an answer given since, not compared)
    assert cli("--db", marked, "--auditor", "erin", "answer", "--round", "R", ref, "2.1.1", other).code == 0
    after = json.loads(cli("--db", marked, "agreement", "--round", "R", "--format", "json").out)
    assert (before.pop("answers_since_not_compared"), after.pop("answers_since_not_compared")) == (0, 1)
    assert after == before
    kept = cli("--db", marked, "--auditor", "qa-lead", "settle", "--round", "R", ref, "2.1.1", "first", "--reason", "first right")
    assert kept.code == 0, kept
    with AuditStore.open(marked) as store:
        r = store.round("R")
        assert store.answer(store.case(r, ref)["id"], "2.1.1")["value"] == first_said
        last = store.answer_history(r, ref)[-1]
        assert (last["old_value"], last["new_value"], last["source"], last["auditor"]) == (
            other,
            first_said,
            "moderation",
            "qa-lead",
        )
    # settling never moves the agreement figures
    settled = json.loads(cli("--db", marked, "agreement", "--round", "R", "--format", "json").out)
    assert settled.pop("answers_since_not_compared") == 1 and settled == before


def test_agreement_json_shows_control_characters_in_names_as_escapes(marked, cli):
    import json

    from audit.store import AuditStore

    with AuditStore.open(marked) as store:
        store.rename_round(store.round("R moderation"), "Mod\u009b31m\u202eevil")
    out = cli("--db", marked, "agreement", "--round", "R", "--format", "json").out
    assert "\u009b" not in out and "\u202e" not in out
    assert json.loads(out)["moderation_round"] == "Mod\u009b31m\u202eevil"  # the same JSON value


def test_a_case_named_twice_is_moderated_once(cli, db_path):
    from audit.store import AuditStore

    with AuditStore.open(db_path) as store:
        store.upsert_case(store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021"), "A111111", {})
    made = cli("--db", db_path, "moderate", "--round", "R", "--case", "a111111", "--case", " A111111 ", "--case", "A111111")
    assert made.code == 0 and "1 case(s)" in made.out, made


def test_importing_the_originals_export_into_its_blind_round_is_warned(cli, db_path, tmp_path):
    """A moderation round filled from R's own export would agree with R perfectly and mean nothing: the import
    says so. A real second marking (one answer differs) is imported without the warning."""
    import csv

    from audit.store import AuditStore

    assert cli("--db", db_path, "demo").code == 0
    assert cli("--db", db_path, "moderate", "--round", "Newham 2022", "--cases", "3", "--seed", "7").code == 0
    exported = tmp_path / "newham.csv"
    assert cli("--db", db_path, "export", "--round", "Newham 2022", exported).code == 0
    with AuditStore.open(db_path) as store:
        chosen = set(refs_of(store, store.round("Newham 2022 moderation")))
    rows = list(csv.reader(exported.open(newline="", encoding="utf-8-sig")))
    header, body = rows[0], [row for row in rows[1:] if row[0] in chosen]
    assert len(body) == 3

    def write(path, rows):
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])
        return path

    # a genuine second marking: the same but for one answer
    question = header.index("2.2.1")
    genuine = [list(row) for row in body]
    genuine[0][question] = "No" if genuine[0][question] == "Yes" else "Yes"
    honest = cli("--db", db_path, "import", write(tmp_path / "second.csv", genuine), "--round", "Newham 2022 moderation")
    assert honest.code == 0 and "warning" not in honest.err, honest
    copied = cli("--db", db_path, "import", write(tmp_path / "copied.csv", body), "--round", "Newham 2022 moderation")
    assert copied.code == 0, copied
    assert "warning: all" in copied.err and "equal the first marking in 'Newham 2022'" in copied.err
    assert len(copied.err.strip().splitlines()) == 1


def test_two_copies_moderating_r_by_the_default_name_end_with_the_same_recorded_names(cli, tmp_path):
    """Each laptop copy made its own "R moderation": a merge must not rename either silently. The name given to the
    incoming round is a round event, so it travels back, and after merging both ways the copies agree."""
    import shutil

    from audit.store import AuditStore

    base = tmp_path / "base.db"  # R only: both copies moderate it themselves
    with AuditStore.open(base) as store:
        r = store.create_round("R", "Testshire PDU", "hmip-probation-pdu-2021", created_by="first-marker")
        for ref in ("A111111", "B222222", "C333333", "D444444"):
            store.upsert_case(r, ref, {"sentence_type": "Licence"})
            store.record_answer(r, ref, "2.1.1", "Yes", auditor="first-marker")
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    shutil.copy(base, a)
    shutil.copy(base, b)
    assert cli("--db", a, "--auditor", "ann", "moderate", "--round", "R", "--cases", "2", "--seed", "1").code == 0
    assert cli("--db", b, "--auditor", "bob", "moderate", "--round", "R", "--cases", "2", "--seed", "2").code == 0
    assert cli("--db", a, "--auditor", "ann", "merge", b).code == 0
    assert cli("--db", b, "--auditor", "bob", "merge", a).code == 0
    assert cli("--db", a, "--auditor", "ann", "merge", b).code == 0

    def names(path):
        with AuditStore.open(path) as store:
            return {r.id: r.name for r in store.moderation_rounds(store.round("R"))}, [
                (e["event"], e["reason"], e["done_by"])
                for e in store.db.query("SELECT * FROM round_events WHERE event = 'renamed'")
            ]

    (names_a, renames_a), (names_b, renames_b) = names(a), names(b)
    assert names_a == names_b and len(set(names_a.values())) == 2
    assert "R moderation (merged from b.db)" in names_a.values()
    assert ("renamed", "R moderation -> R moderation (merged from b.db)", "ann") in renames_a
    assert sorted(renames_a) == sorted(renames_b)


@pytest.mark.parametrize("points_at", ["itself", "a round neither copy holds"])
def test_a_merged_round_moderating_itself_or_nothing_is_refused_naming_the_file(marked, cli, tmp_path, points_at):
    import shutil
    import sqlite3

    crafted = tmp_path / "crafted.db"
    shutil.copy(marked, crafted)
    conn = sqlite3.connect(crafted)
    conn.execute("PRAGMA foreign_keys = OFF")
    target = "id" if points_at == "itself" else "'0123456789abcdef0123456789abcdef'"
    conn.execute(f"UPDATE rounds SET moderates = {target} WHERE moderates IS NOT NULL")
    conn.commit()
    conn.close()
    from audit.store import AuditStore

    fresh = tmp_path / "fresh.db"
    AuditStore.open(fresh).close()
    result = cli("--db", fresh, "merge", crafted)
    assert result.code == 2 and result.err.strip().count("\n") == 0, result
    assert "crafted.db: round 'R moderation' moderates " + points_at in result.err and "nothing was merged" in result.err


def test_agreement_says_as_of_when_the_first_marking_is_taken_and_counts_answers_given_since(marked, cli):
    """The first marking is R's answers when the moderation round was made: an answer the first marker gives in R
    later is not compared. The table and JSON say so (as of when, how many answers since), and settling 'first'
    on such an answer says the first marker had not answered it when the moderation began."""
    from audit.store import AuditStore

    with AuditStore.open(marked) as store:
        moderation = store.round("R moderation")
        refs = refs_of(store, moderation)
    second_mark(cli, marked, {k: v for k, v in SECOND.items() if k[0] in refs})
    ref = next(r for r in refs if (r, "2.1.1b") not in FIRST)  # unanswered by the first marker when moderation began
    assert cli("--db", marked, "--auditor", "first-marker", "answer", "--round", "R", ref, "2.1.1b", "No").code == 0
    table = cli("--db", marked, "agreement", "--round", "R")
    as_of = moderation.created_at[:16].replace("T", " ")
    assert f"First marking as of {as_of} UTC, when 'R moderation' was made" in table.out, table
    assert "1 answer given in round 'R' since then is not compared" in table.out, table
    data = json.loads(cli("--db", marked, "agreement", "--round", "R", "--format", "json").out)
    assert data["first_marking_as_of"] == moderation.created_at and data["answers_since_not_compared"] == 1
    refused = cli("--db", marked, "settle", "--round", "R", ref, "2.1.1b", "first")
    assert refused.code == 2 and refused.err.count("\n") == 1, refused
    assert f"had not answered 2.1.1b for {ref} when moderation round 'R moderation' was made" in refused.err, refused


def test_settle_echoes_the_answer_recorded_whatever_the_case_of_the_question_id(marked, cli):
    from audit.store import AuditStore

    with AuditStore.open(marked) as store:
        refs = refs_of(store, store.round("R moderation"))
    second_mark(cli, marked, {k: v for k, v in SECOND.items() if k[0] in refs})
    settled = cli("--db", marked, "settle", "--round", "R", refs[0], "2.1.1A", "second")
    assert settled.code == 0, settled
    with AuditStore.open(marked) as store:
        r = store.round("R")
        recorded = store.answer(store.case(r, refs[0])["id"], "2.1.1a")["value"]
    assert settled.out.startswith(f"{refs[0]} 2.1.1a: {recorded} - "), settled


def test_settling_a_case_not_counted_says_so_and_a_removed_case_must_be_restored_first(cli, db_path, tmp_path):
    sheet = tmp_path / "sample.csv"
    sheet.write_text(
        "case_ref,gender,sentence_type,stratum,reserve,draw_order,2.1.1\n"
        "A111111,Female,Licence,female,No,1,Yes\n"
        "B222222,Female,Licence,female,No,2,Yes\n"
        "C333333,Female,Licence,female,Yes,3,\n",
        encoding="utf-8",
    )
    assert cli("--db", db_path, "import", sheet, "--round", "R", "--unit", "Testshire PDU").code == 0
    assert cli("--db", db_path, "moderate", "--round", "R", "--case", "A111111", "--case", "B222222").code == 0
    for ref in ("A111111", "B222222"):
        assert cli("--db", db_path, "answer", "--round", "R moderation", ref, "2.1.1", "No").code == 0
    assert cli("--db", db_path, "swap", "--round", "R", "A111111", "--reason", "in custody").code == 0
    for keep in ("first", "second"):
        settled = cli("--db", db_path, "settle", "--round", "R", "A111111", "2.1.1", keep)
        assert settled.code == 0, settled
        assert "A111111 is swapped out: its answers are kept but not counted" in settled.err, settled
    assert cli("--db", db_path, "remove-case", "--round", "R", "B222222", "--reason", "duplicate").code == 0
    for keep in ("first", "second"):
        refused = cli("--db", db_path, "settle", "--round", "R", "B222222", "2.1.1", keep)
        assert refused.code == 2 and refused.err.count("\n") == 1, refused
        assert "B222222 was removed from round 'R'; restore it first" in refused.err, refused


def test_a_removed_moderation_round_is_named_as_removed_and_the_help_says_what_the_default_is(marked, cli, capsys):
    assert cli("--db", marked, "moderate", "--round", "R", "--cases", "1", "--seed", "2", "--name", "m2").code == 0
    assert cli("--db", marked, "remove-round", "--round", "m2", "--reason", "a test").code == 0
    refused = cli("--db", marked, "agreement", "--round", "R", "--moderation", "M2")
    assert refused.code == 2 and refused.err.count("\n") == 1, refused
    assert "moderation round 'm2' was removed" in refused.err and "caseaudit restore-round --round 'm2'" in refused.err
    for command in ("agreement", "settle"):
        with pytest.raises(SystemExit):
            cli(command, "--help")
        assert "the newest" not in " ".join(capsys.readouterr().out.split())
