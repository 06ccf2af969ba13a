"""The extractive reader: its pure decoding rules, its bounded input, and the real model (the
shipped delta merged into the bundled MiniLM and exported to ONNX in the shipped cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.engine import Engine
from index.errors import ModelLoadError
from index.reader import (
    MAX_SPAN_TOKENS,
    MAX_TOKENS,
    QUESTION_TOKENS,
    Reader,
    best_span,
    pair_input,
    reads_index,
    shared_reader,
    span_characters,
)
from index.reader_export import export_reader
from index.settings import RankingSettings
from tests.conftest import SHIPPED

_LEAD = (
    "In a significant realignment of West Africa’s diplomatic and security landscape, the "
    "foreign ministers of Mali, Burkina Faso, and Niger are set to visit Moscow on April 3-4 "
    "to strengthen strategic ties with Russia."
)


@pytest.fixture(scope="module")
def reader() -> Reader:
    found = shared_reader(SHIPPED.index.onnx_cache)
    assert found is not None
    return found


def test_best_span_takes_the_most_probable_pair_in_order() -> None:
    start = np.array([0.0, 5.0, 0.0, 0.0])
    end = np.array([9.0, 0.0, 0.0, 5.0])  # the best end lies before the best start
    first, last, prob = best_span(start, end)
    assert (first, last) == (1, 3)
    assert 0 < prob < 1


def test_best_span_never_exceeds_the_longest_phrase() -> None:
    start = np.zeros(40)
    end = np.zeros(40)
    start[2], end[30] = 10.0, 10.0
    first, last, _ = best_span(start, end, max_tokens=5)
    assert first <= last < first + 5


def test_best_span_of_nothing_is_empty() -> None:
    assert best_span(np.zeros(0), np.zeros(0)) == (0, -1, 0.0)


def test_span_characters_trims_spaces_and_punctuation() -> None:
    sentence = "They met on (April 3-4), in Moscow."
    offsets = [(0, 4), (5, 8), (9, 11), (12, 13), (13, 18), (19, 20), (20, 21), (21, 22), (22, 23)]
    start, end = span_characters(offsets, 3, 8, sentence)
    assert sentence[start:end] == "April 3-4"


def test_pair_input_is_bounded() -> None:
    pair = pair_input(
        list(range(1000, 1100)), list(range(2000, 2500)), [(i, i + 1) for i in range(500)]
    )
    assert len(pair.ids) == MAX_TOKENS
    assert pair.first == QUESTION_TOKENS + 2
    assert len(pair.offsets) == MAX_TOKENS - pair.first - 1
    assert pair.types.count(1) == len(pair.offsets) + 1


def test_answering_sentence_beats_an_unrelated_one(reader: Reader) -> None:
    answer, other = reader.read(
        "When will the ministers visit Moscow?",
        [_LEAD, "Photosynthesis converts light energy into chemical energy stored in glucose."],
    )
    assert answer.here > other.here
    assert "April 3-4" in answer.text
    assert len(answer.text) < len(_LEAD) / 3


def test_phrase_is_a_span_of_the_sentence(reader: Reader) -> None:
    for question, sentence in [
        ("Who won?", "The Denver Broncos defeated the Carolina Panthers 24–10."),
        ("How many soldiers are in the joint force?", "A joint 5,000-strong force was formed."),
        ("", ""),
        ("what?", "   "),
    ]:
        (reading,) = reader.read(question, [sentence])
        assert sentence[reading.start : reading.end] == reading.text
        assert 0.0 <= reading.here <= 1.0 and 0.0 <= reading.span_prob <= 1.0


@settings(max_examples=25)
@given(st.text(max_size=300), st.text(max_size=600))
def test_any_text_reads_to_a_span_of_it(question: str, sentence: str) -> None:
    found = shared_reader(SHIPPED.index.onnx_cache)
    assert found is not None
    (reading,) = found.read(question, [sentence])
    assert sentence[reading.start : reading.end] == reading.text
    assert len(reading.text.split()) <= MAX_SPAN_TOKENS


def test_hostile_input_is_bounded(reader: Reader) -> None:
    huge = "word " * 50_000 + "on April 3-4."
    pairs = reader.inputs("When? " * 10_000, [huge, "\u200b" * 5000, "🙂" * 3000])
    assert all(len(p.ids) <= MAX_TOKENS for p in pairs)
    readings = reader.read("When? " * 10_000, [huge, "\u200b" * 5000, "🙂" * 3000])
    for reading, sentence in zip(readings, [huge, "\u200b" * 5000, "🙂" * 3000], strict=True):
        assert sentence[reading.start : reading.end] == reading.text


def test_missing_delta_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="reader's weights are missing"):
        export_reader(tmp_path, tmp_path, "int8", tmp_path / "none.npz")


def test_reads_index_up_to_its_size_limit() -> None:
    assert reads_index(4_000, 50_000)
    assert reads_index(50_000, 50_000)
    assert not reads_index(50_001, 50_000)
    assert not reads_index(4_000, 0)  # 0 turns the reader off
    assert not reads_index(0, 50_000)


def test_engine_reads_only_indexes_within_the_limit(story_engine: Engine) -> None:
    question = "What are the ministers set to do?"
    size = len(story_engine.store)
    within = Engine(
        story_engine.store, story_engine.embedder, RankingSettings(reader_max_passages=size)
    )
    beyond = Engine(
        story_engine.store, story_engine.embedder, RankingSettings(reader_max_passages=size - 1)
    )
    reading = within.read(question, question, _LEAD)
    assert reading is not None and _LEAD[reading.start : reading.end] == reading.text
    assert beyond.read(question, question, _LEAD) is None
