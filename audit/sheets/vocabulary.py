"""What case sheets commonly say, read from ``vocabulary.toml`` beside this module (data, not code):

- header aliases: an unknown column that probably means one of ours is refused with a suggestion
  ("did you mean rosh_level?"), found in the table or by ``difflib`` among the known columns;
- recorded values: "White British", "Black Caribbean", "Level 2" ... mapped to caseaudit's closed
  vocabularies (White, Black, 2 ...) before the attribute's own check.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from collections.abc import Iterable
from importlib import resources

from audit.core.attributes import ATTRIBUTES_BY_COLUMN, normalise_header

VOCABULARY_FILE = "vocabulary.toml"


@functools.cache
def vocabulary() -> dict:
    """The vocabulary file as read: {"headers": {alias: column}, "values": {column: {text: value}}}."""
    text = resources.files("audit.sheets").joinpath(VOCABULARY_FILE).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return {
        "headers": {normalise_header(k): v for k, v in data.get("headers", {}).items()},
        "values": {
            column: {" ".join(k.split()).casefold(): v for k, v in mapping.items()}
            for column, mapping in data.get("values", {}).items()
        },
    }


def read_attribute(column: str, text: str) -> str:
    """A sheet's cell for an attribute column as caseaudit records it: a value of the recorded-values
    vocabulary is mapped first, then the attribute's own check (InvalidAttribute saying what it accepts)."""
    attribute = ATTRIBUTES_BY_COLUMN[column]
    mapped = vocabulary()["values"].get(column, {}).get(" ".join(text.split()).casefold())
    return attribute.parse(mapped if mapped is not None else text)


def header_hint(header: str, known: Iterable[str]) -> str:
    """' (did you mean rosh_level?)' for an unknown header, or '' when nothing is close."""
    normalised = normalise_header(header)
    known = list(known)
    alias = vocabulary()["headers"].get(normalised)
    if alias is not None and alias in known:
        return f" (did you mean {alias}?)"
    folded = {k.casefold(): k for k in known}
    close = difflib.get_close_matches(header.strip().casefold(), list(folded), n=1, cutoff=0.75) or difflib.get_close_matches(
        normalised, list(folded), n=1, cutoff=0.75
    )
    return f" (did you mean {folded[close[0]]}?)" if close else ""
