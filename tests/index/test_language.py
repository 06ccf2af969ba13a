"""A question's language, offline: short questions in the readers' languages, and None when
the text cannot tell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.language import LANGUAGES, not_english, passage_language, question_language

SETS = Path(__file__).resolve().parents[2] / "evaluation" / "multilingual"


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Who will the ministers meet in Moscow?", "en"),
        ("what is the AES", "en"),
        ("Qui les ministres vont-ils rencontrer à Moscou ?", "fr"),
        ("Quand a été créée l'AES ?", "fr"),
        ("et pourquoi ?", "fr"),
        ("Wane ne zai je Moscow?", "ha"),
        ("من سيذهب إلى موسكو؟", "ar"),
        ("Кто поедет в Москву?", "ru"),
        ("¿Quién va a Moscú?", "es"),
        ("Wer fährt nach Moskau?", "de"),
    ],
)
def test_short_questions_get_their_language(question: str, language: str) -> None:
    assert question_language(question) == language


@pytest.mark.parametrize(
    "text", ["", "   ", "ok", "👍👍👍", "2024", "AES", "Sergei Lavrov", "and CSM?"]
)
def test_text_that_cannot_tell_gets_none(text: str) -> None:
    assert question_language(text) is None


def test_the_answer_is_always_one_of_the_languages() -> None:
    for text in ("Hallo Welt, wie geht es dir heute?", "Ni hao, ni hao ma? 你好吗", "x" * 5000):
        assert question_language(text) in (*LANGUAGES, None)


def _questions(name: str, key: str = "question") -> list[str]:
    with (SETS / name).open(encoding="utf-8") as lines:
        return [json.loads(line)[key] for line in lines if line.strip()]


@pytest.mark.parametrize(
    ("name", "key", "language", "right"),
    [
        ("squad_fr.jsonl", "english", "en", 0.99),
        ("story_fr.jsonl", "english", "en", 0.99),
        ("squad_fr.jsonl", "question", "fr", 0.98),
        ("story_fr.jsonl", "question", "fr", 0.98),
        ("squad_ha.jsonl", "question", "ha", 0.94),
        ("squad_ar.jsonl", "question", "ar", 0.98),
    ],
)
def test_the_translated_question_sets(name: str, key: str, language: str, right: float) -> None:
    """benchmarks/language_detection.py: no question of these sets gets a wrong language (an
    unsure one gets None), and nearly all get theirs."""
    found = [question_language(q) for q in _questions(name, key)]
    assert not [f for f in found if f not in (language, None)]
    assert sum(f == language for f in found) >= right * len(found)


def test_a_passage_is_told_once() -> None:
    passage = "Mali, Burkina Faso and Niger will send their foreign ministers to Moscow in April."
    assert passage_language(passage) == "en"
    hits = passage_language.cache_info().hits
    assert passage_language(passage) == "en"
    assert passage_language.cache_info().hits == hits + 1


def test_only_a_question_known_to_be_in_another_language_leaves_english() -> None:
    """The split sends a question to the other-languages model only when it is surely not
    English: names alone and English questions stay."""
    assert not_english("Quand les ministres se rendent-ils à Moscou ?")
    assert not not_english("When will the ministers travel to Moscow?")
    assert not not_english("Sergei Lavrov")
