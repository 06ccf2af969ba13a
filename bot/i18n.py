"""The bot's fixed texts in the reader's language: gettext catalogues (``bot/locales/``, English
is the source) and which language a reply is written in.

A reply is written in the chat's ``/language`` choice when there is one; else in the
question's language (``index.language``); else in the user's Telegram ``language_code``; else
in ``chat.default_language``. Each candidate counts only when replies can be written in it.
Handlers pick a translator per reply and hand it to the pure formatting functions.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from index.language import question_language

if TYPE_CHECKING:
    from telegram import Update

    from .context import Context

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "ENGLISH",
    "LANGUAGES",
    "LOCALES",
    "N_",
    "Notice",
    "Translator",
    "chat_language",
    "language_for",
    "language_name",
    "number",
    "reply_language",
    "supported_language",
    "translator",
    "translator_for",
]

DOMAIN = "storybot"
LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("en", "fr")  # the languages replies are written in; English is the source
DEFAULT_LANGUAGE = "en"
Translator = gettext.NullTranslations
# A notice to admins: a text, or a function that writes it in a given language.
Notice = str | Callable[[Translator], str]
QUESTION_CHARS = 500  # a question's language is told from its start


def N_(message: str) -> str:
    """Marks ``message`` for the catalogues; it is translated where it is shown."""
    return message


@functools.cache
def translator(language: str) -> Translator:
    """The catalogue of one of ``LANGUAGES`` (English: the texts as written in the code)."""
    if language == "en":
        return gettext.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"Replies are not written in {language!r}.")
    with (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as catalogue:
        return gettext.GNUTranslations(catalogue)


ENGLISH = translator("en")

# The names of the languages a passage may be told to be in (index.language.LANGUAGES), for
# "Source in English".
_LANGUAGE_NAMES = {
    "en": N_("English"),
    "fr": N_("French"),
    "ha": N_("Hausa"),
    "ar": N_("Arabic"),
    "ru": N_("Russian"),
    "es": N_("Spanish"),
    "pt": N_("Portuguese"),
    "de": N_("German"),
    "it": N_("Italian"),
    "tr": N_("Turkish"),
    "zh": N_("Chinese"),
    "yo": N_("Yoruba"),
    "ig": N_("Igbo"),
    "fuv": N_("Fulfulde"),
}


def language_name(language: str, tr: Translator) -> str:
    """A language's name in the reply's language ("anglais"); the code when it has none."""
    name = _LANGUAGE_NAMES.get(language)
    return tr.gettext(name) if name else language


def supported_language(code: str | None) -> str | None:
    """The reply language a language code names ("fr-CA" and "FR" name "fr"); None when replies
    are not written in it."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def reply_language(
    *,
    chosen: str | None = None,
    question: str | None = None,
    user: str | None = None,
    default: str = DEFAULT_LANGUAGE,
) -> str:
    """The language of a reply: the chat's choice, else the question's language, else the
    user's Telegram language code, else ``default`` (pure)."""
    for candidate in (chosen, question, user):
        if language := supported_language(candidate):
            return language
    return supported_language(default) or DEFAULT_LANGUAGE


def chat_language(context: Context, chat_id: int | None) -> str | None:
    """The chat's ``/language`` choice (None: automatic)."""
    return context.services.state.chat_language(chat_id) if chat_id is not None else None


def language_for(update: Update | None, context: Context, question: str | None = None) -> str:
    """The language to reply to ``update`` in (module docstring); ``question`` is the text
    asked, when the reply answers one."""
    chat_id: int | None = None
    user_code: str | None = None
    if update is not None:
        chat = update.effective_chat
        chat_id = chat.id if chat is not None else None
        user = update.effective_user
        user_code = user.language_code if user is not None else None
    asked = question_language(question[:QUESTION_CHARS]) if question else None
    return reply_language(
        chosen=chat_language(context, chat_id),
        question=asked,
        user=user_code,
        default=context.services.config.chat.default_language,
    )


def translator_for(
    update: Update | None, context: Context, question: str | None = None
) -> Translator:
    """``translator(language_for(...))``: the catalogue to write a reply to ``update`` with."""
    return translator(language_for(update, context, question))


def number(value: int, language: str) -> str:
    """A whole number with its thousands grouped as the language writes them: 12,345 in
    English, 12 345 in French (a narrow no-break space; a comma there marks decimals)."""
    grouped = f"{value:,}"
    return grouped.replace(",", "\u202f") if language == "fr" else grouped
