"""Read framework definitions (TOML) into :class:`~framework.model.Framework` values.

Every problem is reported as a :class:`DefinitionError` naming the file, the id
and what is wrong. Reading files is the only I/O this package does.
"""

from __future__ import annotations

import functools
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

from .model import (
    BandBasis,
    DataItem,
    Domain,
    Framework,
    ReportingConventions,
    KeyQuestion,
    LimitingRule,
    Prompt,
    Rating,
    RatingBand,
    RatingMethod,
    ScoreBand,
    SentenceTemplates,
    Standard,
)

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
DEFAULT_FRAMEWORK_ID = "hmip-probation-pdu-2021"

_ID_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
_SENTENCE_FIELDS = {"unit", "rating", "standard", "count", "percent", "ties"}


class DefinitionError(ValueError):
    """A framework definition file is malformed."""

    def __init__(self, source: str, where: str, problem: str):
        self.source, self.where, self.problem = source, where, problem
        super().__init__(f"{source}: {where}: {problem}")


class UnknownFramework(LookupError):
    """No shipped definition has that id (and version)."""


class _Reader:
    """Validating accessors over one parsed TOML document."""

    def __init__(self, source: str):
        self.source = source
        self.seen_ids: dict[str, str] = {}

    def fail(self, where: str, problem: str) -> DefinitionError:
        return DefinitionError(self.source, where, problem)

    def text(self, table: dict, key: str, where: str, *, required: bool = True) -> str:
        value = table.get(key, "")
        if not isinstance(value, str):
            raise self.fail(where, f"{key!r} must be text, not {type(value).__name__}")
        value = value.strip()
        if required and not value:
            raise self.fail(where, f"missing text for {key!r}")
        return value

    def table_list(self, table: dict, key: str, where: str, *, required: bool = False) -> list[dict]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(where, f"{key!r} must be a list of tables")
        if required and not value:
            raise self.fail(where, f"needs at least one entry in {key!r}")
        return value

    def new_id(self, table: dict, where: str) -> str:
        identifier = self.text(table, "id", where)
        if not _ID_PATTERN.match(identifier):
            raise self.fail(where, f"id {identifier!r} has characters other than letters, digits, '.', '-', '_'")
        if identifier in self.seen_ids:
            raise self.fail(f"id {identifier}", f"duplicate id (already used by {self.seen_ids[identifier]})")
        self.seen_ids[identifier] = where
        return identifier

    def rating(self, value: Any, where: str, *, allow_not_applicable: bool = False) -> Rating:
        try:
            rating = Rating(value)
        except ValueError:
            words = ", ".join(repr(r.value) for r in Rating)
            raise self.fail(where, f"unknown rating {value!r} (expected one of {words})") from None
        if rating is Rating.NOT_APPLICABLE and not allow_not_applicable:
            raise self.fail(where, "'Not applicable' is not a rating band")
        return rating

    def fraction(self, value: Any, where: str) -> Fraction:
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            raise self.fail(where, f"expected a number or a fraction like \"1/6\", got {value!r}")
        try:
            # floats go through str() so 64.5 means 129/2, not a binary approximation
            return Fraction(str(value))
        except (ValueError, ZeroDivisionError):
            raise self.fail(where, f"expected a number or a fraction like \"1/6\", got {value!r}") from None


