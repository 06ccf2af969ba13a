"""The language of a reply, and the catalogues of the bot's fixed texts."""

from __future__ import annotations

import pytest

from bot.i18n import ENGLISH, reply_language, supported_language


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
