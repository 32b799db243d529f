"""A round as the store hands it out: an immutable snapshot of its row in ``rounds``, keyed by id.

Names are for people and can change (``rename_round``, in this or another process); the id never
does. So a name is looked up once, at the edge (``AuditStore.round(name)``: a command's argument),
and everything after works with the ``Round`` (its id). A screen keeps the id and reads the round
again (``AuditStore.round_by_id``) when it needs the current name or finalised state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class Round:
    """One row of the ``rounds`` table, as it was when read."""

    id: str
    name: str
    unit: str
    framework_id: str
    framework_version: str
    created_at: str
    created_by: str
    finalised_at: str | None = None
    finalised_by: str | None = None
    moderates: str | None = None  # a moderation round (blind second marking): the id of the round it moderates
    removed_at: str | None = None  # a round removed from the list (reversible: restore_round)
    removed_by: str | None = None

    @property
    def is_moderation(self) -> bool:
        return self.moderates is not None

    @property
    def removed(self) -> bool:
        return bool(self.removed_at)

    @property
    def finalised(self) -> bool:
        return bool(self.finalised_at)

    @property
    def framework_key(self) -> tuple[str, str]:
        """(framework id, version): the framework definition the round is pinned to."""
        return (self.framework_id, self.framework_version)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Round:
        """From a ``rounds`` row (extra columns, such as a listing's computed figures, are ignored)."""
        return cls(**{field.name: row[field.name] for field in attrs.fields(cls)})

    def as_row(self) -> dict[str, Any]:
        """The ``rounds`` row: column -> value."""
        return attrs.asdict(self)
