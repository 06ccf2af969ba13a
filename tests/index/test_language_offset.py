"""Fair ranking across passage languages: a question's candidates in another language than its
own get e5's cross-language offset back before fusion, on a corpus in several languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.engine import Engine
from index.eval_metrics import contains_answer
from index.language_offset import (
    CROSS_LANGUAGE_OFFSET,
    language_offsets,
    same_side,
    several_languages,
)

SETS = Path(__file__).resolve().parents[2] / "evaluation" / "multilingual"
STORY = "000_1517f336e036ffe5.md"
FRENCH_STORY = "100_aes_sommet_niamey.md"


@pytest.mark.parametrize(
    ("languages", "several"),
    [(None, False), ([], False), (["en"], False), (["fr"], False), (["en", "fr"], True)],
)
def test_only_an_index_in_several_languages_is_ranked_across_them(
    languages: list[str] | None, several: bool
) -> None:
    assert several_languages(languages) is several


def test_candidates_in_another_language_get_the_offset() -> None:
    shift = language_offsets("fr", ["en", "fr", None, "en"])
    assert shift is not None
    assert np.allclose(shift, [CROSS_LANGUAGE_OFFSET, 0.0, 0.0, CROSS_LANGUAGE_OFFSET])


@pytest.mark.parametrize(
    ("asked", "passages"),
    [(None, ["en", "fr"]), ("fr", ["en", "en"]), ("fr", ["fr", "fr"]), ("en", [None, "en"])],
)
def test_nothing_moves_when_the_candidates_are_in_one_language_or_the_question_is_unknown(
    asked: str | None, passages: list[str | None]
) -> None:
    assert language_offsets(asked, passages) is None


def _question(qid: str) -> dict[str, Any]:
    with (SETS / "story_fr.jsonl").open(encoding="utf-8") as lines:
        return next(r for r in map(json.loads, lines) if r["id"] == qid)


@pytest.mark.slow
def test_a_french_question_finds_the_english_passage_beside_a_french_story(
    mixed_engine: Engine,
) -> None:
    """The shipped story and a story in French, indexed with the split on: a French question
    about the English story is answered from its English passage, though the French story's
    passages, in the question's language, are among the candidates."""
    engine = mixed_engine
    asked = _question("story-fr-08")  # when the Sahel ministers go to Moscow
    question, answers = asked["question"], asked["answers"]
    french = engine.for_question(question)
    assert french is engine.other
    assert several_languages(french.store.manifest.languages)
    found = french.retrieve(question)
    assert found.hits[0].passage.doc_id == STORY
    assert contains_answer(found.hits[0].passage.text, answers)
    assert FRENCH_STORY in {h.passage.doc_id for h in found.hits}
    answer = engine.ask(question)
    assert answer.found
    assert answer.sentences[0].passage.doc_id == STORY


def test_answer_sentences_come_from_the_best_passages_side_of_the_question_language() -> None:
    offsets = {3: CROSS_LANGUAGE_OFFSET, 5: 0.0, 8: CROSS_LANGUAGE_OFFSET}
    assert same_side(offsets, 3, 8)
    assert not same_side(offsets, 3, 5)
    assert same_side({}, 3, 5)  # one language: every passage
