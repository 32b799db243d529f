"""One clock for every record: UTC, to the microsecond."""

from __future__ import annotations

import datetime as _dt


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
