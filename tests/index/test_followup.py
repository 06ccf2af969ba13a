"""How a question relates to the conversation before it (pure functions)."""

from __future__ import annotations

import pytest

from index.followup import Turn, contextualize, reading, strip_connective

_HISTORY = [
    Turn("Who are the ministers meeting in Moscow?", "Who are the ministers meeting in Moscow?")
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("and when?", "follow"),
        ("why?", "follow"),
        ("how many?", "follow"),
        ("what year?", "follow"),
        ("When was it formed?", "follow"),
        ("no, I meant the force", "follow"),
        ("what about Niger?", "follow"),
        ("how many soldiers?", "either"),
        ("what share were protestant?", "either"),
        ("no wait, I meant catholic", "follow"),
        ("sorry, the granal ones I mean", "follow"),
        ("What is the AES?", "alone"),
        ("Which countries left ECOWAS?", "alone"),
        ("Who is Sergei Lavrov?", "alone"),
    ],
)
def test_reading(question: str, expected: str) -> None:
    assert reading(question) == expected


def test_a_bare_question_word_takes_the_place_of_the_previous_one() -> None:
    assert contextualize("and when?", _HISTORY) == "When are the ministers meeting in Moscow?"
    assert (
        contextualize("what year?", _HISTORY) == "What year are the ministers meeting in Moscow?"
    )


def test_other_follow_ups_are_searched_with_the_previous_query() -> None:
    assert contextualize("why is it important?", _HISTORY) == (
        "Who are the ministers meeting in Moscow? why is it important?"
    )


def test_a_question_that_stands_alone_is_searched_as_asked() -> None:
    assert contextualize("What is the AES?", _HISTORY) == "What is the AES?"
    assert contextualize("and when?", []) == "and when?"


def test_chat_openers_are_stripped() -> None:
    assert strip_connective("And, so when?") == "when?"
    assert strip_connective("and") == "and"
