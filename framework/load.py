"""Read framework definitions (TOML) into :class:`~framework.model.Framework` values.

Definitions come from two places: the ones shipped with caseaudit
(``framework/definitions``) and the ones a QA lead added to their frameworks folder
(``$CASEAUDIT_FRAMEWORKS_DIR``, else ``frameworks`` in the user's data directory).
A shipped id and version always wins; a user file that clashes with one, or is not a
valid definition, is left out and listed as a problem, never a crash.

Every problem is a :class:`DefinitionProblem` naming the file, the id and what is
wrong; :class:`DefinitionError` carries all of a file's problems at once. Reading
files (and listing the frameworks folder) is the only I/O this package does.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs

from .model import (
    BandBasis,
    DataItem,
    Domain,
    Framework,
    KeyQuestion,
    LimitingRule,
    Origin,
    Prompt,
    Rating,
    RatingBand,
    RatingMethod,
    ReportingConventions,
    SamplingScheme,
    ScoreBand,
    SentenceTemplates,
    Standard,
    Stratum,
)

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
DEFAULT_FRAMEWORK_ID = "hmip-probation-pdu-2021"
USER_FRAMEWORKS_ENV = "CASEAUDIT_FRAMEWORKS_DIR"

_ID_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
_SENTENCE_FIELDS = {"unit", "rating", "standard", "count", "percent", "ties"}

# The keys each table of a definition may hold: a misspelt key ('bellow', 'scroed') is a
# problem, not silently ignored.
_KEYS = {
    "top level": {
        "id",
        "version",
        "title",
        "rating_bands",
        "points",
        "score_bands",
        "reporting",
        "sentences",
        "limiting_rules",
        "domains",
        "standards",
        "sampling",
    },
    "sampling": {"start_field", "strata"},
    "stratum": {"id", "name", "match", "unless"},
    "rating_bands": {"basis", "bands"},
    "rating band": {"rating", "from", "below"},
    "score band": {"rating", "up_to"},
    "reporting": {"confidence_level", "disproportion_points", "disproportion_min_cases"},
    "sentences": {"lowest", "lowest_tie", "single", "not_applicable"},
    "limiting rule": {"id", "standard", "when_all_of", "when_rating", "cap", "guidance", "override"},
    "domain": {"id", "name"},
    "standard": {"id", "domain", "name", "sentence_name", "method", "headline", "scored", "key_questions"},
    "key question": {"id", "text", "guidance", "prompts", "data_items"},
    "prompt": {"id", "text", "guidance"},
    "data item": {"id", "text", "not_applicable_label", "guidance"},
}


@attrs.frozen(kw_only=True)
class DefinitionProblem:
    """One thing wrong with a definition file: which file, where (an id), what."""

    source: str
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.problem}"


class DefinitionError(ValueError):
    """A framework definition file is malformed; ``problems`` lists every problem found."""

    def __init__(self, source: str, where: str, problem: str, *, more: Iterable[DefinitionProblem] = ()):
        self.source, self.where, self.problem = source, where, problem
        self.problems: tuple[DefinitionProblem, ...] = (DefinitionProblem(source=source, where=where, problem=problem), *more)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def of(cls, problems: Iterable[DefinitionProblem]) -> DefinitionError:
        first, *rest = problems
        return cls(first.source, first.where, first.problem, more=rest)


class UnknownFramework(LookupError):
    """No shipped or user-added definition has that id (and version)."""


class _Stop(Exception):
    """A problem after which a section cannot be read further (already recorded)."""


class _Reader:
    """Validating accessors over one parsed TOML document; problems are collected, not raised."""

    def __init__(self, source: str):
        self.source = source
        self.seen_ids: dict[str, str] = {}
        self.problems: list[DefinitionProblem] = []

    def report(self, where: str, problem: str) -> None:
        self.problems.append(DefinitionProblem(source=self.source, where=where, problem=problem))

    def stop(self, where: str, problem: str) -> _Stop:
        self.report(where, problem)
        return _Stop()

    def keys(self, table: dict, kind: str, where: str) -> None:
        unknown = sorted(set(table) - _KEYS[kind])
        for key in unknown:
            expected = ", ".join(sorted(_KEYS[kind]))
            self.report(where, f"unknown key {key!r} (a {kind} may have: {expected})")

    def table(self, document: dict, key: str, where: str) -> dict:
        value = document.get(key)
        if not isinstance(value, dict):
            raise self.stop(where, f"missing [{key}] table")
        return value

    def text(self, table: dict, key: str, where: str, *, required: bool = True) -> str:
        value = table.get(key, "")
        if not isinstance(value, str):
            self.report(where, f"{key!r} must be text, not {type(value).__name__}")
            return ""
        value = value.strip()
        if required and not value:
            self.report(where, f"missing text for {key!r}")
        return value

    def table_list(self, table: dict, key: str, where: str, *, required: bool = False) -> list[dict]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.report(where, f"{key!r} must be a list of tables")
            return []
        if required and not value:
            self.report(where, f"needs at least one entry in {key!r}")
        return value

    def new_id(self, table: dict, where: str) -> str:
        identifier = self.text(table, "id", where)
        if not identifier:
            return ""
        if not _ID_PATTERN.match(identifier):
            self.report(where, f"id {identifier!r} has characters other than letters, digits, '.', '-', '_'")
        # ids are matched without regard to case (a sheet's "2.2.3.DA" is 2.2.3.da), so two may not differ only in case
        if identifier.casefold() in self.seen_ids:
            self.report(f"id {identifier}", f"duplicate id (already used by {self.seen_ids[identifier.casefold()]})")
        else:
            self.seen_ids[identifier.casefold()] = where
        return identifier

    def rating(self, value: Any, where: str, *, not_applicable: str = "'Not applicable' is not a rating band") -> Rating | None:
        try:
            rating = Rating(value)
        except ValueError:
            words = ", ".join(repr(r.value) for r in Rating if r is not Rating.NOT_APPLICABLE)
            self.report(where, f"unknown rating {value!r} (expected one of {words})")
            return None
        if rating is Rating.NOT_APPLICABLE:
            self.report(where, not_applicable)
            return None
        return rating

    def fraction(self, value: Any, where: str, key: str) -> Fraction | None:
        problem = f'{key!r} must be a number or a fraction like "1/6", got {value!r}'
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            self.report(where, problem)
            return None
        try:
            # floats go through str() so 64.5 means 129/2, not a binary approximation
            return Fraction(str(value))
        except (ValueError, ZeroDivisionError):
            self.report(where, problem)
            return None

    def whole_number(self, table: dict, key: str, where: str, *, minimum: int) -> int | None:
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.report(where, f"{key!r} must be a whole number of at least {minimum}, got {value!r}")
            return None
        return value


def parse_definition(document: dict, source: str, *, origin: Origin = Origin.SHIPPED) -> Framework:
    """Build a Framework from a parsed TOML document; DefinitionError lists every problem found."""
    r = _Reader(source)
    r.keys(document, "top level", "top level")
    framework_id = r.text(document, "id", "top level")
    version = r.text(document, "version", "top level")
    title = r.text(document, "title", "top level")
    for key, value in (("id", framework_id), ("version", version)):
        if value and not _ID_PATTERN.match(value):
            r.report("top level", f"{key} {value!r} may hold only letters, digits, '.', '-', '_' (it names the installed file)")

    basis, bands = _rating_bands(r, document)
    points = _points(r, document)
    score_bands = _score_bands(r, document)
    sentences = _sentences(r, document)
    reporting = _reporting(r, document)

    domains = []
    for n, table in enumerate(r.table_list(document, "domains", "domains", required=True), 1):
        where = f"domain {n}"
        domain_id = r.new_id(table, where)
        where = f"domain {domain_id or n}"
        r.keys(table, "domain", where)
        domains.append(Domain(id=domain_id, name=r.text(table, "name", where)))
    domain_ids = {d.id for d in domains}

    standards = []
    for n, table in enumerate(r.table_list(document, "standards", "standards", required=True), 1):
        standards.append(_parse_standard(r, table, n, domain_ids))
    for domain in domains:
        if domain.id and not any(s.domain_id == domain.id for s in standards):
            r.report(f"domain {domain.id}", "no standard belongs to this domain")

    rules = _limiting_rules(r, document, {s.id: s for s in standards})
    sampling = _sampling(r, document)

    # every rating a standard can be given needs points: bands (case answers), any word (judgement), caps
    if points is not None:
        needed = {b.rating: "a rating band gives it" for b in bands if b.rating}
        if any(s.method is RatingMethod.JUDGEMENT for s in standards):
            needed.update(
                {
                    rating: "a standard rated by judgement can be given it"
                    for rating in Rating
                    if rating is not Rating.NOT_APPLICABLE
                }
            )
        for rule in rules:
            if rule.cap:
                needed.setdefault(rule.cap, f"limiting rule {rule.id} caps at it")
        for rating, why in needed.items():
            if rating not in dict(points):
                r.report("points", f"no points for {rating.value!r} ({why})")

    if r.problems:
        raise DefinitionError.of(r.problems)
    # each of these is None only after its problem was reported
    assert basis is not None and sentences is not None and reporting is not None
    return Framework(
        id=framework_id,
        version=version,
        title=title,
        source=source,
        origin=origin,
        band_basis=basis,
        rating_bands=bands,
        points=points,
        score_bands=score_bands,
        domains=domains,
        standards=standards,
        limiting_rules=rules,
        sentences=sentences,
        reporting=reporting,
        sampling=sampling,
    )


# The case attributes a stratum may name, with their closed vocabularies (as audit.core.attributes
# spells them; a test keeps the two in step), and the date attributes a sample window may use.
STRATUM_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "sentence_type": (
        "Community order",
        "Suspended sentence order",
        "Licence",
        "Post-sentence supervision",
        "Pre-release",
        "Referral order",
        "Youth rehabilitation order",
        "Detention and training order",
        "Youth caution",
        "Youth conditional caution",
        "Community resolution",
    ),
    "rosh_level": ("Low", "Medium", "High", "Very high"),
    "gender": ("Male", "Female", "Non-binary", "Not stated"),
    "ethnicity": ("White", "Black", "Asian", "Mixed", "Other", "Not stated"),
    "young_adult": ("Yes", "No"),
    "mappa_level": ("None", "1", "2", "3"),
    "iom": ("Yes", "No"),
    "practitioner_grade": ("PSO", "PO", "PQiP", "SPO"),
}
START_FIELDS = ("start_date",)


def _sampling(r: _Reader, document: dict) -> SamplingScheme | None:
    """The optional [sampling] section: the case-start field and [[sampling.strata]]."""
    if "sampling" not in document:
        return None
    table = document["sampling"]
    if not isinstance(table, dict):
        r.report("sampling", "[sampling] must be a table")
        return None
    r.keys(table, "sampling", "sampling")
    start_field = r.text(table, "start_field", "sampling")
    if start_field and start_field not in START_FIELDS:
        r.report("sampling", f"start_field {start_field!r} is not a date attribute (expected one of: {', '.join(START_FIELDS)})")
    strata = []
    seen: set[str] = set()
    for n, stratum in enumerate(r.table_list(table, "strata", "sampling", required=True), 1):
        stratum_id = r.text(stratum, "id", f"sampling stratum {n}")
        where = f"sampling stratum {stratum_id or n}"
        r.keys(stratum, "stratum", where)
        if stratum_id and not _ID_PATTERN.match(stratum_id):
            r.report(where, f"id {stratum_id!r} has characters other than letters, digits, '.', '-', '_'")
        if stratum_id in seen:
            r.report(where, "duplicate stratum id")
        seen.add(stratum_id)
        match = _conditions(r, stratum, "match", where)
        unless = _conditions(r, stratum, "unless", where)
        if not match and not unless:
            r.report(where, "needs at least one condition in 'match' or 'unless'")
        strata.append(Stratum(id=stratum_id, name=r.text(stratum, "name", where), match=match, unless=unless))
    return SamplingScheme(start_field=start_field, strata=strata)


def _conditions(r: _Reader, stratum: dict, key: str, where: str) -> list[tuple[str, frozenset[str]]]:
    table = stratum.get(key, {})
    if not isinstance(table, dict):
        r.report(where, f"{key!r} must be a table of attribute = [values]")
        return []
    conditions = []
    for attribute, values in table.items():
        if attribute not in STRATUM_ATTRIBUTES:
            r.report(
                where,
                f"{key} names unknown attribute {attribute!r} (a stratum may name: {', '.join(STRATUM_ATTRIBUTES)})",
            )
            continue
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            r.report(where, f"{key} {attribute} must list at least one value")
            continue
        options = STRATUM_ATTRIBUTES[attribute]
        for value in values:
            if value not in options:
                r.report(where, f"{key} {attribute} has unknown value {value!r} (expected one of: {', '.join(options)})")
        conditions.append((attribute, frozenset(values)))
    return conditions


def _rating_bands(r: _Reader, document: dict) -> tuple[BandBasis | None, list[RatingBand]]:
    try:
        table = r.table(document, "rating_bands", "rating_bands")
    except _Stop:
        return None, []
    r.keys(table, "rating_bands", "rating_bands")
    try:
        basis = BandBasis(table.get("basis", ""))
    except ValueError:
        r.report("rating_bands", "basis must be 'exact' or 'printed'")
        basis = None
    bands = []
    complete = True
    seen: set[Rating] = set()
    for n, band in enumerate(r.table_list(table, "bands", "rating_bands", required=True), 1):
        where = f"rating_bands band {n}"
        r.keys(band, "rating band", where)
        rating = r.rating(band.get("rating"), where)
        if rating is not None and rating in seen:
            r.report(where, f"{rating.value!r} already has a band (one band per rating)")
        if rating is not None:
            seen.add(rating)
        lower = r.fraction(band.get("from"), where, "from")
        upper = r.fraction(band["below"], where, "below") if "below" in band else None
        if rating is None or lower is None or ("below" in band and upper is None):
            complete = False  # its problem is reported; no band is built from it
            continue
        bands.append(RatingBand(rating=rating, lower=lower, upper=upper))
    if complete and bands:
        _check_bands_cover(r, bands)
    return basis, bands


def _check_bands_cover(r: _Reader, bands: list[RatingBand]) -> None:
    """Bands must run from 0 to 100 (the last inclusive) with no gap and no overlap; every problem is reported."""
    expected = Fraction(0)
    for n, band in enumerate(bands, 1):
        where = f"rating_bands band {n} ({band.rating})"
        if n == 1 and band.lower != 0:
            r.report(where, f"the first band must start at 0, not {band.lower}")
        elif band.lower < expected:
            r.report(where, f"overlaps the band before: starts at {band.lower}, the band before runs below {expected}")
        elif band.lower > expected:
            r.report(where, f"gap: nothing covers {expected} up to {band.lower}")
        if band.upper is None:
            if n != len(bands):
                r.report(where, "only the last band may omit 'below'")
            expected = Fraction(100)
            continue
        if band.upper <= band.lower:
            r.report(where, "'below' must be greater than 'from'")
        if band.upper > 100:
            r.report(where, "'below' is above 100")
        expected = max(expected, band.upper)
    if bands[-1].upper is not None:
        r.report(
            "rating_bands", f"gap at the top: nothing covers {expected} up to and including 100 (omit 'below' on the last band)"
        )


def _points(r: _Reader, document: dict) -> list[tuple[Rating, int]] | None:
    table = document.get("points")
    if not isinstance(table, dict) or not table:
        r.report("points", "missing [points] table")
        return None
    points = []
    for name, value in table.items():
        where = f"points {name!r}"
        rating = r.rating(name, where, not_applicable="'Not applicable' takes no points (it leaves the score)")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            r.report(where, f"points must be a whole number, 0 or more, got {value!r}")
            continue
        if rating is not None:
            points.append((rating, value))
    return points


def _score_bands(r: _Reader, document: dict) -> list[ScoreBand]:
    """Overall-rating bands as fractions of the maximum score: rising, from 0 up to 1, each rating once."""
    score_bands = []
    previous: Fraction | None = None
    last_up_to: Fraction | None = None  # the last band's, as written
    seen: set[Rating] = set()
    for n, band in enumerate(r.table_list(document, "score_bands", "score_bands", required=True), 1):
        where = f"score_bands band {n}"
        r.keys(band, "score band", where)
        rating = r.rating(band.get("rating"), where, not_applicable="'Not applicable' is not an overall rating")
        if rating is not None and rating in seen:
            r.report(where, f"{rating.value!r} already has a score band (one band per rating)")
        if rating is not None:
            seen.add(rating)
        up_to = r.fraction(band.get("up_to"), where, "up_to")
        last_up_to = up_to
        if up_to is not None:
            if not 0 <= up_to <= 1:
                r.report(where, "up_to is a fraction of the maximum score, between 0 and 1")
            elif previous is not None and up_to <= previous:
                r.report(where, "score bands must rise: up_to overlaps the band before")
            previous = up_to if previous is None else max(previous, up_to)
        if rating is not None and up_to is not None:  # else its problem is reported; no band is built from it
            score_bands.append(ScoreBand(rating=rating, up_to=up_to))
    if last_up_to is not None and last_up_to != 1:
        r.report("score_bands", "the last band must run up to 1 (the maximum score): gap at the top")
    return score_bands


def _sentences(r: _Reader, document: dict) -> SentenceTemplates | None:
    try:
        table = r.table(document, "sentences", "sentences")
    except _Stop:
        return None
    r.keys(table, "sentences", "sentences")
    templates = {}
    sample = {field: field for field in _SENTENCE_FIELDS}
    for key in ("lowest", "lowest_tie", "single", "not_applicable"):
        template = r.text(table, key, "sentences")
        unknown = set(re.findall(r"{(\w*)}", template)) - _SENTENCE_FIELDS
        if unknown:
            r.report(
                f"sentences {key}",
                f"unknown field(s) {', '.join(sorted(repr(f) for f in unknown))} (fields: {', '.join(sorted(_SENTENCE_FIELDS))})",
            )
        else:
            try:
                template.format(**sample)
            except (ValueError, IndexError, KeyError) as error:
                r.report(f"sentences {key}", f"cannot be filled in ({error}); write a literal brace as {{{{ or }}}}")
        templates[key] = template
    return SentenceTemplates(**templates)


def _reporting(r: _Reader, document: dict) -> ReportingConventions | None:
    try:
        table = r.table(document, "reporting", "reporting")
    except _Stop:
        return None
    r.keys(table, "reporting", "reporting")
    level = r.fraction(table.get("confidence_level"), "reporting confidence_level", "confidence_level")
    if level is not None and not 0 < level < 1:
        r.report("reporting confidence_level", 'a fraction between 0 and 1, e.g. "95/100"')
    points = r.whole_number(table, "disproportion_points", "reporting disproportion_points", minimum=1)
    min_cases = r.whole_number(table, "disproportion_min_cases", "reporting disproportion_min_cases", minimum=1)
    if level is None or points is None or min_cases is None:
        return None  # the problem is reported
    return ReportingConventions(confidence_level=level, disproportion_points=points, disproportion_min_cases=min_cases)


def _limiting_rules(r: _Reader, document: dict, standards: dict[str, Standard]) -> list[LimitingRule]:
    rules = []
    for n, table in enumerate(r.table_list(document, "limiting_rules", "limiting_rules"), 1):
        rule_id = r.new_id(table, f"limiting rule {n}")
        where = f"limiting rule {rule_id or n}"
        r.keys(table, "limiting rule", where)
        target = r.text(table, "standard", where)
        if target and target not in standards:
            r.report(where, f"standard {target!r} does not exist (dangling id)")
        elif target and standards[target].method is not RatingMethod.JUDGEMENT:
            r.report(where, f"standard {target} is not rated by judgement; caps apply to judgement ratings")
        when = table.get("when_all_of")
        if not isinstance(when, list) or not when or not all(isinstance(s, str) for s in when):
            r.report(where, "when_all_of must list at least one standard id")
            when = []
        for standard_id in when:
            if standard_id not in standards:
                r.report(where, f"when_all_of names {standard_id!r}, which does not exist (dangling id)")
            elif standards[standard_id].method is not RatingMethod.RULE:
                r.report(
                    where,
                    f"when_all_of names {standard_id!r}, which is not rated from case answers "
                    "(limiting rules look at the ratings of standards rated by rule)",
                )
        when_rating = r.rating(table.get("when_rating"), where)
        cap = r.rating(table.get("cap"), where)
        guidance = r.text(table, "guidance", where)
        override = r.text(table, "override", where)
        if when_rating is None or cap is None:
            continue  # the problem is reported; no rule is built from it
        rules.append(
            LimitingRule(
                id=rule_id,
                standard_id=target,
                when_all_of=when,
                when_rating=when_rating,
                cap=cap,
                guidance=guidance,
                override=override,
            )
        )
    return rules


def _parse_standard(r: _Reader, table: dict, n: int, domain_ids: set[str]) -> Standard:
    standard_id = r.new_id(table, f"standard {n}")
    where = f"standard {standard_id or n}"
    r.keys(table, "standard", where)
    domain_id = r.text(table, "domain", where)
    if domain_id and domain_id not in domain_ids:
        r.report(where, f"domain {domain_id!r} does not exist (dangling id)")
    try:
        method = RatingMethod(table.get("method", ""))
    except ValueError:
        r.report(where, "method must be 'rule', 'judgement' or 'unrated'")
        method = None
    scored = table.get("scored", method is not RatingMethod.UNRATED)
    if not isinstance(scored, bool):
        r.report(where, f"scored must be true or false, not {scored!r}")
        scored = False
    elif scored and method is RatingMethod.UNRATED:
        r.report(where, "an unrated standard cannot be scored (use method 'rule' with scored = true, or drop 'scored')")
    key_questions = []
    for kq_table in r.table_list(table, "key_questions", where):
        key_questions.append(_parse_key_question(r, kq_table, standard_id))
    if method in (RatingMethod.RULE, RatingMethod.UNRATED) and not key_questions:
        r.report(where, f"a standard rated by {method} needs at least one key question")
    if method is RatingMethod.JUDGEMENT and key_questions:
        r.report(where, "a standard rated by judgement has no key questions")
    name = r.text(table, "name", where)
    return Standard(
        id=standard_id,
        domain_id=domain_id,
        name=name,
        headline=r.text(table, "headline", where),
        # None only after its problem is reported: the standard is kept (other checks look its id up) and
        # parse_definition raises before a Framework is built from it
        method=method,  # type: ignore[arg-type]
        sentence_name=r.text(table, "sentence_name", where, required=False) or name.lower(),
        key_questions=key_questions,
        scored=scored,
    )


def _is_prompt_of(prompt_id: str, kq_id: str) -> bool:
    """Whether a prompt id is its key question's id and one letter a-z (as a pattern would say, without
    making a pattern for every key question: a third of loading a definition's time)."""
    return len(prompt_id) == len(kq_id) + 1 and prompt_id.startswith(kq_id) and "a" <= prompt_id[-1] <= "z"


