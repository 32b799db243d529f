"""Frameworks as data: the youth framework, user-added frameworks, and `caseaudit frameworks`."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

from audit.core.summary import build_summary
from framework import DefinitionError, Rating, catalogue, load_framework
from framework.load import DEFINITIONS_DIR, parse_definition
from framework.model import Origin, RatingMethod
from framework.rules import score, score_ranges

YOUTH = "hmip-youth-2021"
PDU = "hmip-probation-pdu-2021"

# framework-youth.md: 0-6 Inadequate, 7-18 Requires improvement, 19-30 Good, 31-36 Outstanding [C]
YOUTH_OVERALL = [
    (0, 6, Rating.INADEQUATE),
    (7, 18, Rating.REQUIRES_IMPROVEMENT),
    (19, 30, Rating.GOOD),
    (31, 36, Rating.OUTSTANDING),
]
POINTS = {3: Rating.OUTSTANDING, 2: Rating.GOOD, 1: Rating.REQUIRES_IMPROVEMENT, 0: Rating.INADEQUATE}
# Yes / No counts whose percentage falls in each band of the 50/65/80 bands
COUNTS_FOR = {
    Rating.OUTSTANDING: (9, 1),
    Rating.GOOD: (7, 3),
    Rating.REQUIRES_IMPROVEMENT: (5, 5),
    Rating.INADEQUATE: (0, 10),
}


@pytest.fixture
def user_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "my-frameworks"
    monkeypatch.setenv("CASEAUDIT_FRAMEWORKS_DIR", str(folder))
    return folder


def _youth_summary(framework, ratings: dict[str, Rating]):
    """A pure summary of 10 cases whose case standards and judgement ratings are as given."""
    counts = {}
    domain_ratings = {}
    for standard in framework.standards:
        rating = ratings[standard.id]
        if standard.method is RatingMethod.JUDGEMENT:
            domain_ratings[standard.id] = {"rating": rating.value, "evidence": None, "override_reason": None}
            continue
        yes, no = COUNTS_FOR[rating]
        for kq in standard.key_questions:
            counts[kq.id] = {"yes": yes, "no": no, "not_applicable": 0}
    return build_summary(
        framework,
        round_name="r",
        round_id="r",
        unit="A YJS",
        counts=counts,
        cases=10,
        incomplete_cases=0,
        domain_ratings=domain_ratings,
    )


# ------------------------------------------------------------------ the youth framework
def test_youth_framework_has_thirteen_standards_twelve_scored():
    youth = load_framework(YOUTH)
    assert youth.origin is Origin.SHIPPED
    assert [s.id for s in youth.standards] == [
        "1.1",
        "1.2",
        "1.3",
        "1.4",
        "2.1",
        "2.2",
        "2.3",
        "2.4",
        "3.1",
        "3.2",
        "3.3",
        "3.4",
        "4.1",
    ]
    assert [s.name for s in youth.standards][:4] == [
        "Governance and leadership",
        "Staff",
        "Partnerships and services",
        "Information and facilities",
    ]
    assert youth.standard("4.1").name == "Resettlement policy and provision"
    assert youth.standard("4.1").rated and not youth.standard("4.1").scored
    assert [s.id for s in youth.standards if not s.scored] == ["4.1"]
    assert {s.id for s in youth.standards if s.method is RatingMethod.JUDGEMENT} == {"1.1", "1.2", "1.3", "1.4", "3.4", "4.1"}
    assert youth.max_score == 36
    assert [(r.lowest, r.highest, r.rating) for r in score_ranges(youth)] == YOUTH_OVERALL
    # three lenses per case standard: desistance, keeping the child safe, keeping other people safe
    for standard in youth.standards:
        if standard.method is RatingMethod.RULE:
            texts = [kq.text for kq in standard.key_questions]
            assert len(texts) == 3 and "desistance" in texts[0] and "child" in texts[1] and "other people" in texts[2]
            assert all(kq.prompts for kq in standard.key_questions)
    # the reconstruction is marked as such in the file, for every key question
    text = (DEFINITIONS_DIR / f"{YOUTH}.toml").read_text(encoding="utf-8")
    assert text.count("# [W] key question wording") == len(youth.key_questions) == 21


def _ratings_for_score(framework, total: int, resettlement: Rating) -> dict[str, Rating]:
    scored = [s.id for s in framework.standards if s.scored]
    points = []
    left = total
    for _ in scored:
        points.append(min(3, left))
        left -= points[-1]
    assert left == 0
    ratings = {sid: POINTS[p] for sid, p in zip(scored, points, strict=False)}
    ratings["4.1"] = resettlement
    return ratings


@pytest.mark.parametrize("total", range(37))
def test_youth_overall_rating_follows_its_score_bands(total):
    youth = load_framework(YOUTH)
    expected = next(rating for low, high, rating in YOUTH_OVERALL if low <= total <= high)
    for resettlement in (Rating.OUTSTANDING, Rating.INADEQUATE):
        summary = _youth_summary(youth, _ratings_for_score(youth, total, resettlement))
        assert (summary.score, summary.max_score, summary.overall_rating) == (total, 36, expected)
        assert summary.standard("4.1").rating is resettlement


def test_resettlement_is_rated_but_does_not_count_toward_the_score():
    youth = load_framework(YOUTH)
    base = {s.id: Rating.GOOD for s in youth.standards}
    results = set()
    for resettlement in (Rating.OUTSTANDING, Rating.GOOD, Rating.REQUIRES_IMPROVEMENT, Rating.INADEQUATE, Rating.NOT_APPLICABLE):
        result = score(youth, {**base, "4.1": resettlement})
        assert "4.1" not in result.rated_standards
        results.add((result.score, result.maximum, result.overall_rating))
    assert results == {(24, 36, Rating.GOOD)}
    summary = _youth_summary(youth, {**base, "4.1": Rating.OUTSTANDING})
    resettlement = summary.standard("4.1")
    assert resettlement.rated and not resettlement.scored and resettlement.rating is Rating.OUTSTANDING


def test_pdu_max_score_still_counts_every_rated_standard(framework):
    assert framework.max_score == 27  # 2.1 to 2.5 and 1.1 to 1.4, outcomes unrated
    assert [s.id for s in framework.standards if not s.scored] == ["2.6"]


# ------------------------------------------------------------------ loading and validation
def _pdu_document() -> dict:
    return tomllib.loads((DEFINITIONS_DIR / f"{PDU}.toml").read_text(encoding="utf-8"))


def test_every_problem_in_a_definition_is_listed():
    doc = _pdu_document()
    doc["rating_bands"]["bands"][1]["from"] = 51  # a gap
    doc["points"]["Brilliant"] = 4  # points for an unknown rating
    doc["score_bands"][1]["up_to"] = "1/8"  # overlaps the band before
    doc["standards"][5]["key_questions"][1]["id"] = "2.2.1"  # a duplicated question id
    doc["standards"][6]["key_questions"][0]["text"] = ""  # missing text
    doc["standards"][7]["scroed"] = False  # a misspelt key
    doc["limiting_rules"][1]["when_all_of"] = ["2.9"]  # a dangling standard
    doc["limiting_rules"][0]["standard"] = "2.6"  # a cap on a standard not rated by judgement
    doc["sentences"]["single"] = "{unit} is rated as {rating"  # a broken template
    with pytest.raises(DefinitionError) as caught:
        parse_definition(doc, "many.toml")
    lines = [str(p) for p in caught.value.problems]
    assert all(line.startswith("many.toml: ") for line in lines)
    expected = [
        ("rating_bands band 2", "gap"),
        ("points 'Brilliant'", "unknown rating 'Brilliant'"),
        ("score_bands band 2", "overlaps the band before"),
        ("id 2.2.1", "duplicate id"),
        ("key question 2.3.1", "missing text for 'text'"),
        ("standard 2.4", "unknown key 'scroed'"),
        ("limiting rule services-planning-inadequate", "'2.9', which does not exist"),
        ("limiting rule leadership-all-domain-two-inadequate", "standard 2.6 is not rated by judgement"),
        ("sentences single", "cannot be filled in"),
    ]
    for where, problem in expected:
        assert any(f": {where}" in line and problem in line for line in lines), (where, problem, lines)


@pytest.mark.parametrize(
    "breaker,where,problem",
    [
        (lambda d: d["standards"][9].__setitem__("scored", True), "standard 2.6", "an unrated standard cannot be scored"),
        (lambda d: d["standards"][4].__setitem__("scored", "no"), "standard 2.1", "scored must be true or false"),
        (
            lambda d: d["rating_bands"]["bands"].append({"rating": "Good", "from": 100}),
            "rating_bands band 5",
            "'Good' already has a band",
        ),
        (lambda d: d["points"].pop("Good"), "points", "no points for 'Good'"),
        (lambda d: d["points"].__setitem__("Not applicable", 0), "points 'Not applicable'", "takes no points"),
        (lambda d: d.__setitem__("version", "1 final"), "top level", "version '1 final' may hold only"),
        (
            lambda d: d["limiting_rules"][1].__setitem__("when_all_of", ["2.6"]),
            "limiting rule services-planning-inadequate",
            "not rated from case answers",
        ),
        (lambda d: d["domains"].append({"id": "3", "name": "Empty"}), "domain 3", "no standard belongs to this domain"),
    ],
)
def test_more_definition_problems_are_named(breaker, where, problem):
    doc = _pdu_document()
    breaker(doc)
    with pytest.raises(DefinitionError) as caught:
        parse_definition(doc, "broken.toml")
    assert any(p.where == where and problem in p.problem for p in caught.value.problems), caught.value.problems


def test_a_broken_or_clashing_user_file_is_left_out_not_a_crash(user_dir):
    user_dir.mkdir()
    (user_dir / "broken.toml").write_text("id = \n", encoding="utf-8")
    shipped_copy = (DEFINITIONS_DIR / f"{PDU}.toml").read_text(encoding="utf-8").replace('"Outstanding" = 3', '"Outstanding" = 4')
    (user_dir / "shadow.toml").write_text(shipped_copy, encoding="utf-8")
    found = catalogue()
    assert [f.id for f in found.frameworks] == [PDU, YOUTH]
    assert all(f.origin is Origin.SHIPPED for f in found.frameworks)
    problems = [str(p) for p in found.problems]
    assert any("broken.toml: TOML syntax" in p for p in problems)
    assert any("shadow.toml" in p and "already defined" in p for p in problems)
    assert load_framework(PDU, "1").points_for(Rating.OUTSTANDING) == 3  # the shipped one wins


# ------------------------------------------------------------------ the command line
def test_frameworks_list_shows_shipped_and_user_added(cli, user_dir, tmp_path):
    assert cli("frameworks", "new", "our-audit", "--from", PDU, "-o", tmp_path / "our.toml").code == 0
    assert cli("frameworks", "add", tmp_path / "our.toml").code == 0
    result = cli("frameworks", "list", "--format", "json")
    assert result.code == 0, result
    rows = {r["id"]: r for r in json.loads(result.out)}
    assert set(rows) == {PDU, YOUTH, "our-audit"}
    assert rows[YOUTH]["origin"] == "shipped" and rows[YOUTH]["version"] == "1"
    assert rows["our-audit"]["origin"] == "user"
    assert rows["our-audit"]["path"] == str(user_dir / "our-audit-v1.toml")
    table = cli("frameworks", "list")
    assert table.code == 0
    assert re.search(r"hmip-youth-2021\s+1\s+HMIP inspection of youth justice services.*shipped", table.out)
    assert re.search(r"our-audit\s+1\s+.*" + re.escape(str(user_dir / "our-audit-v1.toml")), table.out)


def test_frameworks_show_json_has_the_keys_others_rely_on(cli):
    result = cli("frameworks", "show", YOUTH, "--format", "json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert {"id", "version", "title", "standards", "rating_bands", "points", "score_bands"} <= set(data)
    assert (data["id"], data["version"]) == (YOUTH, "1")
    assert len(data["standards"]) == 13
    for standard in data["standards"]:
        assert {"id", "name", "domain", "method", "scored", "key_questions"} <= set(standard)
        assert standard["method"] in ("rule", "judgement", "unrated")
        for kq in standard["key_questions"]:
            assert {"id", "text", "prompts"} <= set(kq)
            assert all(set(p) == {"id", "text"} for p in kq["prompts"])
    resettlement = next(s for s in data["standards"] if s["id"] == "4.1")
    assert (resettlement["method"], resettlement["scored"]) == ("judgement", False)
    assert data["points"] == {"Outstanding": 3, "Good": 2, "Requires improvement": 1, "Inadequate": 0}
    assert data["max_score"] == 36
    assert [(b["rating"], b["lowest"], b["highest"]) for b in data["score_bands"]] == [
        (r.value, low, high) for low, high, r in YOUTH_OVERALL
    ]
    assert data["rating_bands"][0] == {"rating": "Inadequate", "from": 0, "below": 50}
    pdu = json.loads(cli("frameworks", "show", PDU, "--version", "1", "--format", "json").out)
    outcomes = next(s for s in pdu["standards"] if s["id"] == "2.6")
    assert (outcomes["method"], outcomes["scored"]) == ("unrated", False)
    assert pdu["standards"][5]["key_questions"][0]["prompts"][0] == {
        "id": "2.2.1a",
        "text": "Does assessment analyse the person's motivation and readiness to engage and comply with the sentence?",
    }


def test_frameworks_show_table_and_toml(cli):
    table = cli("frameworks", "show", YOUTH)
    assert table.code == 0
    assert "4.1 Resettlement policy and provision (rated by judgement, not scored)" in table.out
    assert "Inadequate 0-6, Requires improvement 7-18, Good 19-30, Outstanding 31-36" in table.out
    toml_text = cli("frameworks", "show", YOUTH, "--format", "toml")
    assert toml_text.out == (DEFINITIONS_DIR / f"{YOUTH}.toml").read_text(encoding="utf-8")


def test_unknown_framework_is_one_line(cli):
    for args in (("show", "no-such"), ("show", PDU, "--version", "9"), ("new", "x", "--from", "no-such", "-o", "x.toml")):
        result = cli("frameworks", *args)
        assert result.code == 2
        assert result.err.count("\n") == 1 and "Traceback" not in result.err
        assert "no-such" in result.err or "no version '9'" in result.err


def test_frameworks_new_copies_under_a_new_id_and_never_overwrites(cli, user_dir, tmp_path):
    target = tmp_path / "local.toml"
    result = cli("frameworks", "new", "our-audit", "--from", YOUTH, "-o", target)
    assert result.code == 0, result
    text = target.read_text(encoding="utf-8")
    copied = parse_definition(tomllib.loads(text), str(target))
    assert (copied.id, copied.version) == ("our-audit", "1")
    assert [s.id for s in copied.standards] == [s.id for s in load_framework(YOUTH).standards]
    assert "# [W] key question wording" in text  # comments travel with the copy
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    again = cli("frameworks", "new", "other-id", "--from", YOUTH, "-o", target)
    assert again.code == 2 and "already exists" in again.err
    assert target.read_text(encoding="utf-8") == text
    taken = cli("frameworks", "new", PDU, "--from", YOUTH, "-o", tmp_path / "x.toml")
    assert taken.code == 2 and "already exists" in taken.err
    bad = cli("frameworks", "new", "no spaces", "--from", YOUTH, "-o", tmp_path / "y.toml")
    assert bad.code == 2 and "not a framework id" in bad.err


def test_frameworks_check_accepts_a_valid_file(cli, tmp_path):
    target = tmp_path / "local.toml"
    cli("frameworks", "new", "our-audit", "--from", PDU, "-o", target)
    result = cli("frameworks", "check", target)
    assert result.code == 0, result
    assert result.out.startswith(f"{target}: framework our-audit version 1 is valid: 10 standards, 14 key questions, 60 prompts")


def test_frameworks_check_refuses_a_duplicated_question_id_naming_it(cli, tmp_path):
    target = tmp_path / "broken.toml"
    cli("frameworks", "new", "our-audit", "--from", PDU, "-o", target)
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace('id = "2.4.2"', 'id = "2.4.1"', 1), encoding="utf-8")
    result = cli("frameworks", "check", target)
    assert result.code == 2
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert any(line == f"{target}: id 2.4.1: duplicate id (already used by standard 2.4 key question)" for line in lines), lines
    # every problem on its own line, naming the file
    assert len(lines) > 2 and all(line.startswith(str(target)) or line.startswith("caseaudit: ") for line in lines)
    assert cli("frameworks", "add", target).code == 2
    assert cli("frameworks", "check", tmp_path / "missing.toml").err.strip().endswith("missing.toml: no such file")


def test_frameworks_add_installs_once_and_versions_are_immutable(cli, user_dir, tmp_path):
    source = tmp_path / "local.toml"
    cli("frameworks", "new", "our-audit", "--from", PDU, "-o", source)
    added = cli("frameworks", "add", source)
    assert added.code == 0, added
    installed = user_dir / "our-audit-v1.toml"
    assert installed.read_bytes() == source.read_bytes()
    assert load_framework("our-audit").origin is Origin.USER
    assert load_framework("our-audit").source == str(installed)
    again = cli("frameworks", "add", source)
    assert again.code == 0 and "already installed" in again.out
    changed = source.read_text(encoding="utf-8").replace('"Outstanding" = 3', '"Outstanding" = 4')
    source.write_text(changed, encoding="utf-8")
    refused = cli("frameworks", "add", source)
    assert refused.code == 2
    assert "versions are immutable" in refused.err and "bump the version" in refused.err
    assert refused.err.count("\n") == 1
    assert load_framework("our-audit").points_for(Rating.OUTSTANDING) == 3  # unchanged
    source.write_text(changed.replace('version = "1"', 'version = "2"', 1), encoding="utf-8")
    bumped = cli("frameworks", "add", source)
    assert bumped.code == 0, bumped
    assert (user_dir / "our-audit-v2.toml").exists()
    assert load_framework("our-audit").version == "2" and load_framework("our-audit", "1").version == "1"


def test_frameworks_add_cannot_replace_a_shipped_version(cli, user_dir, tmp_path):
    copy = tmp_path / "pdu.toml"
    copy.write_text(cli("frameworks", "show", PDU, "--format", "toml").out, encoding="utf-8")
    same = cli("frameworks", "add", copy)
    assert same.code == 0 and "ships with caseaudit" in same.out
    copy.write_text(
        copy.read_text(encoding="utf-8")
        .replace("below = 50 }", "below = 55 }")
        .replace("from = 50, below = 65", "from = 55, below = 65"),
        encoding="utf-8",
    )
    refused = cli("frameworks", "add", copy)
    assert refused.code == 2 and "cannot be replaced" in refused.err
    assert not user_dir.exists() or not list(user_dir.iterdir())


# ------------------------------------------------------------------ a local framework in use
def _without_court_work_at_60_75_90(text: str) -> str:
    """What a QA lead does to a copy of PDU-2021: court work (2.1) removed, bands moved to 60/75/90."""
    text, removed = re.subn(r'\[\[standards\]\]\nid = "2\.1"\n.*?(?=\[\[standards\]\]\nid = "2\.2")', "", text, flags=re.S)
    assert removed == 1
    replacements = [
        ('when_all_of = ["2.1", "2.2", "2.3", "2.4", "2.5"]', 'when_all_of = ["2.2", "2.3", "2.4", "2.5"]'),
        ('{ rating = "Inadequate", from = 0, below = 50 }', '{ rating = "Inadequate", from = 0, below = 60 }'),
        (
            '{ rating = "Requires improvement", from = 50, below = 65 }',
            '{ rating = "Requires improvement", from = 60, below = 75 }',
        ),
        ('{ rating = "Good", from = 65, below = 80 }', '{ rating = "Good", from = 75, below = 90 }'),
        ('{ rating = "Outstanding", from = 80 }', '{ rating = "Outstanding", from = 90 }'),
    ]
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    return text


def _sheet(path: Path, framework, yes_of_ten: int) -> Path:
    """Ten cases; every key question answered Yes in the first ``yes_of_ten`` cases and No in the rest."""
    key_questions = [kq.id for kq in framework.key_questions]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_ref", *key_questions])
        for n in range(10):
            writer.writerow([f"X{n:06d}", *(["Yes" if n < yes_of_ten else "No"] * len(key_questions))])
    return path


def _local_framework(cli, tmp_path) -> Path:
    copy = tmp_path / "no-court-work.toml"
    assert cli("frameworks", "new", "pdu-no-court-work", "--from", PDU, "-o", copy).code == 0
    copy.write_text(_without_court_work_at_60_75_90(copy.read_text(encoding="utf-8")), encoding="utf-8")
    checked = cli("frameworks", "check", copy)
    assert checked.code == 0, checked
    assert "9 standards, 13 key questions, 54 prompts" in checked.out
    assert cli("frameworks", "add", copy).code == 0
    return copy


def test_a_local_copy_with_its_own_bands_is_imported_and_summarised(cli, user_dir, tmp_path, db_path):
    _local_framework(cli, tmp_path)
    local = load_framework("pdu-no-court-work")
    assert not local.has_question("2.1.1")
    sheet = _sheet(tmp_path / "sheet.csv", local, 7)  # 70% 'Yes' everywhere
    imported = cli(
        "--db", db_path, "import", sheet, "--round", "Local 2026", "--unit", "Our PDU", "--framework", "pdu-no-court-work"
    )
    assert imported.code == 0, imported
    summary = json.loads(cli("--db", db_path, "summary", "--round", "Local 2026", "--format", "json").out)
    assert summary["framework"]["id"] == "pdu-no-court-work"
    ratings = {s["id"]: s["rating"] for s in summary["standards"]}
    assert "2.1" not in ratings
    # 70% is 'Requires improvement' under its bands (60 to below 75); PDU-2021 would say 'Good'
    assert [ratings[s] for s in ("2.2", "2.3", "2.4", "2.5")] == ["Requires improvement"] * 4
    assert all(kq["band"] == "Requires improvement" for s in summary["standards"] for kq in s["key_questions"])
    assert (summary["score"], summary["max_score"], summary["overall_rating"]) == (4, 12, "Requires improvement")
    # the same answers against the shipped framework: its own bands, its own ratings
    imported = cli("--db", db_path, "import", sheet, "--round", "Shipped 2026", "--unit", "Our PDU")
    assert imported.code == 0, imported
    shipped = json.loads(cli("--db", db_path, "summary", "--round", "Shipped 2026", "--format", "json").out)
    assert [s["rating"] for s in shipped["standards"] if s["id"] in ("2.2", "2.3", "2.4", "2.5")] == ["Good"] * 4
    assert (shipped["score"], shipped["max_score"], shipped["overall_rating"]) == (8, 12, "Good")


def test_a_round_whose_user_framework_is_missing_gives_one_line_until_it_is_added_again(cli, user_dir, tmp_path, db_path):
    copy = _local_framework(cli, tmp_path)
    sheet = _sheet(tmp_path / "sheet.csv", load_framework("pdu-no-court-work"), 9)
    assert cli("--db", db_path, "import", sheet, "--round", "Local", "--unit", "U", "--framework", "pdu-no-court-work").code == 0
    (user_dir / "pdu-no-court-work-v1.toml").unlink()
    missing = cli("--db", db_path, "summary", "--round", "Local", "--format", "json")
    assert missing.code == 2
    assert "Traceback" not in missing.err and missing.err.count("\n") == 1
    assert "pdu-no-court-work version 1" in missing.err
    assert "framework not available" in cli("--db", db_path, "rounds").out
    assert cli("frameworks", "add", copy).code == 0
    back = cli("--db", db_path, "summary", "--round", "Local", "--format", "json")
    assert back.code == 0, back
    assert json.loads(back.out)["overall_rating"] == "Outstanding"


def test_a_youth_round_through_the_command_line(cli, tmp_path, db_path):
    youth = load_framework(YOUTH)
    sheet = _sheet(tmp_path / "youth.csv", youth, 7)  # every case standard 'Good' (70%)
    imported = cli("--db", db_path, "import", sheet, "--round", "YJS 2026", "--unit", "Our YJS", "--framework", YOUTH)
    assert imported.code == 0, imported
    for standard in ("1.1", "1.2", "1.3", "1.4", "3.4"):
        assert cli("--db", db_path, "rate", "--round", "YJS 2026", standard, "Requires improvement").code == 0
    before = json.loads(cli("--db", db_path, "summary", "--round", "YJS 2026", "--format", "json").out)
    assert before["unrated_judgements"] == ["4.1"]
    assert cli("--db", db_path, "rate", "--round", "YJS 2026", "4.1", "Outstanding").code == 0
    summary = json.loads(cli("--db", db_path, "summary", "--round", "YJS 2026", "--format", "json").out)
    # 7 case standards Good (14) + 5 judgements Requires improvement (5) = 19 of 36: Good; resettlement not counted
    assert (summary["score"], summary["max_score"], summary["overall_rating"]) == (19, 36, "Good")
    resettlement = next(s for s in summary["standards"] if s["id"] == "4.1")
    assert (resettlement["rating"], resettlement["rated"], resettlement["scored"]) == ("Outstanding", True, False)
    assert summary["unrated_judgements"] == []
    table = cli("--db", db_path, "summary", "--round", "YJS 2026")
    assert table.code == 0
    assert re.search(r"4\.1\s+Resettlement policy and provision\s+Outstanding \(not counted in the score\)", table.out)


@pytest.mark.parametrize("suffix", ["html", "xlsx", "md"])
def test_a_youth_round_reports_in_every_format(cli, tmp_path, db_path, suffix):
    sheet = _sheet(tmp_path / "youth.csv", load_framework(YOUTH), 4)
    assert cli("--db", db_path, "import", sheet, "--round", "YJS", "--unit", "U", "--framework", YOUTH).code == 0
    assert cli("--db", db_path, "rate", "--round", "YJS", "4.1", "Good").code == 0
    out = tmp_path / f"report.{suffix}"
    result = cli("--db", db_path, "report", "--round", "YJS", "-o", out)
    assert result.code == 0, result
    assert out.stat().st_size > 0
    if suffix != "xlsx":
        text = out.read_text(encoding="utf-8")
        assert "Resettlement policy and provision" in text and "not counted in the score" in text
        assert "3.3.3" in text  # the out-of-court key questions are reported too


@pytest.mark.parametrize("suffix", ["html", "md"])
def test_report_sections_follow_the_frameworks_own_domains(cli, tmp_path, db_path, demo_db, suffix):
    """Youth 3.4 and 4.1 are rated by judgement but are not 'domain one'; each domain heads its own standards."""
    sheet = _sheet(tmp_path / "youth.csv", load_framework(YOUTH), 4)
    assert cli("--db", db_path, "import", sheet, "--round", "YJS", "--unit", "Our YJS", "--framework", YOUTH).code == 0
    assert cli("--db", db_path, "rate", "--round", "YJS", "3.4", "Good", "--evidence", "OOCD panel minutes").code == 0
    out = tmp_path / f"youth.{suffix}"
    assert cli("--db", db_path, "report", "--round", "YJS", "-o", out).code == 0
    text = out.read_text(encoding="utf-8")
    headings = [
        "Domain one: organisational delivery",
        "Domain two: court disposals",
        "Domain three: out-of-court disposals",
        "Domain four: resettlement",
    ]
    at = [text.index(h) for h in headings]
    assert at == sorted(at)
    assert at[2] < text.index("OOCD panel minutes") < at[3]  # 3.4's evidence sits under domain three
    assert "4.1 Resettlement policy and provision" in text[at[3] :]
    pdu = tmp_path / f"newham.{suffix}"
    assert cli("--db", demo_db, "report", "--round", "Newham 2022", "-o", pdu).code == 0
    pdu_text = pdu.read_text(encoding="utf-8")
    assert pdu_text.index("Domain one: organisational delivery") < pdu_text.index("Domain two: court work and case supervision")
