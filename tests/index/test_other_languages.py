"""English questions over a corpus that also holds a French story: the index records the
documents' languages, and the engine asks the multilingual model too (the split's ``other``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.engine import Engine
from index.other_languages import (
    SURE,
    ask_other_too,
    holds_other_languages,
    in_english,
    prefer_other,
)

SETS = Path(__file__).resolve().parents[2] / "evaluation" / "multilingual"


@pytest.mark.parametrize(
    ("languages", "other"),
    [(None, False), ([], False), (["en"], False), (["en", "fr"], True), (["ar"], True)],
)
def test_an_index_holds_other_languages_when_a_document_is_not_english(
    languages: list[str] | None, other: bool
) -> None:
    assert holds_other_languages(languages) is other


def test_the_multilingual_model_is_asked_only_when_minilm_is_not_sure() -> None:
    assert ask_other_too(SURE - 0.01)
    assert not ask_other_too(SURE)


def test_the_multilingual_answer_is_preferred_when_the_gate_finds_it_likelier() -> None:
    assert prefer_other(0.1, 0.4)
    assert not prefer_other(0.4, 0.1)
    assert not prefer_other(0.4, 0.4)


@pytest.mark.parametrize(
    ("document", "english"),
    [
        ({"language": "en"}, True),
        ({"language": "fr"}, False),
        ({"language": ""}, False),
        ({}, False),
        (None, False),
    ],
)
def test_only_documents_recorded_as_english_are_left_to_minilm(
    document: dict[str, str] | None, english: bool
) -> None:
    assert in_english(document) is english


def _question(qid: str) -> dict[str, str]:
    with (SETS / "french_story_questions.jsonl").open(encoding="utf-8") as lines:
        return next(r for r in map(json.loads, lines) if r["id"] == qid)


@pytest.mark.slow
def test_an_english_question_finds_the_sentence_of_a_french_story(mixed_engine: Engine) -> None:
    """The shipped story and a story in French, indexed with the split on: the index records
    both languages, and an English question about the French story is answered with its
    French sentence, as it stands in the story."""
    engine, store = mixed_engine, mixed_engine.store
    assert store.manifest.languages == ["en", "fr"]
    assert store.documents["100_aes_sommet_niamey.md"]["language"] == "fr"
    asked = _question("aes-niamey-en-27")  # which countries the communiqué thanked
    assert engine.for_question(asked["question"]) is engine  # English: MiniLM's side first
    answer = engine.ask(asked["question"])
    assert answer.found
    assert answer.sentences[0].text == asked["answer_sentence"]
    assert answer.sentences[0].passage.doc_id == "100_aes_sommet_niamey.md"


@pytest.mark.slow
def test_an_english_corpus_records_english_only(story_engine: Engine) -> None:
    """The shipped corpus is English: its English questions never ask the other model."""
    assert story_engine.store.manifest.languages == ["en"]
    assert not holds_other_languages(story_engine.store.manifest.languages)
