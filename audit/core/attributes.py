"""Case attributes: the columns a case sheet may carry besides answers.

Closed vocabularies are normalised here so storage, sheets, the TUI and the
breakdowns all agree on spelling. Identity columns are refused: caseaudit
stores a case reference, never a name.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Callable

import attrs

DEFAULT_CASE_REF_PATTERN = r"[A-Z][0-9]{6}"  # the probation case reference number (CRN)
CASE_REF_PATTERN_ENV = "CASEAUDIT_CASE_REF_PATTERN"

ADULT_SENTENCE_TYPES = ("Community order", "Suspended sentence order", "Licence", "Post-sentence supervision", "Pre-release")
# The frameworks' data carry no sentence vocabulary, so the youth framework's cases (court disposals,
# out-of-court disposals, custody) are named here too: a youth case sheet is not refused or mislabelled.
YOUTH_COURT_DISPOSALS = ("Referral order", "Youth rehabilitation order", "Detention and training order")
OUT_OF_COURT_DISPOSALS = ("Youth caution", "Youth conditional caution", "Community resolution")
SENTENCE_TYPES = ADULT_SENTENCE_TYPES + YOUTH_COURT_DISPOSALS + OUT_OF_COURT_DISPOSALS
# the resettlement cohort: custody and what follows release (a detention and training order for children)
RESETTLEMENT_SENTENCE_TYPES = frozenset({"Licence", "Post-sentence supervision", "Pre-release", "Detention and training order"})
ROSH_LEVELS = ("Low", "Medium", "High", "Very high")
GENDERS = ("Male", "Female", "Non-binary", "Not stated")
ETHNIC_GROUPS = ("White", "Black", "Asian", "Mixed", "Other", "Not stated")
MAPPA_LEVELS = ("None", "1", "2", "3")
YES_NO = ("Yes", "No")
PRACTITIONER_GRADES = ("PSO", "PO", "PQiP", "SPO")

# Header words that identify a person; any column whose normalised name matches is refused.
_IDENTITY_PATTERN = re.compile(
    r"^(name|names|full_?name|first_?name|forename|forenames|given_?name|surname|last_?name|family_?name"
    r"|d_?o_?b|date_?of_?birth|birth_?date|birthday|address|address_?\d*|street|postcode|post_?code"
    r"|pnc|pnc_?(no|number|id)|nomis(_?(no|number|id))?|prison_?number|ni_?(no|number)|national_?insurance(_?number)?"
    r"|nhs_?(no|number)|phone|telephone|mobile|email|e_?mail)$"
)


class InvalidAttribute(ValueError):
    """A value is not valid for an attribute (message says which values are)."""


def normalise_header(header: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


def looks_like_identity(header: str) -> bool:
    return bool(_IDENTITY_PATTERN.match(normalise_header(header)))


def case_ref_pattern() -> re.Pattern[str]:
    return re.compile(os.environ.get(CASE_REF_PATTERN_ENV) or DEFAULT_CASE_REF_PATTERN)


def check_case_ref(value: str) -> str:
    ref = value.strip().upper()
    pattern = case_ref_pattern()
    if not ref:
        raise InvalidAttribute("a case reference is required")
    if not pattern.fullmatch(ref):
        raise InvalidAttribute(
            f"case reference {value.strip()!r} does not match the case reference format {pattern.pattern!r}"
            f" (e.g. X123456; set {CASE_REF_PATTERN_ENV} to change it)"
        )
    return ref


def _choice(options: tuple[str, ...], aliases: dict[str, str] | None = None) -> Callable[[str], str]:
    lookup = {o.lower(): o for o in options}
    lookup.update({k.lower(): v for k, v in (aliases or {}).items()})

    def parse(value: str) -> str:
        try:
            return lookup[value.strip().lower()]
        except KeyError:
            raise InvalidAttribute(f"{value.strip()!r} is not one of: {', '.join(options)}") from None

    return parse


def _date(value: str) -> str:
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d %H:%M:%S"):
        try:
            return _dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise InvalidAttribute(f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")


def _age(value: str) -> str:
    text = value.strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit() or not 16 <= int(text) <= 110:
        raise InvalidAttribute(f"{value.strip()!r} is not an age in whole years (16-110)")
    return text


def _free_text(value: str) -> str:
    text = value.strip()
    if len(text) > 100:
        raise InvalidAttribute("longer than 100 characters")
    return text


@attrs.frozen(kw_only=True)
class Attribute:
    column: str  # sheet column and database column
    label: str  # what a QA lead reads
    parse: Callable[[str], str]
    options: tuple[str, ...] = ()


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        column="sentence_type",
        label="Sentence type",
        parse=_choice(
            SENTENCE_TYPES,
            {
                "co": "Community order",
                "community": "Community order",
                "sso": "Suspended sentence order",
                "pss": "Post-sentence supervision",
                "licence": "Licence",
                "license": "Licence",
                "yro": "Youth rehabilitation order",
                "dto": "Detention and training order",
                "ycc": "Youth conditional caution",
            },
        ),
        options=SENTENCE_TYPES,
    ),
    Attribute(column="start_date", label="Start date", parse=_date),
    Attribute(column="rosh_level", label="RoSH level", parse=_choice(ROSH_LEVELS), options=ROSH_LEVELS),
    Attribute(column="gender", label="Gender", parse=_choice(GENDERS, {"m": "Male", "f": "Female"}), options=GENDERS),
    Attribute(column="ethnicity", label="Ethnicity", parse=_choice(ETHNIC_GROUPS), options=ETHNIC_GROUPS),
    Attribute(column="age", label="Age", parse=_age),
    Attribute(
        column="young_adult",
        label="Young adult (18-25)",
        parse=_choice(YES_NO, {"y": "Yes", "n": "No", "true": "Yes", "false": "No"}),
        options=YES_NO,
    ),
    Attribute(
        column="mappa_level",
        label="MAPPA level",
        parse=_choice(MAPPA_LEVELS, {"0": "None", "n/a": "None", "na": "None"}),
        options=MAPPA_LEVELS,
    ),
    Attribute(column="iom", label="IOM", parse=_choice(YES_NO, {"y": "Yes", "n": "No"}), options=YES_NO),
    Attribute(column="practitioner", label="Practitioner", parse=_free_text),
    Attribute(
        column="practitioner_grade", label="Practitioner grade", parse=_choice(PRACTITIONER_GRADES), options=PRACTITIONER_GRADES
    ),
    Attribute(column="team", label="Team", parse=_free_text),
)
ATTRIBUTE_COLUMNS = tuple(a.column for a in ATTRIBUTES)
ATTRIBUTES_BY_COLUMN = {a.column: a for a in ATTRIBUTES}


def derived_young_adult(age: str | None, young_adult: str | None) -> str | None:
    """The young-adult flag: as given, else from the age (18 to 25)."""
    if young_adult:
        return young_adult
    if age:
        return "Yes" if 18 <= int(age) <= 25 else "No"
    return None


# ------------------------------------------------------------------ the sample a case was drawn in
# `caseaudit sample` draws each case in a stratum, in an order, as part of the main sample or as a reserve.
# A swap replaces a main-sample case found unsuitable with its stratum's next reserve: the case is then
# "swapped out" (its answers kept, not counted) and the reserve "swapped in" (counted as the main sample).
SAMPLE_STATUSES = ("main", "reserve", "swapped in", "swapped out")
IN_SAMPLE_STATUSES = ("main", "swapped in")  # the statuses every figure counts
SAMPLE_COLUMNS = ("stratum", "draw_order", "sample_status")  # case columns set by events, like attributes
MAX_STRATUM_LENGTH = 200
_DRAW_ORDER = re.compile(r"0|[1-9][0-9]{0,8}", re.ASCII)  # a whole number, no leading zero, at most 9 digits
# A case removed from a round (added by mistake, a duplicate, out of scope) keeps its answers but is out of
# every figure, export and report until it is restored; 'Yes' or 'No', set by events like the sample columns.
REMOVED_COLUMN = "removed"
CASE_STATE_COLUMNS = (*SAMPLE_COLUMNS, REMOVED_COLUMN)  # case columns set by events besides the attributes


def check_sample_value(column: str, value: str | None) -> str | None:
    """The value of a sample column as caseaudit writes it, or InvalidAttribute."""
    if value is None:
        return None
    text = str(value)
    if column == "sample_status":
        if text not in SAMPLE_STATUSES:
            raise InvalidAttribute(f"{text!r} is not a sample status ({', '.join(SAMPLE_STATUSES)})")
    elif column == "draw_order":
        # ASCII digits only: str.isdigit() takes "²" and "１", which SQLite would keep as text, sorting after
        # every number, so a swap would bring in the wrong reserve
        if not _DRAW_ORDER.fullmatch(text):
            raise InvalidAttribute(f"{text!r} is not a draw order (a whole number in the digits 0-9)")
    elif column == "stratum":
        if not text.strip() or len(text) > MAX_STRATUM_LENGTH:
            raise InvalidAttribute(f"a stratum is 1 to {MAX_STRATUM_LENGTH} characters")
    elif column == REMOVED_COLUMN:
        if text not in YES_NO:
            raise InvalidAttribute(f"{text!r} is not Yes or No (whether the case is removed from its round)")
    else:
        raise InvalidAttribute(f"{column!r} is not a sample column")
    return text
