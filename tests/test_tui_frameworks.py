"""The TUI and the reports follow the round's own framework: jump keys, band lines, ratings, judgement labels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from audit.store import AuditStore
from audit.tui.app import CaseAuditApp
from audit.tui.screens.case import CaseScreen
from audit.tui.screens.domain_one import DomainOneScreen
from audit.tui.screens.summary import SummaryScreen
from framework import load_framework
from tests.test_frameworks import PDU, YOUTH, _local_framework, _sheet

SIZE = (120, 40)


@pytest.fixture
def user_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "my-frameworks"
    monkeypatch.setenv("CASEAUDIT_FRAMEWORKS_DIR", str(folder))
    return folder


def rendered(renderable, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def footer_keys(screen) -> dict[str, str]:
    """What the screen's footer offers: key -> description."""
    return {b.key: b.description for _, b, enabled, _ in screen.active_bindings.values() if b.show and enabled}


def bar_marks(text: str, key_question_id: str) -> list[int]:
    """Where the '|' band lines fall in a key question's 40-character chart bar on the summary screen."""
    line = next(line for line in text.splitlines() if re.search(rf"\b{re.escape(key_question_id)}\b", line))
    chart = re.search(r"[#.|]{40}", line).group(0)
    return [i for i, char in enumerate(chart) if char == "|"]


async def summary_shown(app, pilot) -> SummaryScreen:
    await pilot.press("escape")  # back to the cases
    await pilot.pause()
    await pilot.press("s")
    for _ in range(50):
        await pilot.pause(0.05)
        if isinstance(app.screen, SummaryScreen) and app.screen.summary is not None:
            break
    screen = app.screen
    assert isinstance(screen, SummaryScreen) and screen.summary is not None
    return screen


async def test_a_local_copy_at_60_75_90_without_court_work_in_the_tui_and_its_report(cli, user_dir, tmp_path, db_path):
    _local_framework(cli, tmp_path)
    local = load_framework("pdu-no-court-work")
    sheet = _sheet(tmp_path / "sheet.csv", local, 7)  # 70%: 'Requires improvement' by its bands, 'Good' by PDU-2021's
    imported = cli("--db", db_path, "import", sheet, "--round", "Local", "--unit", "Our PDU", "--framework", "pdu-no-court-work")
    assert imported.code == 0, imported
    with AuditStore.open(db_path) as store:
        store.upsert_case(store.round("Local"), "X000099", {})

    app = CaseAuditApp(db_path, round_name="Local", case_ref="X000099", auditor="tester")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CaseScreen)
        # its case-rated standards, in its order, get keys 1 to n: no 2.1 here
        case_ids = [s.id for s in local.standards if s.key_questions]
        assert case_ids[:4] == ["2.2", "2.3", "2.4", "2.5"]
        keys = footer_keys(screen)
        assert [keys[str(n)] for n in range(1, len(case_ids) + 1)] == case_ids
        for n in (3, 1):
            await pilot.press(str(n))
            await pilot.pause()
            assert local.standard_of(screen.focused_question.id).id == case_ids[n - 1]
        first = screen.focused_question.id  # the first question of 2.2
        await pilot.press("y")
        await pilot.pause()

        summary_screen = await summary_shown(app, pilot)
        text = rendered(summary_screen.render_summary(summary_screen.summary))
        assert "| marks 60, 75, 90" in text and "50, 65, 80" not in text
        # 60, 75 and 90 of a 40-character bar
        assert bar_marks(text, "2.2.1") == [24, 30, 36]
        for standard in ("2.2", "2.3", "2.4", "2.5"):
            assert re.search(rf"{re.escape(standard)} .*Requires improvement", text), standard
        assert "Score 4/12" in text
        assert footer_keys(summary_screen)["o"] == "Domain 1 Organisational delivery"

    with AuditStore.open(db_path) as store:
        case = store.case(store.round("Local"), "X000099")
        assert store.answers_for_case(case["id"])[first]["value"] == "Yes"
    assert local.standard_of(first).id == "2.2"

    out = tmp_path / "report.html"
    assert cli("--db", db_path, "report", "--round", "Local", "-o", out).code == 0
    html = out.read_text(encoding="utf-8")
    labels = re.findall(r'text-anchor="middle" fill="#555">([0-9.]+)%</text>', html)
    assert labels[:3] == ["60", "75", "90"]
    # x = 70 + 560 * p / 100
    for x in ("406.0", "490.0", "574.0"):
        assert f'<line x1="{x}"' in html
    assert "Requires improvement" in html and ">Good<" not in html


async def test_a_fractional_band_bound_is_drawn_where_it_is_in_the_html_chart(cli, user_dir, tmp_path, db_path):
    copy = tmp_path / "fractional.toml"
    assert cli("frameworks", "new", "pdu-fractional", "--from", PDU, "-o", copy).code == 0
    text = copy.read_text(encoding="utf-8")
    for old, new in (("below = 65 }", "below = 62.5 }"), ("from = 65,", "from = 62.5,")):
        assert old in text
        text = text.replace(old, new)
    copy.write_text(text, encoding="utf-8")
    assert cli("frameworks", "add", copy).code == 0
    sheet = _sheet(tmp_path / "sheet.csv", load_framework("pdu-fractional"), 7)
    assert cli("--db", db_path, "import", sheet, "--round", "R", "--unit", "U", "--framework", "pdu-fractional").code == 0
    out = tmp_path / "report.html"
    assert cli("--db", db_path, "report", "--round", "R", "-o", out).code == 0
    html = out.read_text(encoding="utf-8")
    assert ">62.5%</text>" in html and ">62%</text>" not in html
    assert '<line x1="420.0"' in html  # 70 + 560 * 62.5 / 100


