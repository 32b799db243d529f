"""Drawing a case sample as HM Inspectorate of Probation draws one (pure: values in, values out).

The algorithm is that of the Ministry of Justice's probation case sampler written for the
inspectorate (see docs and ``/work/shared/reference/sampling.md``):

1. the long list: cases that started in the window (never after today);
2. exclusions: a repeated case reference keeps its earliest case; a case no stratum places, or with no
   practitioner (unallocated), is excluded with the reason, never silently dropped;
3. stratum sizes in proportion to the caseload, halves rounded up, plus a buffer of reserves,
   then the rounding adjuster brings the total to ``n + round_half_up(n * b / 100)``;
4. each stratum's count split in proportion by team, then by practitioner (same sizing and
   adjuster, no buffer);
5. at most ``cap`` cases per practitioner across the whole sample (reserves included); the
   excess goes round-robin to the practitioners of the same stratum with the fewest cases who
   are under the cap and have undrawn cases; what cannot be placed is dropped and counted;
6. seeded random picking within each practitioner's allocation.

The dip sample (an SPO's management oversight) is ``K`` cases per practitioner, seeded.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from types import MappingProxyType

import attrs

from framework.model import SamplingScheme, Stratum
from framework.rules import round_half_up

DEFAULT_BUFFER = 20  # per cent
DEFAULT_CAP = 6  # cases per practitioner
# A case with no practitioner is left out, and listed: the inspectorate's fieldwork discusses each sampled case
# with the practitioner who manages it, and the per-practitioner cap and dip sample are per named person
# (sampling.md is silent on unallocated cases; pooling them as one nameless "practitioner" would cap them together).
UNALLOCATED = "no practitioner (unallocated)"


def _frozen_mapping(value) -> Mapping[str, str]:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class CaseloadCase:
    """One row of a caseload: its reference, start date, practitioner, team and other attributes."""

    row: int  # where it came from (the spreadsheet row), for messages
    case_ref: str
    start_date: dt.date | None
    practitioner: str = ""
    team: str = ""
    # column -> value, read-only; left out of the hash (a mapping has none)
    attributes: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)

    def attribute_map(self) -> Mapping[str, str]:
        return self.attributes


@attrs.frozen(kw_only=True)
class Window:
    """Cases whose start date is within ``[started_from, started_to]`` and not after ``today``."""

    today: dt.date
    started_from: dt.date | None = None
    started_to: dt.date | None = None


@attrs.frozen(kw_only=True)
class Excluded:
    case_ref: str
    row: int
    reason: str


@attrs.frozen(kw_only=True)
class StratumSample:
    stratum: str  # the stratum id
    name: str
    population: int  # eligible cases it places
    share: Fraction  # population / total population (0 when there are none)
    sample: int  # main sample drawn
    reserve: int  # reserves drawn
    dropped: int = 0  # cases the practitioner cap left nowhere to go


@attrs.frozen(kw_only=True)
class Drawn:
    case: CaseloadCase
    stratum: str
    reserve: bool
    draw_order: int  # 1, 2, ... main sample first, then reserves


@attrs.frozen(kw_only=True)
class Sample:
    size: int | None  # the requested size (None for a dip sample)
    buffer: int  # per cent
    seed: int
    cap: int | None
    per_practitioner: int | None  # K for a dip sample
    strata: tuple[StratumSample, ...]
    cases: tuple[Drawn, ...]
    excluded: tuple[Excluded, ...]

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self.strata)


# ------------------------------------------------------------------ sizing
def unadjusted(populations: Sequence[int], n: int, buffer: int = 0) -> tuple[int, ...]:
    """Each group's count before the adjuster: ``min(pop, base + round_half_up(base * b / 100))``
    with ``base = min(pop, round_half_up(n * pop / total))``."""
    total = sum(populations)
    if total == 0:
        return tuple(0 for _ in populations)
    counts = []
    for population in populations:
        base = min(population, round_half_up(Fraction(n * population, total)))
        extra = round_half_up(Fraction(base * buffer, 100))
        counts.append(min(population, base + extra))
    return tuple(counts)


def target_total(n: int, buffer: int = 0) -> int:
    return n + round_half_up(Fraction(n * buffer, 100))


def adjust(
    counts: Sequence[int], populations: Sequence[int], target: int, floors: Sequence[int] | None = None
) -> tuple[int, ...]:
    """The rounding adjuster: one case at a time, up cycling through the groups in ascending
    order of count (skipping groups at their population), down in descending order (skipping
    groups at zero, or at their ``floors``), until the total is ``target`` (or no group can move)."""
    counts = list(counts)
    floors = floors or [0] * len(counts)
    target = min(target, sum(populations))
    while sum(counts) < target:
        moved = False
        for i in sorted(range(len(counts)), key=lambda i: (counts[i], i)):
            if sum(counts) >= target:
                break
            if counts[i] < populations[i]:
                counts[i] += 1
                moved = True
        if not moved:
            break
    while sum(counts) > target:
        moved = False
        for i in sorted(range(len(counts)), key=lambda i: (-counts[i], i)):
            if sum(counts) <= target:
                break
            if counts[i] > floors[i]:
                counts[i] -= 1
                moved = True
        if not moved:
            break
    return tuple(counts)


def allocate(populations: Sequence[int], n: int, buffer: int = 0) -> tuple[int, ...]:
    """Proportional sizes with the buffer, brought to ``n + round_half_up(n * b / 100)`` (at
    most the whole population) by the adjuster; never beyond a group's population."""
    return adjust(unadjusted(populations, n, buffer), populations, target_total(n, buffer))


