"""The language of a reply, and the catalogues of the bot's fixed texts."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import (
    DOMAIN,
    ENGLISH,
    LANGUAGES,
    LOCALES,
    reply_language,
    supported_language,
    translator,
)


@pytest.mark.parametrize(
    ("code", "language"),
    [("fr", "fr"), ("fr-CA", "fr"), ("FR", "fr"), ("en_GB", "en"), ("de", None), ("", None)],
)
def test_supported_language(code: str, language: str | None) -> None:
    assert supported_language(code) == language


@pytest.mark.parametrize(
    ("chosen", "question", "user", "default", "language"),
    [
        ("en", "fr", "fr", "fr", "en"),  # the chat's choice wins
        (None, "fr", "en", "en", "fr"),  # then the question's language
        (None, "ar", "fr", "en", "fr"),  # (one replies cannot be written in does not count)
        (None, None, "fr-BE", "en", "fr"),  # then Telegram's language_code
        (None, None, "ha", "fr", "fr"),  # then chat.default_language
        (None, None, None, "en", "en"),
    ],
)
def test_reply_language_order(
    chosen: str | None, question: str | None, user: str | None, default: str, language: str
) -> None:
    assert reply_language(chosen=chosen, question=question, user=user, default=default) == language


def test_english_is_the_texts_as_written() -> None:
    assert ENGLISH.gettext("Hello") == "Hello"
    assert ENGLISH.ngettext("{n} story", "{n} stories", 2) == "{n} stories"


# -- the catalogues -------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
_PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")
_TAG = re.compile(r"</?\w+")


def _code_texts() -> set[str | tuple[str, ...]]:
    """Every text bot/ marks for translation: a msgid, or (singular, plural)."""
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(ROOT / "bot"):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def _catalogue(language: str) -> Catalog:
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        return read_po(po, locale=language)


def _key(message: Message) -> str | tuple[str, ...]:
    return message.id if isinstance(message.id, str) else tuple(message.id)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_text_of_the_bot_is_translated(language: str) -> None:
    """A text in the code that a catalogue lacks, or has left untranslated or fuzzy, fails
    here: run `bash scripts/translations` and translate it."""
    catalogue = _catalogue(language)
    done = {
        _key(m)
        for m in catalogue
        if m.id
        and not m.fuzzy
        and (bool(m.string) if isinstance(m.string, str) else all(m.string))
    }
    texts = _code_texts()
    assert len(texts) > 100
    missing = sorted(map(str, texts - done))
    assert not missing, f"{language}: no translation for {missing}"
    unused = sorted(map(str, {_key(m) for m in catalogue if m.id} - texts))
    assert not unused, f"{language}: translations of texts no longer in the code: {unused}"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_translations_keep_placeholders_and_tags(language: str) -> None:
    """{count}, <b>, <i>, <code> and /commands survive translation."""
    for message in _catalogue(language):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        want_names = {n for i in ids for n in _PLACEHOLDER.findall(i)}
        for string in strings:
            assert set(_PLACEHOLDER.findall(string)) <= want_names, (message.id, string)
            assert sorted(_TAG.findall(string)) == sorted(_TAG.findall(ids[0])), message.id
            commands = set(re.findall(r"/[a-z]+\b", ids[0]))
            assert commands <= set(re.findall(r"/[a-z]+\b", string)), (message.id, string)
        assert set(_PLACEHOLDER.findall(strings[-1])) == {n for n in _PLACEHOLDER.findall(ids[-1])}


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_the_compiled_catalogue_is_the_po_file(language: str) -> None:
    """The .mo the bot reads holds what the .po says (scripts/translations compiles it)."""
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue(language))
    compiled.seek(0)
    expected = gettext.GNUTranslations(compiled)
    shipped = translator(language)
    assert isinstance(shipped, gettext.GNUTranslations)
    assert shipped._catalog == expected._catalog  # type: ignore[attr-defined]
