"""The admin page's language: the admin's choice on the page (the EN/FR switch, kept in a
cookie), else the browser's ``Accept-Language``, else English (``bot/i18n.py``'s catalogues).

``Accept-Language`` is outside text: only its first ``MAX_HEADER_CHARS`` characters and
``MAX_ENTRIES`` entries are read, and an entry that is not a language tag with an optional
``q`` weight is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .i18n import DEFAULT_LANGUAGE, LANGUAGES, supported_language

__all__ = [
    "LANGUAGE_COOKIE",
    "MAX_ENTRIES",
    "MAX_HEADER_CHARS",
    "accepted_languages",
    "chosen_language",
    "page_language",
]

LANGUAGE_COOKIE = "storybot_admin_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 86400
MAX_HEADER_CHARS = 512  # of Accept-Language read; real browsers send well under 200
MAX_ENTRIES = 16  # language ranges read from it
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*")
_WEIGHT = re.compile(r"q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


def _entry(text: str) -> tuple[str, float] | None:
    """One ``tag;q=0.8`` range as (tag, weight); None when it is not one."""
    tag, _, params = text.partition(";")
    tag, params = tag.strip(), params.strip().replace(" ", "")
    if not _TAG.fullmatch(tag):
        return None
    if not params:
        return tag, 1.0
    weight = _WEIGHT.fullmatch(params)
    return (tag, float(weight.group(1))) if weight else None


def accepted_languages(header: str) -> list[str]:
    """The page languages an ``Accept-Language`` header asks for, most wanted first (pure;
    bounded: its start only, its first entries only; weight 0 means "not this one")."""
    entries = header[:MAX_HEADER_CHARS].split(",", MAX_ENTRIES)[:MAX_ENTRIES]
    ranked: list[tuple[float, int, str]] = []
    for position, text in enumerate(entries):
        entry = _entry(text)
        if entry is None or entry[1] <= 0:
            continue
        language = supported_language(entry[0])
        if language is not None:
            ranked.append((-entry[1], position, language))
    found: list[str] = []
    for _, _, language in sorted(ranked):
        if language not in found:
            found.append(language)
    return found


def chosen_language(cookies: Mapping[str, str]) -> str | None:
    """The switch's choice kept in the language cookie; None when there is none (or it is not
    one of ``LANGUAGES``)."""
    value = cookies.get(LANGUAGE_COOKIE, "")
    return value if value in LANGUAGES else None


def page_language(chosen: str | None, accept_language: str) -> str:
    """The page's language: the admin's choice, else the browser's, else English (pure)."""
    if chosen is not None and chosen in LANGUAGES:
        return chosen
    return next(iter(accepted_languages(accept_language)), DEFAULT_LANGUAGE)