def parse_definition(document: dict, source: str) -> Framework:
    """Build a Framework from a parsed TOML document, validating as we go."""
    r = _Reader(source)
    framework_id = r.text(document, "id", "top level")
    version = r.text(document, "version", "top level")
    title = r.text(document, "title", "top level")

    # -- rating bands -----------------------------------------------------
    bands_table = document.get("rating_bands")
    if not isinstance(bands_table, dict):
        raise r.fail("rating_bands", "missing [rating_bands] table")
    try:
        basis = BandBasis(bands_table.get("basis", ""))
    except ValueError:
        raise r.fail("rating_bands", "basis must be 'exact' or 'printed'") from None
    bands = []
    for n, band in enumerate(r.table_list(bands_table, "bands", "rating_bands", required=True), 1):
        where = f"rating_bands band {n}"
        rating = r.rating(band.get("rating"), where)
        lower = r.fraction(band.get("from"), where)
        upper = r.fraction(band["below"], where) if "below" in band else None
        bands.append(RatingBand(rating=rating, lower=lower, upper=upper))
    _check_bands_cover(r, bands)

    # -- points and score bands -------------------------------------------
    points_table = document.get("points")
    if not isinstance(points_table, dict) or not points_table:
        raise r.fail("points", "missing [points] table")
    points = []
    for name, value in points_table.items():
        rating = r.rating(name, "points")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise r.fail(f"points {name!r}", "points must be a whole number, 0 or more")
        points.append((rating, value))
    band_ratings = {b.rating for b in bands}
    missing = band_ratings - {rating for rating, _ in points}
    if missing:
        raise r.fail("points", f"no points for {', '.join(sorted(missing))}")

    score_bands = []
    previous = Fraction(-1)
    for n, band in enumerate(r.table_list(document, "score_bands", "score_bands", required=True), 1):
        where = f"score_bands band {n}"
        up_to = r.fraction(band.get("up_to"), where)
        if up_to <= previous:
            raise r.fail(where, "score bands must rise: up_to overlaps the band before")
        if not 0 <= up_to <= 1:
            raise r.fail(where, "up_to is a fraction of the maximum score, between 0 and 1")
        previous = up_to
        score_bands.append(ScoreBand(rating=r.rating(band.get("rating"), where), up_to=up_to))
    if score_bands[-1].up_to != 1:
        raise r.fail("score_bands", "the last band must run up to 1 (the maximum score): gap at the top")

    # -- sentences ---------------------------------------------------------
    sentences_table = document.get("sentences")
    if not isinstance(sentences_table, dict):
        raise r.fail("sentences", "missing [sentences] table")
    templates = {}
    for key in ("lowest", "lowest_tie", "single", "not_applicable"):
        template = r.text(sentences_table, key, "sentences")
        fields = set(re.findall(r"{(\w+)}", template))
        unknown = fields - _SENTENCE_FIELDS
        if unknown:
            raise r.fail(f"sentences {key}", f"unknown field(s) {', '.join(sorted(unknown))}")
        templates[key] = template
    sentences = SentenceTemplates(**templates)

    # -- reporting conventions -------------------------------------------------
    reporting_table = document.get("reporting")
    if not isinstance(reporting_table, dict):
        raise r.fail("reporting", "missing [reporting] table")
    level = r.fraction(reporting_table.get("confidence_level"), "reporting confidence_level")
    if not 0 < level < 1:
        raise r.fail("reporting confidence_level", "a fraction between 0 and 1, e.g. \"95/100\"")
    conventions = {}
    for key in ("disproportion_points", "disproportion_min_cases"):
        value = reporting_table.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise r.fail(f"reporting {key}", "a whole number of at least 1")
        conventions[key] = value
    reporting = ReportingConventions(confidence_level=level, **conventions)

    # -- domains and standards ---------------------------------------------
    domains = []
    for n, table in enumerate(r.table_list(document, "domains", "domains", required=True), 1):
        where = f"domain {n}"
        domains.append(Domain(id=r.new_id(table, where), name=r.text(table, "name", where)))
    domain_ids = {d.id for d in domains}

    standards = []
    for n, table in enumerate(r.table_list(document, "standards", "standards", required=True), 1):
        standards.append(_parse_standard(r, table, n, domain_ids))

    # -- limiting rules ------------------------------------------------------
    standard_ids = {s.id: s for s in standards}
    rules = []
    for n, table in enumerate(r.table_list(document, "limiting_rules", "limiting_rules"), 1):
        where = f"limiting rule {n}"
        rule_id = r.new_id(table, where)
        where = f"limiting rule {rule_id}"
        target = r.text(table, "standard", where)
        if target not in standard_ids:
            raise r.fail(where, f"standard {target!r} does not exist (dangling id)")
        if standard_ids[target].method is not RatingMethod.JUDGEMENT:
            raise r.fail(where, f"standard {target} is not rated by judgement; caps apply to judgement ratings")
        when = table.get("when_all_of")
        if not isinstance(when, list) or not when:
            raise r.fail(where, "when_all_of must list at least one standard id")
        for standard_id in when:
            if standard_id not in standard_ids:
                raise r.fail(where, f"when_all_of names {standard_id!r}, which does not exist (dangling id)")
        rules.append(
            LimitingRule(
                id=rule_id,
                standard_id=target,
                when_all_of=when,
                when_rating=r.rating(table.get("when_rating"), where),
                cap=r.rating(table.get("cap"), where),
                guidance=r.text(table, "guidance", where),
                override=r.text(table, "override", where),
            )
        )

    return Framework(
        id=framework_id,
        version=version,
        title=title,
        source=source,
        band_basis=basis,
        rating_bands=bands,
        points=points,
        score_bands=score_bands,
        domains=domains,
        standards=standards,
        limiting_rules=rules,
        sentences=sentences,
        reporting=reporting,
    )


