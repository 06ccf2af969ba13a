"""The answer phrase picked out of an answer sentence (pure rules, never invented)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.answer_span import MAX_SENTENCE, answer_span
from index.question_kind import question_kind

_LEAD = (
    "In a significant realignment of West Africa’s diplomatic and security landscape, the "
    "foreign ministers of Mali, Burkina Faso, and Niger are set to visit Moscow on April 3-4 "
    "to strengthen strategic ties with Russia."
)


@pytest.mark.parametrize(
    ("question", "sentence", "phrase"),
    [
        ("When will the ministers visit Moscow?", _LEAD, "April 3-4"),
        ("and when?", _LEAD, "April 3-4"),
        (
            "How many soldiers are in the joint force?",
            "The AES bloc announced the formation of a joint 5,000-strong military force.",
            "5,000",
        ),
        (
            "Who was the commissioner of the NFL in 2012?",
            "In 2012, NFL Commissioner Roger Goodell announced the plans.",
            "Roger Goodell",
        ),
        (
            "When was the Confederation of Sahel States formed?",
            "This visit marks the first consultations since the formation of the "
            "Confederation of Sahel States (AES) in 2024.",
            "2024",
        ),
    ],
)
def test_the_phrase_that_answers_is_picked_out(question: str, sentence: str, phrase: str) -> None:
    span = answer_span(question, sentence)
    assert span is not None
    assert span.text == phrase
    assert sentence[span.start : span.end] == phrase


def test_nothing_is_picked_when_the_question_asks_for_no_phrase_or_names_it() -> None:
    assert question_kind("Why are the ministers going to Moscow?") == ""
    assert answer_span("Why are the ministers going to Moscow?", _LEAD) is None
    # the only date is the one the question already holds
    assert answer_span("What happens on April 3-4?", "They visit Moscow on April 3-4.") is None
    # two dates equally near the question's words: no clear answer, nothing in bold
    assert answer_span("When did it happen?", "It happened in 1990 or in 1991.") is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=3000))
def test_a_phrase_is_always_a_span_of_the_sentence(question: str, sentence: str) -> None:
    span = answer_span(question, sentence)
    if span is not None:
        assert 0 <= span.start < span.end <= len(sentence)
        assert sentence[span.start : span.end] == span.text


def test_long_sentences_are_not_searched() -> None:
    """Every rule is linear in the sentence, and a sentence over the bound is skipped
    (pytest-timeout fails a run that hangs)."""
    for text in ("A" * 1999, "Aa " * 666, "1," * 999, "April " * 333):
        answer_span("Who or when or how many?", text)
    assert answer_span("When?", "1990 " * MAX_SENTENCE) is None


def test_pick_phrase_prefers_the_rules_and_else_a_sure_reader() -> None:
    from index.answer_span import READER_THRESHOLD, Span, pick_phrase
    from index.reader import Reading

    rule = Span(10, 19, "April 3-4", 1.0)
    sure = Reading(0.9, 0, 5, "Mali,", READER_THRESHOLD + 0.01)
    unsure = Reading(0.9, 0, 4, "Mali", READER_THRESHOLD - 0.01)
    assert pick_phrase(rule, sure) == (10, 19)
    assert pick_phrase(None, sure) == (0, 5)
    assert pick_phrase(None, unsure) is None
    assert pick_phrase(None, None) is None
    assert pick_phrase(None, Reading(0.9, 3, 3, "", 1.0)) is None
