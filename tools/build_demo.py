"""Build the demo case sheets in data/demo/ from the published figures.

    python tools/build_demo.py

Deterministic: the same inputs give the same sheets. Inputs:
- the published key-question counts below (each percentage in the reports),
- data/demo/figures.toml (prompt-level sentences of the reports),
- a fixed ranking of cases, so key questions and their prompts agree the way
  real audits do (a well-handled case tends to be Yes across the board), with
  the cohort differences the reports describe (Newham: resettlement cases
  weaker, young adults stronger; Lewisham and Bromley: white people on
  probation better served than ethnic-minority people).
The committed CSVs are the demo data; this script documents how they were made.
"""

from __future__ import annotations

import csv
import random
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.core.attributes import ATTRIBUTE_COLUMNS, RESETTLEMENT_SENTENCE_TYPES  # noqa: E402
from framework import load_framework  # noqa: E402
from framework.model import DataItem, KeyQuestion  # noqa: E402

DEMO = ROOT / "data" / "demo"
FRAMEWORK = load_framework("hmip-probation-pdu-2021", "1")

# Published key-question figures: (Yes, No) out of every inspected case.
# fmt: off  (the published tables, laid out as printed)
KEY_QUESTIONS = {
    "Newham 2022": {
        "2.2.1": (21, 12),
        "2.2.2": (16, 17),
        "2.2.3": (12, 21),
        "2.3.1": (17, 16),
        "2.3.2": (16, 17),
        "2.3.3": (13, 20),
        "2.4.1": (14, 19),
        "2.4.2": (10, 23),
        "2.4.3": (9, 24),
        "2.5.1": (16, 17),
        "2.5.2": (10, 23),
        "2.5.3": (10, 23),
        "2.6.1": (9, 24),
    },
    "Lewisham and Bromley 2022": {
        "2.2.1": (18, 24),
        "2.2.2": (24, 18),
        "2.2.3": (9, 33),
        "2.3.1": (16, 26),
        "2.3.2": (22, 20),
        "2.3.3": (15, 27),
        "2.4.1": (23, 19),
        "2.4.2": (11, 31),
        "2.4.3": (8, 34),
        "2.5.1": (22, 20),
        "2.5.2": (16, 26),
        "2.5.3": (10, 32),
        "2.6.1": (12, 30),
    },
}

COURT_WORK_REASON = "No pre-sentence report prepared in the PDU"
NA_REASONS = {
    "2.2.3c": "No identifiable victim",
    "2.3.3e": "No identifiable victim",
    "2.4.3b": "No victim identified",
    "2.4.1d": "Enforcement not needed",
    "2.4.1e": "No breach or recall",
    "2.4.1f": "Not a licence case",
    "2.6.1d": "No breach or recall required",
    "2.6.1e": "Accommodation not linked to offending",
}
# fmt: on


def cohort_of(case: dict) -> set[str]:
    groups = set()
    if case["sentence_type"] in RESETTLEMENT_SENTENCE_TYPES:
        groups.add("resettlement")
    else:
        groups.add("community")
    if case["young_adult"] == "Yes":
        groups.add("young adult")
    return groups


def newham_cases(rng: random.Random) -> list[dict]:
    cases = []
    ethnic = ["White"] * 6 + ["Black"] * 12 + ["Asian"] * 9 + ["Mixed"] * 3 + ["Other"] * 3
    rng.shuffle(ethnic)
    rosh = ["High"] * 10 + ["Medium"] * 17 + ["Low"] * 6
    rng.shuffle(rosh)
    for i in range(33):
        if i < 10:
            sentence = "Licence" if i < 7 else "Post-sentence supervision"
            age, team = rng.randint(26, 55), f"Team {1 + i % 4}"
        elif i < 15:
            sentence = "Community order" if i % 2 else "Suspended sentence order"
            age, team = rng.randint(18, 25), "Transitions Hub"
        else:
            sentence = "Community order" if i % 3 else "Suspended sentence order"
            age, team = rng.randint(26, 60), f"Team {1 + i % 4}"
        cases.append(
            {
                "case_ref": f"N{100101 + i * 7:06d}",
                "sentence_type": sentence,
                "start_date": f"2022-{1 + (i % 2):02d}-{(24 + i) % 28 + 1:02d}" if i % 2 else f"2022-02-{1 + i % 25:02d}",
                "rosh_level": rosh[i],
                "gender": "Male",
                "ethnicity": ethnic[i],
                "age": str(age),
                "young_adult": "Yes" if 18 <= age <= 25 else "No",
                "mappa_level": "1" if i in (2, 5, 8) else ("2" if i == 4 else "None"),
                "iom": "Yes" if i in (1, 6, 20, 27) else "No",
                "practitioner": f"NP{1 + i % 11:02d}",
                "practitioner_grade": ("PO", "PSO", "PQiP")[i % 3],
                "team": team,
            }
        )
    return cases


def lewisham_cases(rng: random.Random) -> list[dict]:
    cases = []
    ethnic = ["White"] * 20 + ["Black"] * 14 + ["Asian"] * 4 + ["Mixed"] * 3 + ["Other"] * 1
    rng.shuffle(ethnic)
    rosh = ["High"] * 14 + ["Medium"] * 20 + ["Low"] * 7 + ["Very high"] * 1
    rng.shuffle(rosh)
    for i in range(42):
        if i < 20:
            sentence = "Licence" if i < 16 else "Post-sentence supervision"
        else:
            sentence = "Community order" if i % 2 else "Suspended sentence order"
        age = rng.randint(19, 58)
        cases.append(
            {
                "case_ref": f"L{200203 + i * 13:06d}",
                "sentence_type": sentence,
                "start_date": f"2021-12-{20 + i % 12:02d}" if i % 3 == 0 else f"2022-01-{1 + i % 21:02d}",
                "rosh_level": rosh[i],
                "gender": "Female" if i in (21, 26, 31, 35, 40) else "Male",
                "ethnicity": ethnic[i],
                "age": str(age),
                "young_adult": "Yes" if 18 <= age <= 25 else "No",
                "mappa_level": "1" if i in (0, 3, 7, 11) else ("2" if i in (5, 9) else "None"),
                "iom": "Yes" if i in (1, 4, 10, 22, 30) else "No",
                "practitioner": f"LB{1 + i % 14:02d}",
                "practitioner_grade": ("PO", "PSO", "PQiP", "PO")[i % 4],
                "team": ("Lewisham 1", "Lewisham 2", "Bromley 1", "Bromley 2")[i % 4],
            }
        )
    return cases


