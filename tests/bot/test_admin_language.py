"""The admin page's language (bot/admin_language.py): the switch's cookie, else the browser's
Accept-Language (bounded, hostile text skipped), else English. Over HTTP:
tests/bot/test_admin_page.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.admin_language import (
    LANGUAGE_COOKIE,
    MAX_ENTRIES,
    MAX_HEADER_CHARS,
    accepted_languages,
    chosen_language,
    page_language,
)
from bot.i18n import LANGUAGES


@pytest.mark.parametrize(
    ("header", "languages"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.8", ["fr", "en"]),
        ("en-GB, fr;q=0.95", ["en", "fr"]),
        ("de, fr;q=0.3, en;q=0.7", ["en", "fr"]),  # by weight, not by place
        ("FR_be", []),  # not a language tag
        ("fr;q=0, en", ["en"]),  # q=0: not this one
        ("fr;q=2, en;q=abc, de", []),  # weights out of range or not numbers
        ("*", []),
        ("", []),
        (",,;;,  ,", []),
        ("fr;level=1", []),
        ("x" * 9 + ", fr", ["fr"]),  # a subtag over 8 letters is skipped
    ],
)
def test_accepted_languages(header: str, languages: list[str]) -> None:
    assert accepted_languages(header) == languages


def test_only_the_start_of_a_long_header_is_read() -> None:
    assert accepted_languages(" " * MAX_HEADER_CHARS + "fr") == []
    assert accepted_languages("de," * (MAX_ENTRIES - 1) + "fr") == ["fr"]
    assert accepted_languages("de," * MAX_ENTRIES + "fr") == []  # entry MAX_ENTRIES + 1
    assert accepted_languages("fr," + "de;q=0.5," * 100_000) == ["fr"]


@given(st.text(max_size=3000))
def test_any_header_gives_page_languages_only(header: str) -> None:
    found = accepted_languages(header)
    assert set(found) <= set(LANGUAGES) and len(found) == len(set(found))
    assert page_language(None, header) in LANGUAGES


def test_the_switch_beats_the_browser_and_english_is_the_last_resort() -> None:
    assert page_language("en", "fr") == "en"
    assert page_language("fr", "en") == "fr"
    assert page_language(None, "fr-FR") == "fr"
    assert page_language(None, "de, es") == "en"
    assert chosen_language({LANGUAGE_COOKIE: "fr"}) == "fr"
    assert chosen_language({LANGUAGE_COOKIE: "de"}) is None
    assert chosen_language({}) is None