@pytest.fixture
def youth_db(tmp_path) -> Path:
    path = tmp_path / "youth.db"
    with AuditStore.open(path) as store:
        round_row = store.create_round("YJS", "Our YJS", YOUTH)
        store.upsert_case(round_row, "Y000001", {})
    return path


async def test_a_youth_round_in_the_tui(youth_db):
    youth = load_framework(YOUTH)
    case_ids = [s.id for s in youth.standards if s.key_questions]
    assert case_ids == ["2.1", "2.2", "2.3", "2.4", "3.1", "3.2", "3.3"]
    app = CaseAuditApp(youth_db, round_name="YJS", case_ref="Y000001", auditor="tester")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CaseScreen)
        keys = footer_keys(screen)
        assert [keys[str(n)] for n in range(1, 8)] == case_ids and "8" not in keys
        answered = []
        await pilot.press("7")  # out-of-court implementation and delivery
        await pilot.pause()
        assert youth.standard_of(screen.focused_question.id).id == "3.3"
        answered.append(screen.focused_question.id)
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("5")  # out-of-court assessment: every question of it Yes
        await pilot.pause()
        while youth.standard_of(screen.focused_question.id).id == "3.1":
            answered.append(screen.focused_question.id)
            await pilot.press("y")
            await pilot.pause()
        assert len(answered) > 10

        summary_screen = await summary_shown(app, pilot)
        text = rendered(summary_screen.render_summary(summary_screen.summary))
        assert "| marks 50, 65, 80" in text
        assert bar_marks(text, "3.3.1") == [20, 26, 32]
        assert re.search(r"3\.1 Assessment .*Outstanding", text)
        assert "Score 3/3 " in text  # the only standard rated so far
        assert "4.1 Resettlement policy and provision" in text and "not counted in the score" in text
        assert footer_keys(summary_screen)["o"] == "Domains 1, 3, 4 (judgement-rated)"

        await pilot.press("o")
        await pilot.pause()
        judgement = app.screen
        assert isinstance(judgement, DomainOneScreen)
        assert judgement.title == "Domains 1, 3, 4 (judgement-rated) ratings: YJS"
        table = judgement.query_one("#domain1")
        assert [str(table.get_row_at(i)[0]).split()[0] for i in range(table.row_count)] == [
            "1.1",
            "1.2",
            "1.3",
            "1.4",
            "3.4",
            "4.1",
        ]
        await pilot.press("g")
        await pilot.pause()

    with AuditStore.open(youth_db) as store:
        round_row = store.round("YJS")
        stored = store.answers_for_case(store.case(round_row, "Y000001")["id"])
        assert {q: stored[q]["value"] for q in answered} == dict.fromkeys(answered, "Yes")
        assert store.domain_ratings(round_row)["1.1"]["rating"] == "Good"


def test_a_youth_sheet_with_youth_disposals_is_imported_and_grouped_by_its_cohorts(cli, tmp_path, db_path):
    from audit.core.analysis import groupings

    youth = load_framework(YOUTH)
    sheet = tmp_path / "youth.csv"
    kq = youth.key_questions[0].id
    rows = [
        ("Y000001", "Referral order"),
        ("Y000002", "YRO"),
        ("Y000003", "Detention and training order"),
        ("Y000004", "Youth caution"),
        ("Y000005", "Community resolution"),
    ]
    sheet.write_text(
        f"case_ref,sentence_type,{kq}\n" + "".join(f"{ref},{sentence},Yes\n" for ref, sentence in rows), encoding="utf-8"
    )
    imported = cli("--db", db_path, "import", sheet, "--round", "YJS", "--unit", "U", "--framework", YOUTH)
    assert imported.code == 0, imported
    with AuditStore.open(db_path) as store:
        stored = {c["case_ref"]: c["sentence_type"] for c in store.db.query("SELECT * FROM cases")}
    assert stored["Y000002"] == "Youth rehabilitation order"
    cohort = next(g for g in groupings() if g.key == "resettlement")
    assert [cohort.group_of(stored[ref]) for ref, _ in rows] == [
        "Community",
        "Community",
        "Licence / post-release (resettlement)",
        "Out-of-court disposal",
        "Out-of-court disposal",
    ]


async def test_a_framework_without_judgement_rated_standards_says_so(tmp_path, monkeypatch):
    import attrs

    from audit.core.summary import judgement_label
    from framework.model import RatingMethod

    pdu = load_framework(PDU)
    none = attrs.evolve(pdu, standards=[s for s in pdu.standards if s.method is not RatingMethod.JUDGEMENT], limiting_rules=())
    assert judgement_label(none) == "Judgement"
    monkeypatch.setattr(AuditStore, "framework_for", lambda self, round_row: none)
    path = tmp_path / "none.db"
    with AuditStore.open(path) as store:
        store.upsert_case(store.create_round("R", "Unit", PDU), "X000001", {})
    app = CaseAuditApp(path, round_name="R", auditor="tester")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DomainOneScreen) and screen.title == "Judgement ratings: R"
        assert "has no judgement-rated standards" in str(screen.query_one("#domain1-detail").render())
        await pilot.press("g", "e")  # nothing to rate: a warning, not a crash
        await pilot.pause()
        assert app.screen is screen
