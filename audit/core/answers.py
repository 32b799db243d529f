"""Answers and ratings as people type them: 'Yes', 'N/A: no PSR prepared', 'Requires improvement'."""

from __future__ import annotations

from audit.errors import (
    InvalidValue,
)
from framework import Answer, Rating

# ------------------------------------------------------------------ answer text
_YES = {"y", "yes"}
_NO = {"n", "no"}
_NOT_APPLICABLE = {"na", "n/a", "n.a.", "not applicable", "not required", "nr", "x"}


def parse_answer_text(text: str | None) -> tuple[Answer | None, str | None]:
    """'Yes' / 'y' / 'No' / 'N/A' / 'N/A: no PSR prepared' / '' -> (answer, reason).

    Blank means unanswered. Raises InvalidValue naming what is accepted.
    """
    raw = (text or "").strip()
    if not raw:
        return None, None
    head, _, reason = raw.partition(":")
    word = head.strip().lower()
    if word in _YES and not reason:
        return Answer.YES, None
    if word in _NO and not reason:
        return Answer.NO, None
    if word in _NOT_APPLICABLE:
        return Answer.NOT_APPLICABLE, (reason.strip() or None)
    raise InvalidValue(f"{raw!r} is not an answer (use Yes, No, N/A or N/A: reason; blank for unanswered)")


def format_answer_text(value: str | None, reason: str | None) -> str:
    if value is None:
        return ""
    if value == Answer.NOT_APPLICABLE:
        return f"N/A: {reason}" if reason else "N/A"
    return value


def parse_rating(text: str) -> Rating:
    import difflib

    for rating in Rating:
        if text.strip().lower() == rating.value.lower():
            return rating
    words = [r.value for r in Rating]
    close = difflib.get_close_matches(text.strip(), words, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InvalidValue(f"{text!r} is not a rating; use one of: {', '.join(words)}.{hint}")
