"""The conversation rules (which answer a question continues) and the conversation evaluation
that plays sessions through them, on a real state file and the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.conversation import continued_answer, history_of
from bot.conversation_eval import (
    conversation_figures,
    load_sessions,
    play_sessions,
    report,
    split_of,
)
from bot.state import StateStore
from index.engine import Engine

_STORY = "000_1517f336e036ffe5.md"


def _answer(state: StateStore, user: int, question: str, message_id: int) -> None:
    key = state.add_answer(
        chat_id=7,
        thread_id=None,
        user_id=user,
        question=question,
        query=question,
        found=True,
        history=(),
        passage_ids=[],
    )
    state.set_message_id(key, message_id)


def test_two_people_in_a_group_keep_their_threads_apart(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite3")
    _answer(state, 1, "What is the AES?", 101)
    _answer(state, 2, "Who is Sergei Lavrov?", 102)

    def context(user: int, reply_to: int | None, since: float = 0.0) -> list[str]:
        record = continued_answer(
            state,
            chat_id=7,
            thread_id=None,
            user_id=user,
            reply_to_message_id=reply_to,
            since=since,
        )
        return [t.question for t in history_of(record)]

    assert context(1, None) == ["What is the AES?"]  # the asker's own thread
    assert context(2, None) == ["Who is Sergei Lavrov?"]
    assert context(2, 101) == ["What is the AES?"]  # a reply continues the answer replied to
    assert context(3, None) == ["Who is Sergei Lavrov?"]  # a newcomer: the chat's newest
    assert context(1, 101, since=1e12) == []  # too old to continue
    state.close()


def _session(sid: str, chat: str, turns: list[dict[str, object]]) -> str:
    return json.dumps({"id": sid, "corpus": "story", "chat": chat, "turns": turns})


def _turn(question: str, kind: str, answers: list[str], **extra: object) -> dict[str, object]:
    return {
        "user": extra.get("user", 1),
        "reply_to": extra.get("reply_to"),
        "question": question,
        "rewrite": extra.get("rewrite", question),
        "kind": kind,
        "passage_ids": [_STORY] if answers else [],
        "answers": answers,
    }


def test_a_follow_up_is_read_with_the_passage_its_answer_cited(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite3")
    for message_id, (found, passages) in enumerate(
        [(True, ["story#p2", "story#p0"]), (False, ["story#p1"]), (True, [])], start=101
    ):
        key = state.add_answer(
            chat_id=7,
            thread_id=None,
            user_id=1,
            question=f"question {message_id}",
            query=f"query {message_id}",
            found=found,
            history=(),
            passage_ids=passages,
        )
        state.set_message_id(key, message_id)

    def cited(reply_to: int) -> str:
        record = continued_answer(
            state, chat_id=7, thread_id=None, user_id=1, reply_to_message_id=reply_to, since=0.0
        )
        history = history_of(record)
        assert history[-1].question == f"question {reply_to}"
        return history[-1].cited

    assert cited(101) == "story#p2"  # the passage its answer cited first
    assert cited(102) == ""  # "not found" cites nothing
    assert cited(103) == ""
    state.close()


def test_a_group_session_is_played_and_scored(tmp_path: Path, story_engine: Engine) -> None:
    lines = [
        _session(
            "story-test-1",
            "group",
            [
                _turn("Who are the ministers meeting in Moscow?", "standalone", ["Lavrov"]),
                _turn("How big is the joint military force?", "standalone", ["5,000"], user=2),
                _turn(
                    "and when?",
                    "follow_up",
                    ["April 3-4"],
                    reply_to=0,
                    rewrite="When are the ministers meeting in Moscow?",
                ),
                _turn("How do I bake sourdough bread?", "out_of_scope", [], user=2),
            ],
        )
    ]
    path = tmp_path / "sessions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sessions = load_sessions(path)
    results = play_sessions(sessions, {"story": story_engine}, k=3)
    assert [r.kind for r in results] == ["standalone", "standalone", "follow_up", "out_of_scope"]
    follow = results[2]
    # user 1's reply continues user 1's thread, not user 2's newer question
    assert follow.query == "When are the ministers meeting in Moscow?"
    assert follow.right and not follow.alone_right
    assert results[3].right  # declined
    figures = conversation_figures(results)
    assert figures["turns"] == 4
    assert figures["kinds"]["follow_up"]["right"] == 1.0
    assert set(report(results)) >= {"all", "story", split_of("story-test-1")}


def test_a_malformed_session_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        _session("ok", "private", [_turn("What is the AES?", "standalone", ["AES"])])
        + "\n"
        + _session("bad", "private", [_turn("?", "sideways", [])])
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: unknown turn kind 'sideways'"):
        load_sessions(path)


def test_the_shipped_conversation_set_loads() -> None:
    sessions = load_sessions(Path(__file__).parents[2] / "evaluation" / "conversations")
    assert len(sessions) >= 300
    assert sum(len(s.turns) for s in sessions) >= 1500
    assert {s.chat for s in sessions} == {"private", "group"}
