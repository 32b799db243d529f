"""Words for a write that came too late: someone else changed the answer since this screen showed it."""

from __future__ import annotations

import datetime as _dt

from audit.core.answers import format_answer_text


def when(stamp: str | None) -> str:
    """'10:02' today, '3 Nov 10:02' before, in local time."""
    if not stamp:
        return "an unknown time"
    try:
        moment = _dt.datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return stamp[:16]
    if moment.date() == _dt.datetime.now().astimezone().date():
        return moment.strftime("%H:%M")
    return f"{moment.day} {moment.strftime('%b %H:%M')}"


def answer_words(row: dict | None) -> str:
    value = (row or {}).get("value")
    return format_answer_text(value, (row or {}).get("reason")) if value else "no answer"


def answer_change(question_id: str, seen: dict | None, current: dict | None) -> str:
    """'spo.b set 2.2.1a to No at 10:02 (since this screen showed Yes)'."""
    current = current or {}
    who = current.get("auditor") or "someone else"
    at = when(current.get("answered_at"))
    showed = answer_words(seen)
    if answer_words(seen) != answer_words(current) or not current:
        if current.get("value"):
            what = f"set {question_id} to {answer_words(current)}"
        else:
            what = f"cleared {question_id}"
        return f"{who} {what} at {at} (since this screen showed {showed})"
    return f"{who} changed the note on {question_id} at {at} (this screen showed {showed}, which is unchanged)"


def rating_change(standard_id: str, seen: dict | None, current: dict | None) -> str:
    """'spo.b rated 1.1 Good at 10:02 (since this screen showed Inadequate)'."""
    current = current or {}
    who = current.get("rater") or "someone else"
    showed = (seen or {}).get("rating") or "no rating"
    if (seen or {}).get("rating") != current.get("rating"):
        return f"{who} rated {standard_id} '{current.get('rating')}' at {when(current.get('rated_at'))} (since this screen showed '{showed}')"
    return f"{who} changed the evidence for {standard_id} at {when(current.get('rated_at'))} (the rating '{showed}' is unchanged)"