def bonus(round_name: str, case: dict) -> float:
    groups = cohort_of(case)
    if round_name == "Newham 2022":
        return (-0.55 if "resettlement" in groups else 0.0) + (0.6 if "young adult" in groups else 0.0)
    return (0.3 if case["ethnicity"] == "White" else 0.0) - (0.2 if "resettlement" in groups else 0.0)


def assign(cases: list[int], counts: tuple[int, int, int], rank: dict[int, float], na_order: list[int]) -> dict[int, str]:
    yes, no, na = counts
    if yes + no + na != len(cases) or min(counts) < 0:
        raise SystemExit(f"counts {counts} do not fit {len(cases)} cases")
    members = set(cases)
    not_applicable = [c for c in na_order if c in members][:na]
    rest = sorted((c for c in cases if c not in not_applicable), key=lambda c: -rank[c])
    result = {c: "N/A" for c in not_applicable}
    result.update({c: "Yes" for c in rest[:yes]})
    result.update({c: "No" for c in rest[yes:]})
    return result


def build_round(round_name: str, cases: list[dict], figures: list[dict], rng: random.Random) -> list[dict]:
    n = len(cases)
    base = {i: rng.random() + bonus(round_name, case) for i, case in enumerate(cases)}
    kq_counts = KEY_QUESTIONS[round_name]
    answers: dict[int, dict[str, str]] = {i: {} for i in range(n)}
    cohorts = {i: cohort_of(case) for i, case in enumerate(cases)}
    resettlement = [i for i in range(n) if "resettlement" in cohorts[i]]
    for question in FRAMEWORK.iter_questions():
        qid = question.id
        if qid.startswith("2.1."):
            for i in range(n):
                answers[i][qid] = f"N/A: {COURT_WORK_REASON}"
            continue
        noise = random.Random(f"{round_name}/{qid}")
        rank = {i: base[i] + noise.random() * 0.25 for i in range(n)}
        na_order = list(range(n))
        noise.shuffle(na_order)
        mine = [f for f in figures if f["question"] == qid]
        overall = next((f for f in mine if "cohort" not in f), None)
        by_cohort = [f for f in mine if "cohort" in f]
        if isinstance(question, KeyQuestion):
            yes, no = kq_counts[qid]
            overall = overall or {"yes": yes, "no": no}
        kq_yes, kq_no = kq_counts[qid if isinstance(question, KeyQuestion) else question.key_question_id]
        share = kq_yes / (kq_yes + kq_no)
        constrained: set[int] = set()
        result: dict[int, str] = {}
        for figure in by_cohort:
            members = [i for i in range(n) if figure["cohort"] in cohorts[i]]
            if constrained & set(members):
                raise SystemExit(f"{round_name} {qid}: overlapping cohorts")
            counts = (figure["yes"], figure["no"], figure.get("not_applicable", 0))
            result.update(assign(members, counts, rank, na_order))
            constrained |= set(members)
        rest = [i for i in range(n) if i not in constrained]
        if qid == "2.4.1f" and overall is None:
            # a licence-only prompt: community cases are not applicable
            community = [i for i in rest if i not in resettlement]
            result.update({i: "N/A" for i in community})
            rest = [i for i in rest if i in resettlement]
        if overall is not None:
            counts = [overall["yes"], overall["no"], overall.get("not_applicable", 0)]
            for figure in by_cohort:
                counts[0] -= figure["yes"]
                counts[1] -= figure["no"]
                counts[2] -= figure.get("not_applicable", 0)
            result.update(assign(rest, tuple(counts), rank, na_order))
        elif rest:
            na = 2 if isinstance(question, DataItem) or qid in NA_REASONS else 0
            relevant = len(rest) - na
            yes = min(relevant, max(0, round(share * relevant) + 1))
            result.update(assign(rest, (yes, relevant - yes, na), rank, na_order))
        for i, value in result.items():
            if value == "N/A" and not isinstance(question, DataItem):
                value = f"N/A: {NA_REASONS.get(qid, 'Not relevant to this case')}"
            answers[i][qid] = value
    rows = []
    for i, case in enumerate(cases):
        rows.append({**case, **answers[i]})
    return rows


def main() -> None:
    spec = tomllib.loads((DEMO / "figures.toml").read_text(encoding="utf-8"))
    builders = {"Newham 2022": newham_cases, "Lewisham and Bromley 2022": lewisham_cases}
    for round_spec in spec["round"]:
        name = round_spec["name"]
        rng = random.Random(name)
        cases = builders[name](rng)
        figures = [f for f in spec["figure"] if f["round"] == name]
        rows = build_round(name, cases, figures, rng)
        header = ["case_ref", *ATTRIBUTE_COLUMNS, *FRAMEWORK.question_ids]
        with (DEMO / round_spec["sheet"]).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        print(f"{round_spec['sheet']}: {len(rows)} cases")


if __name__ == "__main__":
    main()
