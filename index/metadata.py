"""A document's metadata as citations show it: bounded titles, sections, sources and dates, a
URL kept whole or dropped, and dates normalised for sorting. Pure: no file is read here."""

from __future__ import annotations

import logging
import re

__all__ = [
    "MAX_DATE_CHARS",
    "MAX_SECTION_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_TITLE_CHARS",
    "MAX_URL_CHARS",
    "capped_url",
    "clip_text",
    "normalize_date",
]

logger = logging.getLogger(__name__)

# Metadata is shown in every citation: a longer value is cut (a URL is dropped) where it is read.
MAX_TITLE_CHARS = 300
MAX_SECTION_CHARS = 200
MAX_SOURCE_CHARS = 200
MAX_DATE_CHARS = 40
MAX_URL_CHARS = 2048
_DATE = re.compile(r"^\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:$|[T\s])")


def clip_text(value: object, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters (a longer one ends with "…")."""
    text = " ".join(str(value or "").split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def capped_url(value: object, what: str = "a document") -> str:
    """A URL as read, or "" (with a warning) when it is over MAX_URL_CHARS: a cut URL would lead
    somewhere else, and no real page has such an address."""
    url = str(value or "").strip()
    if len(url) > MAX_URL_CHARS:
        logger.warning(
            "Dropping the URL of %s: %d characters, over the limit of %d",
            what,
            len(url),
            MAX_URL_CHARS,
        )
        return ""
    return url


def normalize_date(value: object) -> str:
    """A date as YYYY-MM-DD (or YYYY-MM, YYYY when that is all there is); "" if unreadable."""
    match = _DATE.match(str(value or ""))
    if not match:
        return ""
    year, month, day = match.groups()
    if month and not 1 <= int(month) <= 12:
        return ""
    if day and not 1 <= int(day) <= 31:
        return ""
    parts = [year] + [f"{int(p):02d}" for p in (month, day) if p]
    return "-".join(parts)