def _parse_key_question(r: _Reader, table: dict, standard_id: str) -> KeyQuestion:
    kq_id = r.new_id(table, f"standard {standard_id} key question")
    where = f"key question {kq_id or '(no id) in standard ' + standard_id}"
    r.keys(table, "key question", where)
    if kq_id and not kq_id.startswith(standard_id + "."):
        r.report(where, f"key question ids start with their standard's id ({standard_id}.)")
    prompts = []
    for p_table in r.table_list(table, "prompts", where):
        prompt_id = r.new_id(p_table, f"{where} prompt")
        prompt_where = f"prompt {prompt_id or '(no id) under key question ' + kq_id}"
        r.keys(p_table, "prompt", prompt_where)
        if prompt_id and not _is_prompt_of(prompt_id, kq_id):
            r.report(prompt_where, f"prompt ids are the key question id plus one letter ({kq_id}a, {kq_id}b, ...)")
        prompts.append(
            Prompt(
                id=prompt_id,
                key_question_id=kq_id,
                text=r.text(p_table, "text", prompt_where),
                guidance=r.text(p_table, "guidance", prompt_where, required=False),
            )
        )
    data_items = []
    for d_table in r.table_list(table, "data_items", where):
        item_id = r.new_id(d_table, f"{where} data item")
        item_where = f"data item {item_id or '(no id) under key question ' + kq_id}"
        r.keys(d_table, "data item", item_where)
        if item_id and not item_id.startswith(kq_id + "."):
            r.report(item_where, f"data item ids start with their key question's id ({kq_id}.)")
        data_items.append(
            DataItem(
                id=item_id,
                key_question_id=kq_id,
                text=r.text(d_table, "text", item_where),
                not_applicable_label=r.text(d_table, "not_applicable_label", item_where, required=False) or "Not required",
                guidance=r.text(d_table, "guidance", item_where, required=False),
            )
        )
    return KeyQuestion(
        id=kq_id,
        standard_id=standard_id,
        text=r.text(table, "text", where),
        guidance=r.text(table, "guidance", where, required=False),
        prompts=prompts,
        data_items=data_items,
    )