def _check_bands_cover(r: _Reader, bands: list[RatingBand]) -> None:
    expected = Fraction(0)
    for n, band in enumerate(bands, 1):
        where = f"rating_bands band {n} ({band.rating})"
        if band.lower < expected:
            raise r.fail(where, f"overlaps the band before: starts at {band.lower}, the band before runs below {expected}")
        if band.lower > expected:
            raise r.fail(where, f"gap: nothing covers {expected} up to {band.lower}")
        if band.upper is None:
            if n != len(bands):
                raise r.fail(where, "only the last band may omit 'below'")
            return
        if band.upper <= band.lower:
            raise r.fail(where, "'below' must be greater than 'from'")
        if band.upper > 100:
            raise r.fail(where, "'below' is above 100")
        expected = band.upper
    raise r.fail("rating_bands", f"gap at the top: nothing covers {expected} up to 100 (omit 'below' on the last band)")


def _parse_standard(r: _Reader, table: dict, n: int, domain_ids: set[str]) -> Standard:
    standard_id = r.new_id(table, f"standard {n}")
    where = f"standard {standard_id}"
    domain_id = r.text(table, "domain", where)
    if domain_id not in domain_ids:
        raise r.fail(where, f"domain {domain_id!r} does not exist (dangling id)")
    try:
        method = RatingMethod(table.get("method", ""))
    except ValueError:
        raise r.fail(where, "method must be 'rule', 'judgement' or 'unrated'") from None
    key_questions = []
    for kq_table in r.table_list(table, "key_questions", where):
        key_questions.append(_parse_key_question(r, kq_table, standard_id))
    if method is not RatingMethod.JUDGEMENT and not key_questions:
        raise r.fail(where, f"a standard rated by {method} needs at least one key question")
    if method is RatingMethod.JUDGEMENT and key_questions:
        raise r.fail(where, "a standard rated by judgement has no key questions")
    name = r.text(table, "name", where)
    return Standard(
        id=standard_id,
        domain_id=domain_id,
        name=name,
        headline=r.text(table, "headline", where),
        method=method,
        sentence_name=r.text(table, "sentence_name", where, required=False) or name.lower(),
        key_questions=key_questions,
    )


def _parse_key_question(r: _Reader, table: dict, standard_id: str) -> KeyQuestion:
    kq_id = r.new_id(table, f"standard {standard_id} key question")
    where = f"key question {kq_id}"
    if not kq_id.startswith(standard_id + "."):
        raise r.fail(where, f"key question ids start with their standard's id ({standard_id}.)")
    prompts = []
    for p_table in r.table_list(table, "prompts", where):
        prompt_id = r.new_id(p_table, f"{where} prompt")
        if not re.fullmatch(re.escape(kq_id) + r"[a-z]", prompt_id):
            raise r.fail(f"prompt {prompt_id}", f"prompt ids are the key question id plus one letter ({kq_id}a, {kq_id}b, ...)")
        prompts.append(
            Prompt(
                id=prompt_id,
                key_question_id=kq_id,
                text=r.text(p_table, "text", f"prompt {prompt_id}"),
                guidance=r.text(p_table, "guidance", f"prompt {prompt_id}", required=False),
            )
        )
    data_items = []
    for d_table in r.table_list(table, "data_items", where):
        item_id = r.new_id(d_table, f"{where} data item")
        item_where = f"data item {item_id}"
        if not item_id.startswith(kq_id + "."):
            raise r.fail(item_where, f"data item ids start with their key question's id ({kq_id}.)")
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


def load_file(path: str | Path) -> Framework:
    """Read and validate one definition file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise DefinitionError(str(path), "TOML syntax", str(error)) from None
    except OSError as error:
        raise DefinitionError(str(path), "file", error.strerror or str(error)) from None
    return parse_definition(document, str(path))


@functools.cache
def shipped_frameworks() -> tuple[Framework, ...]:
    """Every definition under ``framework/definitions``, sorted by id and version."""
    found = [load_file(path) for path in sorted(DEFINITIONS_DIR.glob("*.toml"))]
    seen: dict[tuple[str, str], str] = {}
    for framework in found:
        key = (framework.id, framework.version)
        if key in seen:
            raise DefinitionError(framework.source, f"id {framework.id}", f"version {framework.version} is also defined in {seen[key]}")
        seen[key] = framework.source
    return tuple(sorted(found, key=lambda f: (f.id, _version_key(f.version))))


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.-]", version))


def load_framework(framework_id: str = DEFAULT_FRAMEWORK_ID, version: str | None = None) -> Framework:
    """A shipped framework by id; the newest version unless one is pinned."""
    matches = [f for f in shipped_frameworks() if f.id == framework_id]
    if not matches:
        known = ", ".join(sorted({f.id for f in shipped_frameworks()}))
        raise UnknownFramework(f"unknown framework {framework_id!r} (shipped: {known})")
    if version is None:
        return matches[-1]
    for framework in matches:
        if framework.version == version:
            return framework
    versions = ", ".join(f.version for f in matches)
    raise UnknownFramework(f"framework {framework_id!r} has no version {version!r} (shipped: {versions})")
