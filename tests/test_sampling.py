"""Drawing a case sample as the inspectorate does: the pure algorithm, the framework's strata, the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit.core.attributes import ATTRIBUTES_BY_COLUMN
from audit.core.sampling import (
    CaseloadCase,
    Window,
    adjust,
    allocate,
    apply_cap,
    dip_sample,
    draw_sample,
    split_stratum,
    target_total,
    unadjusted,
)
from audit.store import AuditStore
from framework import DefinitionError, load_framework
from framework.load import STRATUM_ATTRIBUTES, parse_definition
from framework.rules import round_half_up

TODAY = dt.date(2022, 2, 1)
WINDOW = Window(today=TODAY)
SCHEME = load_framework("hmip-probation-pdu-2021").sampling
STRATUM_ATTRS = {
    "female": {"gender": "Female", "sentence_type": "Community order", "rosh_level": "Low"},
    "male-community-low": {"gender": "Male", "sentence_type": "Community order", "rosh_level": "Low"},
    "male-community-not-low": {"gender": "Male", "sentence_type": "Suspended sentence order", "rosh_level": "High"},
    "male-licence-low": {"gender": "Male", "sentence_type": "Licence", "rosh_level": "Low"},
    "male-licence-not-low": {"gender": "Male", "sentence_type": "Post-sentence supervision", "rosh_level": "Medium"},
}
STRATA = tuple(STRATUM_ATTRS)


def case(n: int, stratum: str, practitioner: str = "P1", team: str = "T1", start: dt.date | None = None) -> CaseloadCase:
    return CaseloadCase(
        row=n + 2,
        case_ref=f"X{n:06d}",
        start_date=start or dt.date(2022, 1, 1) + dt.timedelta(days=n % 20),
        practitioner=practitioner,
        team=team,
        attributes=STRATUM_ATTRS[stratum],
    )


# ------------------------------------------------------------------ hypothesis strategies
@st.composite
def caseloads(draw, max_cases: int = 120):
    n = draw(st.integers(0, max_cases))
    practitioners = draw(st.integers(1, 12))
    teams = draw(st.integers(1, 3))
    cases = []
    for i in range(n):
        cases.append(
            case(
                i,
                draw(st.sampled_from(STRATA)),
                practitioner=f"P{draw(st.integers(1, practitioners))}",
                team=f"T{draw(st.integers(1, teams))}",
                start=TODAY - dt.timedelta(days=draw(st.integers(-5, 60))),
            )
        )
    return cases


populations = st.lists(st.integers(0, 60), min_size=1, max_size=8)


# ------------------------------------------------------------------ properties
@given(populations, st.integers(0, 300), st.integers(0, 100))
@example([0, 4, 4, 4], 10, 0)  # one short, and the smallest count is an empty stratum's: skipped
def test_allocation_never_exceeds_a_population(pops, n, b):
    assert all(0 <= c <= p for c, p in zip(allocate(pops, n, b), pops, strict=True))


@given(populations, st.integers(0, 300), st.integers(0, 100))
def test_allocation_total_is_n_plus_buffer_unless_the_caseload_is_smaller(pops, n, b):
    assert sum(allocate(pops, n, b)) == min(n + round_half_up(Fraction(n * b, 100)), sum(pops))


@given(populations, st.integers(0, 300), st.integers(0, 100))
def test_adjuster_moves_the_minimum_possible(pops, n, b):
    before = unadjusted(pops, n, b)
    after = adjust(before, pops, target_total(n, b))
    target = min(target_total(n, b), sum(pops))
    assert sum(abs(a - u) for a, u in zip(after, before, strict=True)) == abs(target - sum(before))


@settings(max_examples=150, deadline=None)
@given(caseloads(), st.integers(0, 60), st.integers(0, 50), st.integers(1, 8), st.integers(0, 2**32))
def test_sample_properties(cases, n, b, cap, seed):
    sample = draw_sample(cases, SCHEME, size=n, buffer=b, cap=cap, window=WINDOW, seed=seed)
    drawn_refs = [d.case.case_ref for d in sample.cases]
    # never a stratum beyond its population
    per_stratum = Counter(d.stratum for d in sample.cases)
    for s in sample.strata:
        assert per_stratum[s.stratum] == s.sample + s.reserve <= s.population
    # total: n + round_half_up(n*b/100), unless the caseload is smaller or the cap dropped cases
    population = sum(s.population for s in sample.strata)
    assert len(sample.cases) + sample.dropped == min(target_total(n, b), population)
    assert sum(s.sample for s in sample.strata) <= n
    # no practitioner over the cap, reserves included
    assert max(Counter(d.case.practitioner for d in sample.cases).values(), default=0) <= cap
    # excluded cases never drawn; no case twice
    excluded_rows = {e.row for e in sample.excluded}
    assert not excluded_rows & {d.case.row for d in sample.cases}
    assert len(set(drawn_refs)) == len(drawn_refs)
    assert all(d.case.start_date <= TODAY for d in sample.cases)
    # same seed and caseload (in any row order) -> same sample
    again = draw_sample(list(reversed(cases)), SCHEME, size=n, buffer=b, cap=cap, window=WINDOW, seed=seed)
    assert [d.case.case_ref for d in again.cases] == drawn_refs
    assert [d.draw_order for d in sample.cases] == list(range(1, len(sample.cases) + 1))


@settings(max_examples=60, deadline=None)
@given(caseloads(), st.integers(1, 4), st.integers(0, 2**32))
def test_dip_sample_k_per_practitioner(cases, k, seed):
    sample = dip_sample(cases, SCHEME, per_practitioner=k, window=WINDOW, seed=seed)
    counts = Counter(d.case.practitioner for d in sample.cases)
    eligible_rows = {c.row for c in cases} - {e.row for e in sample.excluded}
    available = Counter(c.practitioner for c in cases if c.row in eligible_rows)
    assert counts == Counter({p: min(k, a) for p, a in available.items()})
    assert sample == dip_sample(cases, SCHEME, per_practitioner=k, window=WINDOW, seed=seed)


# ------------------------------------------------------------------ hand-worked examples
def test_strata_sizes_worked_example():
    # populations 10, 30, 20, 25, 15 (total 100), n = 33, b = 0:
    #   33*10/100 = 3.3 -> 3; 33*30/100 = 9.9 -> 10; 6.6 -> 7; 8.25 -> 8; 4.95 -> 5; total 33, no adjusting
    assert allocate([10, 30, 20, 25, 15], 33) == (3, 10, 7, 8, 5)
    # n = 10 over 4, 4, 4 (total 12): 10*4/12 = 3.33 -> 3 each = 9; one short: ascending order of
    # count, ties by order -> the first group gets it: 4, 3, 3
    assert allocate([4, 4, 4], 10) == (4, 3, 3)
    # a request larger than the caseload gives all of it: n = 5 over 1, 1: 2.5 -> 3, capped at the
    # population 1 each = 2 = the whole caseload
    assert allocate([1, 1], 5) == (1, 1)
    # n = 3 over 2, 2 (total 4): 1.5 -> 2 each = 4, one over: descending by count, first loses: 1, 2
    assert allocate([2, 2], 3) == (1, 2)


def test_buffer_worked_example():
    # populations 10, 30, 20, 25, 15; n = 33, b = 20:
    #   bases 3, 10, 7, 8, 5; buffers round_half_up(0.6)=1, 2, round_half_up(1.4)=1, round_half_up(1.6)=2, 1
    #   counts 4, 12, 8, 10, 6 = 40; target 33 + round_half_up(6.6) = 40: no adjusting
    assert unadjusted([10, 30, 20, 25, 15], 33, 20) == (4, 12, 8, 10, 6)
    assert allocate([10, 30, 20, 25, 15], 33, 20) == (4, 12, 8, 10, 6)
    # so reserves are 1, 2, 1, 2, 1 beside the main 3, 10, 7, 8, 5
    strata = [stratum for stratum, count in zip(STRATA, (10, 30, 20, 25, 15), strict=True) for _ in range(count)]
    cases = [case(i, stratum, practitioner=f"P{i % 40}") for i, stratum in enumerate(strata)]
    sample = draw_sample(cases, SCHEME, size=33, buffer=20, cap=6, window=WINDOW, seed=7)
    assert [(s.sample, s.reserve) for s in sample.strata] == [(3, 1), (10, 2), (7, 1), (8, 2), (5, 1)]
    assert [s.population for s in sample.strata] == [10, 30, 20, 25, 15]
    assert sum(not d.reserve for d in sample.cases) == 33 and len(sample.cases) == 40


def test_practitioner_cap_worked_example():
    # one stratum, 20 cases: A holds 12, B 6, C 2. n = 10, b = 0: 10*12/20 = 6, 10*6/20 = 3,
    # 10*2/20 = 1 -> A 6, B 3, C 1. With a cap of 3:
    pool = [case(i, "male-community-low", practitioner="A" if i < 12 else "B" if i < 18 else "C") for i in range(20)]
    assert split_stratum(pool, 10) == {"A": 6, "B": 3, "C": 1}
    alloc, dropped = apply_cap({"s": {"A": 6, "B": 3, "C": 1}}, {"s": {"A": 12, "B": 6, "C": 2}}, 3)
    # A 6 -> 3 (3 back); first: C has 1 (fewest, under 3, 1 undrawn) -> C 2; next: C has no undrawn,
    # B is at the cap -> nobody; the other two are dropped.
    assert alloc == {"s": {"A": 3, "B": 3, "C": 2}} and dropped == {"s": 2}
    # with room: cap 6, A 8, B 1, C 1 (pools 10, 5, 5): A gives back 2: B (1, fewest; tie with C
    # broken by name) -> 2, then C (1) -> 2
    alloc, dropped = apply_cap({"s": {"A": 8, "B": 1, "C": 1}}, {"s": {"A": 10, "B": 5, "C": 5}}, 6)
    assert alloc == {"s": {"A": 6, "B": 2, "C": 2}} and dropped == {}


def test_cap_counts_across_strata_and_the_draw_reports_what_is_dropped():
    # one practitioner holds all 12 cases, 6 female and 6 male licence low; n = 10, b = 20 -> 12;
    # allocation 5+1 and 5+1 = 12; cap 6 -> 6 given back, nobody else: 6 dropped.
    cases = [case(i, "female", practitioner="Solo") for i in range(6)]
    cases += [case(i + 6, "male-licence-low", practitioner="Solo") for i in range(6)]
    sample = draw_sample(cases, SCHEME, size=10, buffer=20, cap=6, window=WINDOW, seed=1)
    assert len(sample.cases) == 6 and sample.dropped == 6


def test_exclusions_are_listed_with_reasons():
    cases = [
        case(1, "female", start=TODAY + dt.timedelta(days=1)),
        case(2, "female", start=dt.date(2021, 1, 1)),
        CaseloadCase(row=10, case_ref="X000003", start_date=dt.date(2022, 1, 5), attributes={"gender": "Male"}),
        case(4, "female", start=dt.date(2022, 1, 9)),
        CaseloadCase(
            row=12, case_ref="X000004", start_date=dt.date(2022, 1, 3), practitioner="P1", attributes=STRATUM_ATTRS["female"]
        ),
        CaseloadCase(row=13, case_ref="X000005", start_date=None, attributes=STRATUM_ATTRS["female"]),
    ]
    window = Window(today=TODAY, started_from=dt.date(2021, 12, 1))
    sample = draw_sample(cases, SCHEME, size=10, buffer=0, window=window, seed=3)
    reasons = {e.row: e.reason for e in sample.excluded}
    assert "after today" in reasons[3]
    assert "outside the window" in reasons[4]
    assert "no stratum places it" in reasons[10] and "sentence_type (blank)" in reasons[10]
    assert "earliest is kept" in reasons[6]  # X000004 on row 6 started after the one on row 12
    assert reasons[13] == "no start date"
    assert [d.case.row for d in sample.cases] == [12]


def test_seed_changes_the_sample():
    cases = [case(i, STRATA[i % 5], practitioner=f"P{i % 30}") for i in range(300)]
    a = draw_sample(cases, SCHEME, size=30, window=WINDOW, seed=1)
    b = draw_sample(cases, SCHEME, size=30, window=WINDOW, seed=2)
    assert [d.case.case_ref for d in a.cases] != [d.case.case_ref for d in b.cases]


# ------------------------------------------------------------------ strata as data
def test_shipped_pdu_framework_defines_the_five_strata():
    assert [s.id for s in SCHEME.strata] == list(STRATA)
    assert SCHEME.start_field == "start_date"
    for stratum_id, attributes in STRATUM_ATTRS.items():
        assert [s.id for s in SCHEME.strata if s.places(attributes)][0] == stratum_id
    # RoSH unknown: not known to be "not low" -> no stratum
    assert not any(s.places({"gender": "Male", "sentence_type": "Licence"}) for s in SCHEME.strata)


def test_youth_framework_defines_no_strata():
    assert load_framework("hmip-youth-2021").sampling is None


def test_stratum_vocabulary_matches_the_case_attributes():
    # framework/ may not import audit/, so the vocabulary a stratum may name is kept beside the
    # definitions; it must be exactly what a case sheet accepts, in both directions
    for column, options in STRATUM_ATTRIBUTES.items():
        assert options == ATTRIBUTES_BY_COLUMN[column].options, column


def _definition_with(sampling: dict) -> dict:
    import tomllib

    from framework.load import DEFINITIONS_DIR

    document = tomllib.loads((DEFINITIONS_DIR / "hmip-probation-pdu-2021.toml").read_text(encoding="utf-8"))
    document["sampling"] = sampling
    return document


def test_bad_strata_name_the_attribute_or_value():
    bad = {
        "start_field": "birthday",
        "strata": [
            {"id": "a", "name": "A", "match": {"shoe_size": ["9"]}},
            {"id": "b", "name": "B", "match": {"gender": ["Femal"]}},
            {"id": "c", "name": "C"},
        ],
    }
    with pytest.raises(DefinitionError) as raised:
        parse_definition(_definition_with(bad), "user.toml")
    message = str(raised.value)
    assert "'shoe_size'" in message and "'Femal'" in message and "birthday" in message
    assert "sampling stratum c: needs at least one condition" in message


def test_a_user_framework_defines_its_own_strata():
    own = {"start_field": "start_date", "strata": [{"id": "all-male", "name": "Men", "match": {"gender": "Male"}}]}
    framework = parse_definition(_definition_with(own), "user.toml")
    assert [s.id for s in framework.sampling.strata] == ["all-male"]


def test_the_sampling_section_changes_no_scoring():
    import tomllib

    from framework.load import DEFINITIONS_DIR

    document = tomllib.loads((DEFINITIONS_DIR / "hmip-probation-pdu-2021.toml").read_text(encoding="utf-8"))
    del document["sampling"]
    without = parse_definition(document, "x")
    shipped = load_framework("hmip-probation-pdu-2021", "1")
    assert attrs_without_sampling(without) == attrs_without_sampling(shipped)


def attrs_without_sampling(framework):
    import attrs

    return attrs.evolve(framework, sampling=None, source="")


# ------------------------------------------------------------------ the command line
HEADER = ["case_ref", "gender", "sentence_type", "rosh_level", "practitioner", "team", "start_date", "ethnicity"]


def write_caseload(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def caseload_rows(n=60):
    rows = []
    for i in range(n):
        attributes = STRATUM_ATTRS[STRATA[i % 5]]
        rows.append(
            [
                f"X{i:06d}",
                attributes["gender"],
                attributes["sentence_type"],
                attributes["rosh_level"],
                "=HYPERLINK(1)" if i == 0 else f"Practitioner {i % 9}",
                f"Team {i % 2}",
                f"2022-01-{1 + i % 28:02d}",
                "White",
            ]
        )
    return rows


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_cli_sample_imports_with_caseaudit_import(cli, tmp_path, db_path, suffix):
    caseload = write_caseload(tmp_path / "caseload.csv", caseload_rows())
    out = tmp_path / f"sample{suffix}"
    result = cli("--db", db_path, "sample", caseload, "--size", 20, "--seed", 5, "--started-to", "2022-01-31", "-o", out)
    assert result.code == 0, result.err
    assert "seed 5" in result.out and "male-licence-low" in result.out
    imported = cli("--db", db_path, "import", out, "--round", "Sampled", "--unit", "U")
    assert imported.code == 0, imported.err
    # the main sample (20) is the round's audited cases; the 4 reserves are stored and listed as reserves
    assert "20 case(s) added" in imported.out and "4 reserve case(s) stored as reserves" in imported.out
    with AuditStore.open(db_path) as store:
        sampled = store.round("Sampled")
        listed = store.cases(sampled)
        refs = {c["case_ref"] for c in listed if c["in_sample"]}
        reserves = {c["case_ref"] for c in listed if c["sample_status"] == "reserve"}
        assert store.case_totals(sampled)[0] == 20 and len(reserves) == 4
        assert all(c["stratum"] and c["draw_order"] is not None for c in listed)
    drawn = json.loads(
        cli(
            "--db",
            db_path,
            "sample",
            caseload,
            "--size",
            20,
            "--seed",
            5,
            "--started-to",
            "2022-01-31",
            "--format",
            "json",
            "-o",
            tmp_path / f"again{suffix}",
        ).out
    )
    assert refs == {c["case_ref"] for c in drawn["cases"] if not c["reserve"]}
    assert reserves == {c["case_ref"] for c in drawn["cases"] if c["reserve"]}
    assert {(c["case_ref"], c["stratum"], int(c["draw_order"])) for c in listed} == {
        (c["case_ref"], c["stratum"], int(c["draw_order"])) for c in drawn["cases"]
    }
    if suffix == ".csv":
        text = out.read_text(encoding="utf-8-sig")
        assert (
            text.splitlines()[0]
            == "case_ref,sentence_type,start_date,rosh_level,gender,ethnicity,practitioner,team,stratum,reserve,draw_order"
        )
        assert "'=HYPERLINK(1)" in text or "=HYPERLINK" not in text


def test_cli_json_keys_and_same_seed_same_sample(cli, tmp_path, db_path):
    caseload = write_caseload(tmp_path / "caseload.csv", caseload_rows())
    runs = []
    for name in ("a.csv", "b.csv"):
        result = cli("--db", db_path, "sample", caseload, "--size", 10, "--seed", 9, "--format", "json", "-o", tmp_path / name)
        assert result.code == 0, result.err
        runs.append(json.loads(result.out))
    data = runs[0]
    assert set(data) >= {"size", "buffer", "seed", "strata", "cases", "excluded"}
    assert set(data["strata"][0]) >= {"stratum", "population", "sample", "reserve"}
    assert set(data["cases"][0]) >= {"case_ref", "stratum", "reserve", "draw_order"}
    assert data["size"] == 10 and data["buffer"] == 20 and data["seed"] == 9
    assert runs[0]["cases"] == runs[1]["cases"]
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    # a share is four decimal places, halves up, never a float's long tail: 61 cases make shares of 12/61 and 13/61
    odd = write_caseload(tmp_path / "odd.csv", caseload_rows(61))
    result = cli("--db", db_path, "sample", odd, "--size", 10, "--seed", 9, "--format", "json", "-o", tmp_path / "c.csv")
    assert sorted({s["share"] for s in json.loads(result.out)["strata"]}) == [0.1967, 0.2131]  # 0.19672..., 0.21311...


def test_cli_prints_a_chosen_seed(cli, tmp_path, db_path):
    caseload = write_caseload(tmp_path / "caseload.csv", caseload_rows(10))
    result = cli("--db", db_path, "sample", caseload, "--size", 3, "--format", "json", "-o", tmp_path / "s.csv")
    seed = json.loads(result.out)["seed"]
    again = cli("--db", db_path, "sample", caseload, "--size", 3, "--seed", seed, "--format", "json", "-o", tmp_path / "t.csv")
    assert json.loads(again.out)["cases"] == json.loads(result.out)["cases"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda rows, header: rows[2].__setitem__(6, "31/02/2022"), "row 4, column G (start_date)"),
        (lambda rows, header: rows[0].__setitem__(3, "Extreme"), "row 2, column D (rosh_level)"),
        (lambda rows, header: rows[1].__setitem__(0, "nonsense"), "row 3, column A (case_ref)"),
        (lambda rows, header: header.__setitem__(7, "date_of_birth"), "column H (date_of_birth): looks like personal identity"),
        (lambda rows, header: header.__setitem__(5, "shoe"), "column F (shoe): unknown column"),
    ],
)
def test_cli_bad_caseload_is_one_line_exit_2(cli, tmp_path, db_path, change, expected, monkeypatch):
    rows = caseload_rows(5)
    header = list(HEADER)
    change(rows, header)
    monkeypatch.setattr(f"{__name__}.HEADER", header)
    caseload = write_caseload(tmp_path / "caseload.csv", rows)
    result = cli("--db", db_path, "sample", caseload, "--size", 3, "--seed", 1, "-o", tmp_path / "s.csv")
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1 and expected in result.err, result.err
    assert not (tmp_path / "s.csv").exists()


def test_cli_missing_column_and_youth_framework(cli, tmp_path, db_path):
    path = tmp_path / "c.csv"
    path.write_text("case_ref,gender\nX000001,Male\n", encoding="utf-8")
    result = cli("--db", db_path, "sample", path, "--size", 3, "-o", tmp_path / "s.csv")
    assert result.code == 2 and "missing column" in result.err and len(result.err.strip().splitlines()) == 1
    caseload = write_caseload(tmp_path / "caseload.csv", caseload_rows(5))
    youth = cli("--db", db_path, "sample", caseload, "--size", 3, "--framework", "hmip-youth-2021", "-o", tmp_path / "s.csv")
    assert youth.code == 2 and "defines no strata" in youth.err and len(youth.err.strip().splitlines()) == 1


def test_cli_dip_sample_and_existing_output_refused(cli, tmp_path, db_path):
    caseload = write_caseload(tmp_path / "caseload.csv", caseload_rows(60))
    out = tmp_path / "dip.csv"
    result = cli("--db", db_path, "sample", caseload, "--per-practitioner", 2, "--seed", 4, "-o", out, "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    # 9 practitioners x 2, plus the one case of the practitioner named "=HYPERLINK(1)"
    assert len(data["cases"]) == 19 and not any(c["reserve"] for c in data["cases"])
    assert "'=HYPERLINK(1)" in out.read_text(encoding="utf-8-sig")  # user text never becomes a formula
    assert (out.stat().st_mode & 0o077) == 0  # owner-only
    again = cli("--db", db_path, "sample", caseload, "--per-practitioner", 2, "--seed", 4, "-o", out)
    assert again.code == 2
    forced = cli("--db", db_path, "sample", caseload, "--per-practitioner", 2, "--seed", 4, "-o", out, "--force")
    assert forced.code == 0
    before = caseload.read_bytes()
    onto_itself = cli("--db", db_path, "sample", caseload, "--per-practitioner", 2, "-o", caseload, "--force")
    assert onto_itself.code == 2 and "the caseload being sampled" in onto_itself.err
    assert caseload.read_bytes() == before
    for option in ("--buffer", "--max-per-practitioner"):  # a dip sample has neither: refused, not ignored
        ignored = cli("--db", db_path, "sample", caseload, "--per-practitioner", 2, option, 3, "-o", tmp_path / "x.csv")
        assert ignored.code == 2 and "has no --buffer or --max-per-practitioner" in ignored.err
        assert not (tmp_path / "x.csv").exists()


@settings(max_examples=300, deadline=None)
@given(caseloads(), st.integers(0, 60), st.integers(0, 50), st.integers(0, 2**32))
def test_main_sample_is_the_allocation_without_buffer_and_reserves_the_difference(cases, n, b, seed):
    sample = draw_sample(cases, SCHEME, size=n, buffer=b, cap=None, window=WINDOW, seed=seed)
    populations = [s.population for s in sample.strata]
    main, with_buffer = allocate(populations, n, 0), allocate(populations, n, b)
    assert [s.sample for s in sample.strata] == list(main)
    assert all(s.reserve >= 0 for s in sample.strata)
    assert sum(s.sample + s.reserve for s in sample.strata) == min(target_total(n, b), sum(populations))
    if all(w >= m for w, m in zip(with_buffer, main, strict=True)):
        assert [s.sample + s.reserve for s in sample.strata] == list(with_buffer)


def test_a_stratum_the_buffer_passes_over_keeps_its_main_sample():
    # populations 0, 1, 5, 5, 0 (total 11), n = 5, b = 25:
    #   b = 0: 5*1/11 = 0.45 -> 0, 5*5/11 = 2.27 -> 2, 2 = 4; one short: ascending count, the
    #          first is empty, so the second: main 0, 1, 2, 2, 0
    #   b = 25: bases 0, 0, 2, 2; buffers round_half_up(0.5) = 1 -> 0, 0, 3, 3 = 6 = 5 + round_half_up(1.25):
    #          no adjusting, so the second stratum would have 0 - 1 = -1 reserves.
    assert allocate([0, 1, 5, 5, 0], 5, 0) == (0, 1, 2, 2, 0)
    assert allocate([0, 1, 5, 5, 0], 5, 25) == (0, 0, 3, 3, 0)
    # the draw keeps its main sample: 0, 1, 3, 3, 0 = 7, one over: descending count among strata
    # above their main sample -> the third 3 -> 2: samples 0, 1, 2, 2, 0 with reserves 0, 0, 0, 1, 0
    counts = [0, 1, 5, 5, 0]
    strata = [s for s, c in zip(STRATA, counts, strict=True) for _ in range(c)]
    cases = [case(i, stratum, practitioner=f"P{i}") for i, stratum in enumerate(strata)]
    sample = draw_sample(cases, SCHEME, size=5, buffer=25, cap=None, window=WINDOW, seed=0)
    assert [(s.sample, s.reserve) for s in sample.strata] == [(0, 0), (1, 0), (2, 0), (2, 1), (0, 0)]


def test_halves_round_up_not_to_even():
    # populations 5, 5, n = 5: 5*5/10 = 2.5 -> 3 each (round() would give 2 each) = 6, one over:
    # descending order of count, ties in stratum order -> the first loses one: 2, 3
    # (with round-half-even: 2, 2 = 4, one short, ascending -> 3, 2)
    assert allocate([5, 5], 5) == (2, 3)
    # buffer: base 2.5 -> 3 with b = 50: round_half_up(1.5) = 2 -> 5 each = 10; target 5 + round_half_up(2.5) = 8:
    # two over, descending: first 5 -> 4, second 5 -> 4
    assert allocate([5, 5], 5, 50) == (4, 4)


def test_a_sample_of_no_cases_is_refused(cli, tmp_path, db_path):
    caseload = write_caseload(tmp_path / "caseload.csv", caseload_rows())
    with pytest.raises(SystemExit) as refused:  # a usage error: one line, exit 2
        cli("--db", db_path, "sample", caseload, "--size", 0, "-o", tmp_path / "s.csv")
    assert refused.value.code == 2 and not (tmp_path / "s.csv").exists()


def test_a_reversed_start_window_is_refused_in_one_line(cli, tmp_path, db_path):
    caseload = write_caseload(tmp_path / "caseload.csv", caseload_rows(10))
    window = ("--started-from", "2022-01-20", "--started-to", "2022-01-05")
    result = cli("--db", db_path, "sample", caseload, "--size", 3, *window, "-o", tmp_path / "s.csv")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result
    assert "--started-from 2022-01-20 is after --started-to 2022-01-05" in result.err
    assert not (tmp_path / "s.csv").exists()


def test_a_case_with_no_practitioner_is_excluded_with_the_reason():
    """An unallocated case (blank practitioner) is not pooled as one practitioner with no name: the
    inspectorate's fieldwork interviews each case's practitioner, so it is left out and listed, in the
    stratified sample and the dip sample alike."""
    allocated = [case(i, "male-community-low", practitioner=f"P{i % 2}") for i in range(4)]
    unallocated = [case(i, "male-community-low", practitioner="") for i in range(4, 12)]
    for sample in (
        draw_sample(allocated + unallocated, SCHEME, size=6, buffer=0, cap=6, window=WINDOW, seed=1),
        dip_sample(allocated + unallocated, SCHEME, per_practitioner=1, window=WINDOW, seed=1),
    ):
        assert {d.case.practitioner for d in sample.cases} == {"P0", "P1"}
        reasons = {e.case_ref: e.reason for e in sample.excluded}
        assert sorted(reasons) == [c.case_ref for c in unallocated]
        assert all(reason == "no practitioner (unallocated)" for reason in reasons.values())
        assert sample.dropped == 0 and sum(s.population for s in sample.strata) == 4
