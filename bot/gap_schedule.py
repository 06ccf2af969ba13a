"""When the weekly gap digest goes out: ``gaps.digest = "mon 09:00"`` (UTC) parsed strictly,
and the next time it is due (pure)."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["DAYS", "Weekly", "next_run", "parse_digest"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORM = re.compile(r"([a-z]{3}) ([0-9]{2}):([0-9]{2})")
MAX_CHARS = 32


Weekly = tuple[int, int, int]  # weekday (Monday 0), hour, minute; UTC


def parse_digest(text: str) -> Weekly | None:
    """``"mon 09:00"`` -> (0, 9, 0); "" -> None (no digest). Anything else raises ValueError
    saying what is expected."""
    if not text.strip():
        return None
    match = _FORM.fullmatch(text.strip().lower()[:MAX_CHARS])
    expected = 'expected a day and a 24-hour UTC time like "mon 09:00" (or "" for no digest)'
    if match is None:
        raise ValueError(expected)
    day, hour, minute = match.group(1), int(match.group(2)), int(match.group(3))
    if day not in DAYS:
        raise ValueError(f"the day must be one of {', '.join(DAYS)}")
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day; {expected}")
    return DAYS.index(day), hour, minute


def next_run(when: Weekly, now: dt.datetime) -> dt.datetime:
    """The first time at or after ``now`` (timezone-aware) that ``when`` names, in UTC; exactly
    ``now`` counts as the next week's, so a digest sent at its time is not sent twice."""
    now = now.astimezone(dt.UTC)
    weekday, hour, minute = when
    start = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    candidate = start + dt.timedelta(days=(weekday - now.weekday()) % 7)
    if candidate <= now:
        candidate += dt.timedelta(days=7)
    return candidate