# ------------------------------------------------------------------ the long list
def _stratum_columns(scheme: SamplingScheme) -> tuple[str, ...]:
    columns: list[str] = []
    for stratum in scheme.strata:
        for column, _values in (*stratum.match, *stratum.unless):
            if column not in columns:
                columns.append(column)
    return tuple(columns)


def _describe(case: CaseloadCase, scheme: SamplingScheme) -> str:
    attributes = case.attribute_map()
    return ", ".join(f"{c} {attributes.get(c) or '(blank)'}" for c in _stratum_columns(scheme))


def eligible(
    cases: Iterable[CaseloadCase], scheme: SamplingScheme, window: Window
) -> tuple[dict[str, list[CaseloadCase]], list[Excluded]]:
    """The cases each stratum places (by stratum id, in the scheme's order) and every case
    excluded, with its reason."""
    excluded: list[Excluded] = []
    in_window: list[CaseloadCase] = []
    span = f"{window.started_from or 'any date'} to {window.started_to or 'today'}"
    reasons: dict[dt.date | None, str | None] = {None: "no start date"}  # by start date: why excluded (None: kept)
    for case in cases:
        start = case.start_date
        try:
            reason = reasons[start]
        except KeyError:
            assert start is not None  # a case without a start date is excluded above
            if start > window.today:
                reason = f"starts {start} after today ({window.today})"
            elif (window.started_from and start < window.started_from) or (window.started_to and start > window.started_to):
                reason = f"started {start}, outside the window {span}"
            else:
                reason = None
            reasons[start] = reason
        if reason is None:
            in_window.append(case)
        else:
            excluded.append(Excluded(case_ref=case.case_ref, row=case.row, reason=reason))
    earliest: dict[str, CaseloadCase] = {}
    repeated = False
    for case in in_window:
        kept = earliest.setdefault(case.case_ref, case)
        if kept is not case:
            repeated = True
            if (case.start_date, case.row) < (kept.start_date, kept.row):
                earliest[case.case_ref] = case
    if repeated:
        for case in in_window:
            kept = earliest[case.case_ref]
            if kept is not case:
                excluded.append(
                    Excluded(
                        case_ref=case.case_ref,
                        row=case.row,
                        reason=f"repeats case {case.case_ref} (row {kept.row}, started {kept.start_date}); the earliest is kept",
                    )
                )
        in_window = [case for case in in_window if earliest[case.case_ref] is case]
    placed: dict[str, list[CaseloadCase]] = {s.id: [] for s in scheme.strata}
    columns = _stratum_columns(scheme)
    stratum_of: dict[tuple, Stratum | None] = {}  # by the values of the columns the strata look at
    for case in sorted(in_window, key=lambda c: c.row):
        attributes = case.attributes
        key = tuple(map(attributes.get, columns))
        if key in stratum_of:
            stratum = stratum_of[key]
        else:
            stratum = stratum_of[key] = next((s for s in scheme.strata if s.places(attributes)), None)
        if stratum is None:
            excluded.append(
                Excluded(case_ref=case.case_ref, row=case.row, reason=f"no stratum places it ({_describe(case, scheme)})")
            )
        elif not case.practitioner.strip():
            excluded.append(Excluded(case_ref=case.case_ref, row=case.row, reason=UNALLOCATED))
        else:
            placed[stratum.id].append(case)
    excluded.sort(key=lambda e: e.row)
    return placed, excluded


