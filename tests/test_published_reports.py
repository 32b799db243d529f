"""Acceptance: the demo rounds reproduce the published reports' tables exactly."""

from __future__ import annotations

import json

import pytest

from tests.published import REPORTS


@pytest.fixture(params=REPORTS, ids=lambda r: r["round"])
def report(request):
    return request.param


def test_summary_json_equals_the_published_report(cli, demo_db, report):
    result = cli("--db", demo_db, "summary", "--round", report["round"], "--format", "json")
    assert result.code == 0, result
    summary = json.loads(result.out)
    assert summary["cases"] == report["cases"]
    assert summary["incomplete_cases"] == 0
    percentages = {
        kq["id"]: kq["percent"] for s in summary["standards"] for kq in s["key_questions"] if not kq["id"].startswith("2.1")
    }
    assert percentages == report["percentages"]
    ratings = {s["id"]: s["rating"] for s in summary["standards"] if s["rated"]}
    assert ratings == report["ratings"]
    outcomes = next(s for s in summary["standards"] if s["id"] == "2.6")
    assert outcomes["rated"] is False and outcomes["rating"] is None
    assert (summary["score"], summary["max_score"], summary["overall_rating"]) == (
        report["score"],
        report["max_score"],
        report["overall_rating"],
    )
    for standard_id, sentence in report["sentences"].items():
        standard = next(s for s in summary["standards"] if s["id"] == standard_id)
        assert standard["sentence"] == sentence


def test_table_output_prints_the_published_figures(cli, demo_db, report):
    result = cli("--db", demo_db, "summary", "--round", report["round"])
    assert result.code == 0, result
    assert f"Score {report['score']}/{report['max_score']}" in result.out
    assert f"Overall rating: {report['overall_rating']}" in result.out
    for percent in report["percentages"].values():
        assert f"{percent}%" in result.out
    for sentence in report["sentences"].values():
        assert sentence in " ".join(result.out.split())


def test_lowest_key_question_is_named(cli, demo_db):
    summary = json.loads(cli("--db", demo_db, "summary", "--round", "Newham 2022", "--format", "json").out)
    reviewing = next(s for s in summary["standards"] if s["id"] == "2.5")
    assert reviewing["lowest"] == {"key_questions": ["2.5.2", "2.5.3"], "percent": 30}
    assessment = next(s for s in summary["standards"] if s["id"] == "2.2")
    assert assessment["lowest"] == {"key_questions": ["2.2.3"], "percent": 36}


def test_domain_one_caps_and_overrides(cli, demo_db, report):
    summary = json.loads(cli("--db", demo_db, "summary", "--round", report["round"], "--format", "json").out)
    by_id = {s["id"]: s for s in summary["standards"]}
    for standard_id in ("1.1", "1.3"):
        assert by_id[standard_id]["advisory_cap"]["rating"] == "Inadequate"
        assert by_id[standard_id]["above_cap"] is True
        assert by_id[standard_id]["override_reason"]
    assert by_id["1.2"]["advisory_cap"] is None
    for standard_id, sentence in report.get("overrides", {}).items():
        assert by_id[standard_id]["advisory_cap"]["guidance"] in sentence


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
def test_other_formats_carry_the_figures(cli, demo_db, fmt):
    result = cli("--db", demo_db, "summary", "--round", "Newham 2022", "--format", fmt)
    assert result.code == 0
    assert "Requires improvement" in result.out
    if fmt == "csv":
        rows = [line.split(",") for line in result.out.splitlines()]
        kq = {r[2]: r[9] for r in rows if len(r) > 9 and r[3] == "key question"}
        assert kq["2.3.3"] == "39" and kq["2.2.1"] == "64"
        assert result.out.splitlines()[-1].startswith("score,Requires improvement")
    else:
        assert "| 2.3.3 Does planning focus sufficiently on keeping other people safe? | 13 | 20 | 0 | 0 | 39% |" in result.out
        assert "**Score 6/24**" in result.out