# ------------------------------------------------------------------ files and folders
def load_file(path: str | Path, *, origin: Origin = Origin.USER) -> Framework:
    """Read and validate one definition file (DefinitionError lists every problem)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise DefinitionError(str(path), "TOML syntax", str(error)) from None
    except UnicodeDecodeError as error:
        raise DefinitionError(str(path), "file", f"not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise DefinitionError(str(path), "file", error.strerror or str(error)) from None
    return parse_definition(document, str(path), origin=origin)


def user_frameworks_dir() -> Path:
    """The user's frameworks folder: $CASEAUDIT_FRAMEWORKS_DIR, else ``frameworks`` in the user data directory.

    Resolved here rather than passed in so that every caller (the store opening a pinned
    round, sheet imports, the TUI's round list) finds user-added frameworks alike;
    ``load_framework`` and ``catalogue`` still take an explicit folder.
    """
    configured = os.environ.get(USER_FRAMEWORKS_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs  # computes a path; no I/O

    return platformdirs.user_data_path("caseaudit", appauthor=False) / "frameworks"


@functools.cache
def shipped_frameworks() -> tuple[Framework, ...]:
    """Every definition under ``framework/definitions``, sorted by id and version."""
    found = [load_file(path, origin=Origin.SHIPPED) for path in sorted(DEFINITIONS_DIR.glob("*.toml"))]
    seen: dict[tuple[str, str], str] = {}
    for framework in found:
        key = (framework.id, framework.version)
        if key in seen:
            raise DefinitionError(
                framework.source, f"id {framework.id}", f"version {framework.version} is also defined in {seen[key]}"
            )
        seen[key] = framework.source
    return tuple(sorted(found, key=_sort_key))


@attrs.frozen(kw_only=True)
class Catalogue:
    """Every framework available: shipped, then the user's; and the user files left out, with why."""

    frameworks: tuple[Framework, ...]
    problems: tuple[DefinitionProblem, ...]
    folder: Path


# A user file is parsed again only when it changes (path -> (mtime, size), result).
_user_files: dict[Path, tuple[tuple[int, int], Framework | DefinitionError]] = {}


def _user_file(path: Path) -> Framework | DefinitionError:
    try:
        stat = path.stat()
    except OSError as error:
        return DefinitionError(str(path), "file", error.strerror or str(error))
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _user_files.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        result: Framework | DefinitionError = load_file(path, origin=Origin.USER)
    except DefinitionError as error:
        result = error
    _user_files[path] = (stamp, result)
    return result


def catalogue(user_dir: str | Path | None = None) -> Catalogue:
    """Shipped and user-added frameworks. A user file that is broken, or repeats an id and version
    already defined (shipped first, then by file name), is left out and listed in ``problems``."""
    folder = user_frameworks_dir() if user_dir is None else Path(user_dir)
    shipped = shipped_frameworks()
    taken = {(f.id, f.version): f"{f.source} (shipped)" for f in shipped}
    user: list[Framework] = []
    problems: list[DefinitionProblem] = []
    try:
        paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    except OSError as error:
        paths = []
        problems.append(DefinitionProblem(source=str(folder), where="folder", problem=error.strerror or str(error)))
    for path in paths:
        result = _user_file(path)
        if isinstance(result, DefinitionError):
            problems.extend(result.problems)
            continue
        key = (result.id, result.version)
        if key in taken:
            problems.append(
                DefinitionProblem(
                    source=str(path),
                    where=f"framework {result.id} version {result.version}",
                    problem=f"already defined by {taken[key]}; this file is left out",
                )
            )
            continue
        taken[key] = str(path)
        user.append(result)
    return Catalogue(frameworks=tuple(sorted((*shipped, *user), key=_sort_key)), problems=tuple(problems), folder=folder)


def available_frameworks(user_dir: str | Path | None = None) -> tuple[Framework, ...]:
    """Shipped and valid user-added frameworks, sorted by id and version."""
    return catalogue(user_dir).frameworks


def _sort_key(framework: Framework) -> tuple:
    return (framework.id, _version_key(framework.version))


def _version_key(version: str) -> tuple:
    # numbers before words, so "2" < "10" and "1" < "1a" without comparing int with str
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.-]", version))


def load_framework(
    framework_id: str = DEFAULT_FRAMEWORK_ID, version: str | None = None, *, user_dir: str | Path | None = None
) -> Framework:
    """A shipped or user-added framework by id; the newest version unless one is pinned."""
    if version is not None:  # a shipped id and version always wins: no need to look further
        for framework in shipped_frameworks():
            if framework.id == framework_id and framework.version == version:
                return framework
    frameworks = available_frameworks(user_dir)
    matches = [f for f in frameworks if f.id == framework_id]
    if not matches:
        known = ", ".join(sorted({f.id for f in frameworks}))
        raise UnknownFramework(f"unknown framework {framework_id!r} (available: {known})")
    if version is None:
        return matches[-1]
    for framework in matches:
        if framework.version == version:
            return framework
    versions = ", ".join(f.version for f in matches)
    raise UnknownFramework(f"framework {framework_id!r} has no version {version!r} (available: {versions})")
