"""Framework definitions: the shipped one is complete; malformed ones are refused with file, id and problem."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from framework import DefinitionError, load_file, load_framework, shipped_frameworks
from framework.load import DEFINITIONS_DIR, parse_definition
from framework.model import RatingMethod

SHIPPED = DEFINITIONS_DIR / "hmip-probation-pdu-2021.toml"
KEY_QUESTIONS = {
    "2.1.1": "Is the pre-sentence information and advice provided to court sufficiently analytical and personalised to the individual, supporting the court's decision-making?",
    "2.2.1": "Does assessment focus sufficiently on engaging the person on probation?",
    "2.2.2": "Does assessment focus sufficiently on the factors linked to offending and desistance?",
    "2.2.3": "Does assessment focus sufficiently on keeping other people safe?",
    "2.3.1": "Does planning focus sufficiently on engaging the person on probation?",
    "2.3.2": "Does planning focus sufficiently on reducing reoffending and supporting desistance?",
    "2.3.3": "Does planning focus sufficiently on keeping other people safe?",
    "2.4.1": "Is the sentence or post-custody period implemented effectively with a focus on engaging the person on probation?",
    "2.4.2": "Does the implementation and delivery of services effectively support desistance?",
    "2.4.3": "Does the implementation and delivery of services effectively support the safety of other people?",
    "2.5.1": "Does reviewing focus sufficiently on supporting the compliance and engagement of the person on probation?",
    "2.5.2": "Does reviewing focus sufficiently on supporting desistance?",
    "2.5.3": "Does reviewing focus sufficiently on keeping other people safe?",
    "2.6.1": "Do early outcomes demonstrate that reasonable progress has been made, in line with the personalised needs of the person on probation?",
}
PROMPT_COUNTS = {
    "2.1.1": 6,
    "2.2.1": 3,
    "2.2.2": 3,
    "2.2.3": 3,
    "2.3.1": 3,
    "2.3.2": 5,
    "2.3.3": 5,
    "2.4.1": 6,
    "2.4.2": 5,
    "2.4.3": 4,
    "2.5.1": 3,
    "2.5.2": 4,
    "2.5.3": 5,
    "2.6.1": 5,
}


def test_shipped_framework_is_complete(framework):
    assert {kq.id: kq.text for kq in framework.key_questions} == KEY_QUESTIONS
    assert {kq.id: len(kq.prompts) for kq in framework.key_questions} == PROMPT_COUNTS
    assert [s.id for s in framework.standards] == ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6"]
    assert framework.standard("2.6").method is RatingMethod.UNRATED
    assert all(framework.standard(s).method is RatingMethod.JUDGEMENT for s in ("1.1", "1.2", "1.3", "1.4"))
    assert [d.id for d in framework.key_question("2.2.3").data_items] == ["2.2.3.da", "2.2.3.cs", "2.2.3.rosh"]
    assert all(s.headline for s in framework.standards)


def test_question_order_is_prompts_then_judgement(framework):
    ids = framework.question_ids
    assert ids.index("2.2.1a") < ids.index("2.2.1c") < ids.index("2.2.1") < ids.index("2.2.2a")
    assert ids.index("2.2.3.rosh") < ids.index("2.2.3")


def test_versions_are_found(framework):
    assert load_framework(framework.id, "1") == framework
    assert framework in shipped_frameworks()


def _document() -> dict:
    return tomllib.loads(SHIPPED.read_text(encoding="utf-8"))


def _standard(doc, standard_id):
    return next(s for s in doc["standards"] if s["id"] == standard_id)


def _break_duplicate_prompt(doc):
    prompts = _standard(doc, "2.2")["key_questions"][0]["prompts"]
    prompts.append(dict(prompts[0]))


def _break_dangling_rule(doc):
    doc["limiting_rules"][0]["when_all_of"] = ["2.2", "2.9"]


def _break_gap(doc):
    doc["rating_bands"]["bands"][1]["from"] = 51


def _break_overlap(doc):
    doc["rating_bands"]["bands"][2]["from"] = 60


def _break_missing_text(doc):
    _standard(doc, "2.3")["key_questions"][1]["text"] = "  "


def _break_dangling_domain(doc):
    _standard(doc, "2.4")["domain"] = "3"


def _break_score_bands(doc):
    doc["score_bands"][3]["up_to"] = "0.9"


def _break_prompt_id(doc):
    _standard(doc, "2.5")["key_questions"][0]["prompts"][0]["id"] = "2.5.9a"


@pytest.mark.parametrize(
    "breaker,where,problem",
    [
        (_break_duplicate_prompt, "id 2.2.1a", "duplicate id"),
        (_break_dangling_rule, "limiting rule leadership-all-domain-two-inadequate", "'2.9', which does not exist"),
        (_break_gap, "rating_bands band 2", "gap"),
        (_break_overlap, "rating_bands band 3", "overlaps"),
        (_break_missing_text, "key question 2.3.2", "missing text"),
        (_break_dangling_domain, "standard 2.4", "domain '3' does not exist"),
        (_break_score_bands, "score_bands", "gap at the top"),
        (_break_prompt_id, "prompt 2.5.9a", "key question id plus one letter"),
    ],
)
def test_malformed_definitions_are_refused(breaker, where, problem):
    doc = _document()
    breaker(doc)
    with pytest.raises(DefinitionError) as caught:
        parse_definition(doc, "broken.toml")
    message = str(caught.value)
    assert message.startswith("broken.toml: ")
    assert where in message
    assert problem in message


def test_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("id = \n", encoding="utf-8")
    with pytest.raises(DefinitionError, match="bad.toml: TOML syntax"):
        load_file(path)


def test_framework_package_imports_neither_textual_nor_sqlite():
    code = (
        "import sys, framework, framework.rules, framework.load;"
        "framework.load_framework();"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'sqlite3', '_sqlite3', 'sqlite_utils', 'audit', 'rich')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_summary_path_does_not_import_textual(demo_db):
    code = (
        "import sys; from audit.cli import main;"
        f"code = main(['--db', {str(demo_db)!r}, 'summary', '--round', 'Newham 2022', '--format', 'json']);"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual'];"
        "sys.exit(3 if bad else code)"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