def _case_key(case: CaseloadCase):
    return (case.start_date, case.case_ref, case.row)


def _by_practitioner(cases: Iterable[CaseloadCase]) -> dict[str, list[CaseloadCase]]:
    groups: dict[str, list[CaseloadCase]] = defaultdict(list)
    for case in cases:
        groups[case.practitioner].append(case)
    return groups


# ------------------------------------------------------------------ the stratified sample
def split_stratum(cases: Sequence[CaseloadCase], count: int) -> dict[str, int]:
    """A stratum's count split by team, then by practitioner (no buffer): practitioner -> cases."""
    teams: dict[str, list[CaseloadCase]] = defaultdict(list)
    for case in cases:
        teams[case.team].append(case)
    team_names = sorted(teams)
    team_counts = allocate([len(teams[t]) for t in team_names], count)
    result: dict[str, int] = defaultdict(int)
    for team, team_count in zip(team_names, team_counts, strict=True):
        practitioners = _by_practitioner(teams[team])
        names = sorted(practitioners)
        for name, k in zip(names, allocate([len(practitioners[p]) for p in names], team_count), strict=True):
            result[name] += k
    return dict(result)


def apply_cap(
    allocations: dict[str, dict[str, int]], available: dict[str, dict[str, int]], cap: int
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """At most ``cap`` cases per practitioner across all strata. The excess a practitioner gives
    back (from the stratum where they hold most) goes one case at a time to the practitioner of
    the same stratum with the fewest cases so far who is under the cap and has undrawn cases
    there. Returns the new allocations (stratum -> practitioner -> k) and what each stratum dropped."""
    alloc = {s: dict(p) for s, p in allocations.items()}
    totals: dict[str, int] = defaultdict(int)
    for practitioners in alloc.values():
        for name, k in practitioners.items():
            totals[name] += k
    given_back: dict[str, int] = defaultdict(int)
    strata = list(alloc)
    for name in sorted(totals):
        while totals[name] > cap:
            holding = [s for s in strata if alloc[s].get(name, 0) > 0]
            stratum = max(holding, key=lambda s: (alloc[s][name], strata.index(s)))
            alloc[stratum][name] -= 1
            totals[name] -= 1
            given_back[stratum] += 1
    dropped: dict[str, int] = {}
    for stratum in strata:
        wanted = given_back.get(stratum, 0)
        if not wanted:
            continue
        pools, held = available[stratum], alloc[stratum]

        def can_take(name: str, pools: dict[str, int] = pools, held: dict[str, int] = held) -> bool:
            return totals[name] < cap and held.get(name, 0) < pools[name]

        # the practitioner with the fewest cases so far (then by name) first: a heap, so that thousands of
        # practitioners giving back cases one at a time stay quick; only the chosen one's count moves
        waiting = [(totals[name], name) for name in pools if can_take(name)]
        heapq.heapify(waiting)
        lost = 0
        for _ in range(wanted):
            if not waiting:
                lost += 1
                continue
            _, chosen = heapq.heappop(waiting)
            held[chosen] = held.get(chosen, 0) + 1
            totals[chosen] += 1
            if can_take(chosen):
                heapq.heappush(waiting, (totals[chosen], chosen))
        if lost:
            dropped[stratum] = lost
    return alloc, dropped


def draw_sample(
    cases: Iterable[CaseloadCase],
    scheme: SamplingScheme,
    *,
    size: int,
    window: Window,
    seed: int,
    buffer: int = DEFAULT_BUFFER,
    cap: int | None = DEFAULT_CAP,
) -> Sample:
    """The inspectorate's stratified sample of ``size`` cases plus ``buffer`` per cent reserves."""
    if size < 0 or buffer < 0 or (cap is not None and cap < 1):
        raise ValueError("size and buffer must be 0 or more, and the cap at least 1")
    placed, excluded = eligible(cases, scheme, window)
    strata = scheme.strata
    populations = [len(placed[s.id]) for s in strata]
    total = sum(populations)
    main = allocate(populations, size, 0)
    with_buffer = allocate(populations, size, buffer)
    # Reserves are the allocation with the buffer less the main sample. Rarely the adjuster gives a
    # stratum fewer with the buffer than without (a small stratum topped up to reach n, passed
    # over when the buffer's rounding already reaches n + buffer): that stratum keeps its main
    # sample with no reserves, and the adjuster takes the difference from other strata's reserves,
    # never from a main sample.
    counts = [max(m, w) for m, w in zip(main, with_buffer, strict=True)]
    counts = list(adjust(counts, populations, target_total(size, buffer), floors=main))

    allocations = {s.id: split_stratum(placed[s.id], count) for s, count in zip(strata, counts, strict=True)}
    available = {s.id: {name: len(pool) for name, pool in _by_practitioner(placed[s.id]).items()} for s in strata}
    dropped: dict[str, int] = {}
    if cap is not None:
        allocations, dropped = apply_cap(allocations, available, cap)

    rng = random.Random(seed)
    main_cases: list[tuple[str, CaseloadCase]] = []
    reserve_cases: list[tuple[str, CaseloadCase]] = []
    summaries = []
    for stratum, population, main_count in zip(strata, populations, main, strict=True):
        pools = _by_practitioner(placed[stratum.id])
        chosen: list[CaseloadCase] = []
        for name in sorted(pools):
            k = allocations[stratum.id].get(name, 0)
            if k:
                chosen.extend(rng.sample(sorted(pools[name], key=_case_key), k))
        rng.shuffle(chosen)
        in_main = min(main_count, len(chosen))
        main_cases.extend((stratum.id, c) for c in chosen[:in_main])
        reserve_cases.extend((stratum.id, c) for c in chosen[in_main:])
        summaries.append(
            StratumSample(
                stratum=stratum.id,
                name=stratum.name,
                population=population,
                share=Fraction(population, total) if total else Fraction(0),
                sample=in_main,
                reserve=len(chosen) - in_main,
                dropped=dropped.get(stratum.id, 0),
            )
        )
    drawn = [
        Drawn(case=case, stratum=stratum_id, reserve=reserve, draw_order=order)
        for order, (stratum_id, case, reserve) in enumerate(
            [(s, c, False) for s, c in main_cases] + [(s, c, True) for s, c in reserve_cases], 1
        )
    ]
    return Sample(
        size=size,
        buffer=buffer,
        seed=seed,
        cap=cap,
        per_practitioner=None,
        strata=tuple(summaries),
        cases=tuple(drawn),
        excluded=tuple(excluded),
    )


def dip_sample(
    cases: Iterable[CaseloadCase], scheme: SamplingScheme, *, per_practitioner: int, window: Window, seed: int
) -> Sample:
    """An SPO's dip sample: ``per_practitioner`` eligible cases (all of them when fewer) for each
    practitioner, drawn at random with ``seed``; no reserves."""
    if per_practitioner < 1:
        raise ValueError("the dip sample needs at least one case per practitioner")
    placed, excluded = eligible(cases, scheme, window)
    stratum_of = {case.row: stratum_id for stratum_id, pool in placed.items() for case in pool}
    everyone = _by_practitioner(case for pool in placed.values() for case in pool)
    rng = random.Random(seed)
    chosen: list[CaseloadCase] = []
    for name in sorted(everyone):
        pool = sorted(everyone[name], key=_case_key)
        chosen.extend(rng.sample(pool, min(per_practitioner, len(pool))))
    drawn = [Drawn(case=c, stratum=stratum_of[c.row], reserve=False, draw_order=n) for n, c in enumerate(chosen, 1)]
    total = sum(len(p) for p in placed.values())
    summaries = [
        StratumSample(
            stratum=s.id,
            name=s.name,
            population=len(placed[s.id]),
            share=Fraction(len(placed[s.id]), total) if total else Fraction(0),
            sample=sum(1 for d in drawn if d.stratum == s.id),
            reserve=0,
        )
        for s in scheme.strata
    ]
    return Sample(
        size=None,
        buffer=0,
        seed=seed,
        cap=None,
        per_practitioner=per_practitioner,
        strata=tuple(summaries),
        cases=tuple(drawn),
        excluded=tuple(excluded),
    )


__all__ = [
    "CaseloadCase",
    "Drawn",
    "Excluded",
    "Sample",
    "SamplingScheme",
    "Stratum",
    "StratumSample",
    "Window",
    "adjust",
    "allocate",
    "apply_cap",
    "dip_sample",
    "draw_sample",
    "eligible",
    "split_stratum",
    "target_total",
    "unadjusted",
]
