"""The language a question or passage is written in, offline: py3langid's model (BSD-3-Clause)
ships inside its wheel, and is restricted to the languages the bot's readers write in.

Measured on the hand-translated questions of evaluation/multilingual/ and the English
originals (benchmarks/language_detection.py; docs/quality.md has the figures): no English or
French question was given a wrong language, and a question takes about 0.1 ms.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = [
    "LANGUAGES",
    "languages_differ",
    "load",
    "not_english",
    "passage_language",
    "question_language",
    "text_language",
]

# The languages a text may be told to be in (ISO 639 codes): English and French first, the
# languages of the Sahel's readers (Hausa, Arabic, Fulfulde, Yoruba, Igbo), and a few widely
# written ones. Fewer choices make fewer mistakes on short questions; a text in another
# language is given the nearest of these, usually with a confidence below MIN_CONFIDENCE.
LANGUAGES = ("en", "fr", "ha", "ar", "ru", "es", "pt", "de", "it", "tr", "zh", "yo", "ig", "fuv")
# Below this probability the answer is None: on the evaluation sets no question at or above it
# was wrong, while names alone ("AES", "Sergei Lavrov") and two-letter words fall below it.
MIN_CONFIDENCE = 0.5
MIN_LETTERS = 3  # fewer letters (digits, emoji, "ok") say nothing about a language
MAX_CHARS = 2000  # a longer text is judged by its start (the cost grows with the length)


@functools.cache
def _identifier() -> Any:
    """py3langid's model, loaded once (about 0.6 s), restricted to ``LANGUAGES``."""
    from py3langid.langid import (  # type: ignore[import-untyped]
        MODEL_FILE,
        LanguageIdentifier,
    )

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def load() -> None:
    """Load the model now (it loads on first use otherwise); blocking."""
    _identifier()


def question_language(text: str) -> str | None:
    """The language ``text`` is written in, one of ``LANGUAGES``; None when it is too short or
    the model is unsure (names alone, a word or two shared by several languages). Remembered
    (by its first ``MAX_CHARS``): the bot tells a question's language to choose its reply's,
    and the engine again to choose its model (``not_english``)."""
    return _remembered(text[:MAX_CHARS])


@functools.lru_cache(maxsize=1024)
def _remembered(text: str) -> str | None:
    return _told(text)


def _told(text: str) -> str | None:
    text = text[:MAX_CHARS]
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return None
    language, confidence = _identifier().classify(text)
    return str(language) if confidence >= MIN_CONFIDENCE else None


@functools.lru_cache(maxsize=4096)
def passage_language(text: str) -> str | None:
    """``question_language`` of a passage, remembered: the same passages are cited again."""
    return _told(text)


def text_language(text: str) -> str | None:
    """The language of a longer text (a document), told from its first ``MAX_CHARS``; not
    remembered."""
    return _told(text)


def languages_differ(question: str, passage: str) -> bool:
    """Whether a question and a passage are known to be in different languages (False when
    either is unsure)."""
    asked = question_language(question)
    return asked is not None and passage_language(passage) not in (None, asked)


def not_english(question: str) -> bool:
    """Whether a question is known to be in a language other than English (False when the
    model is unsure: names alone stay with the English side)."""
    return question_language(question) not in (None, "en")
