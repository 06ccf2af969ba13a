"""The answer's confidence: the tiers it decides, the figures ``eval --gate`` reports from it,
and the engine's answers on the shipped story carrying it."""

from __future__ import annotations

import dataclasses

import pytest

from index.answer_confidence import (
    CONFIDENCE_COEFFICIENTS,
    SIGNALS,
    AnswerSignals,
    answer_confidence,
    in_scope,
    tier,
)
from index.engine import Engine
from index.gate_eval import GateSample, confidence_figures, split_of

SIGNALS_OF_A_CLEAR_ANSWER = AnswerSignals(
    relevance=0.95,
    sentence_score=0.9,
    sentence_margin=0.4,
    sentence_cosine=0.7,
    sentence_coverage=0.9,
    typed=1.0,
    kind_asked=1.0,
    phrase=1.0,
    passage_margin=2.0,
    lead_rank=0.0,
    follow_up=0.0,
    agreement=2.0,
    question_terms=4.0,
)


def test_every_signal_has_a_coefficient() -> None:
    assert len(SIGNALS) == len(CONFIDENCE_COEFFICIENTS)
    assert len(SIGNALS_OF_A_CLEAR_ANSWER.values()) == len(SIGNALS)


def test_a_clear_answer_is_surer_than_a_doubtful_one() -> None:
    doubtful = dataclasses.replace(
        SIGNALS_OF_A_CLEAR_ANSWER,
        relevance=0.2,
        sentence_margin=0.0,
        sentence_coverage=0.2,
        passage_margin=0.0,
    )
    clear = answer_confidence(SIGNALS_OF_A_CLEAR_ANSWER)
    assert 0.0 < answer_confidence(doubtful) < clear < 1.0


@pytest.mark.parametrize(
    ("confidence", "scope", "expected"),
    [
        (0.9, 0.9, "sure"),
        (0.6, 0.9, "unsure"),
        (0.9, 0.1, "none"),  # a question the corpus is unlikely to answer: declined
        (0.1, 0.5, "unsure"),
    ],
)
def test_tiers(confidence: float, scope: float, expected: str) -> None:
    assert tier(confidence, scope, gate=0.8, decline=0.2) == expected


def test_a_clear_answer_is_in_scope() -> None:
    far = dataclasses.replace(SIGNALS_OF_A_CLEAR_ANSWER, relevance=0.1, sentence_coverage=0.1)
    assert in_scope(far) < in_scope(SIGNALS_OF_A_CLEAR_ANSWER)


def _sample(in_scope: bool, found: bool, right: bool, confidence: float) -> GateSample:
    return GateSample(in_scope, found, found and confidence >= 0.8, right, 0.5, confidence, "fit")


def test_confidence_figures_count_what_they_say() -> None:
    samples = [
        _sample(True, True, True, 0.9),  # sure and right
        _sample(True, True, False, 0.85),  # sure and wrong
        _sample(True, True, True, 0.5),  # right but hedged
        _sample(True, False, False, 0.0),  # answerable, declined
        _sample(False, False, False, 0.0),  # out of scope, declined
        _sample(False, True, False, 0.6),  # out of scope, answered (hedged)
    ]
    figures = confidence_figures(samples)
    assert figures["unhedged_right"] == 0.5
    assert figures["right_hedged"] == 0.5
    assert figures["out_of_scope_declined"] == 0.5
    assert figures["answerable_declined"] == 0.25
    # A stricter gate hedges the wrong sure answer but also the right one.
    stricter = confidence_figures(samples, gate=0.95)
    assert stricter["right_hedged"] == 1.0


def test_halves_are_stable_and_both_used() -> None:
    halves = {split_of(f"q{i}") for i in range(50)}
    assert halves == {"fit", "held_out"}
    assert split_of("q1") == split_of("q1")


@pytest.mark.slow
def test_story_answers_carry_their_confidence(story_engine: Engine) -> None:
    gate = story_engine.settings.gate
    for question in ("When was the AES formed?", "How big is the joint military force?"):
        answer = story_engine.ask(question)
        assert answer.found and answer.signals is not None
        assert 0.0 < answer.confidence < 1.0
        assert answer.sure == (answer.confidence >= gate)
        assert answer.signals.relevance == answer.relevance
