"""The kind of answer a question asks for: one reading for ranking and the answer phrase."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.answer_span import answer_span
from index.question_kind import KINDS, answer_type, definition_subject, question_kind


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When will the ministers visit Moscow?", "time"),
        ("and when?", "time"),
        ("In which   year was the AES formed?", "time"),
        ("Since when has the AES existed?", "time"),
        ("How many soldiers are in the joint force?", "number"),
        ("How often do the ministers meet?", "number"),
        ("How wide is the Rhine at Basel?", "number"),
        ("What size is the joint force?", "number"),
        ("Who chairs the roadmap?", "name"),
        ("What do ministers who are not in Moscow do?", ""),
        ("Which network broadcast the game?", "name"),
        ("In what language was the statement published?", "name"),
        ("During which period did the Sahel states leave ECOWAS?", ""),
        ("Why are the ministers going to Moscow?", ""),
        ("What did the AES call the visit?", ""),
    ],
)
def test_the_wording_gives_the_kind(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def test_ranking_reads_what_is_questions_as_definitions() -> None:
    assert answer_type("What is the AES?") == "definition"
    assert definition_subject("What is the AES?") == "AES"
    assert answer_type("Who is the president?") == "definition"
    # a definition question is still a name for the phrase
    assert question_kind("Who is the president?") == "name"
    assert answer_type("Who chairs the roadmap?") == "name"


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("what's the AES?", "AES"),
        ("What does AES stand for?", "AES"),
        ("what does the acronym LEM stand for", "LEM"),
        ("and what does AES mean?", "AES"),
        ("What is the AES?", "AES"),
        # the chat forms ask what a name is, not what a description is
        ("what's the word for its highest living saint?", ""),
        ("What's the climate like in Newcastle?", ""),
        ("What did the LMP acronym stand for regarding the launch positions?", ""),
    ],
)
def test_chat_forms_of_a_definition_question(question: str, subject: str) -> None:
    assert definition_subject(question) == subject
    assert (answer_type(question) == "definition") == bool(subject)


def test_the_phrase_follows_the_kind() -> None:
    sentence = "The ministers meet every two years in Bamako."
    assert question_kind("How often do the ministers meet?") == "number"
    span = answer_span("How often do the ministers meet?", sentence)
    assert span is not None and span.text == "two"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_gets_a_known_kind(question: str) -> None:
    assert question_kind(question) in (*KINDS, "")
    assert answer_type(question) in (*KINDS, "definition", "")
