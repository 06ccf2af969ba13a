"""The gap report's parts: which answers are gaps, the kept question, the user hash, grouping
by meaning with the real model, the gap file (no raw user id in it, pruning, forgetting), and
the digest's schedule."""

from __future__ import annotations

import dataclasses
import datetime as dt
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, load_config
from bot.gap_recorder import GapRecorder, gap_paths, load_key
from bot.gap_schedule import next_run, parse_digest
from bot.gap_store import GapStore
from bot.gaps import (
    MAX_QUESTION_CHARS,
    NOT_FOUND,
    THUMBS_DOWN,
    UNSURE,
    GapQuestion,
    bound_question,
    chat_kind,
    gap_reason,
    group_vectors,
    make_gaps,
    user_hash,
)
from index.embedder import Embedder
from index.engine import Engine
from tests.conftest import EMBEDDING

DAY = 86400
USER = 987654321987


def test_which_answers_are_gaps() -> None:
    assert gap_reason(found=False, sure=True) == NOT_FOUND
    assert gap_reason(found=True, sure=False) == UNSURE
    assert gap_reason(found=True, sure=True) is None
    assert chat_kind("supergroup") == "supergroup"
    assert chat_kind("inline") == "inline"
    assert chat_kind("sender") == "other"
    assert chat_kind(None) == "other"


@given(st.text(max_size=3000))
def test_a_kept_question_is_bounded_and_collapsed(text: str) -> None:
    kept = bound_question(text)
    assert len(kept) <= MAX_QUESTION_CHARS
    assert "  " not in kept and "\n" not in kept


def test_user_hash_is_keyed() -> None:
    one, other = b"k" * 32, b"j" * 32
    assert user_hash(one, USER) == user_hash(one, USER)
    assert user_hash(one, USER) != user_hash(other, USER)
    assert user_hash(one, USER) != user_hash(one, USER + 1)
    assert str(USER) not in (user_hash(one, USER) or "")
    assert user_hash(one, None) is None


def test_the_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bot.gaps.key"
    key = load_key(path)
    assert len(key) == 32
    assert load_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_grouping_is_deterministic_and_follows_the_threshold() -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 16))
    rows = np.concatenate([c + 0.05 * rng.normal(size=(4, 16)) for c in centres])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    groups = group_vectors(rows, 0.8)
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert group_vectors(rows, 0.8) == groups
    assert len(group_vectors(rows, 0.9999)) == 12  # nothing is that close
    assert group_vectors(rows, 1e-9)[0][:4] == [0, 1, 2, 3]
    assert group_vectors(np.zeros((0, 16), np.float32), 0.5) == []


def test_paraphrases_join_one_gap_with_the_real_model(embedder: Embedder) -> None:
    texts = [
        "What did the president say about fuel subsidies?",
        "Who won the football match in Lagos?",
        "What has the president said on fuel subsidy removal?",
        "Which team won the Lagos football game?",
        "How much does petrol cost after the subsidy ended?",
    ]
    vectors = np.stack([embedder.encode_query(t) for t in texts])
    now = time.time()
    asked = [
        GapQuestion(t, NOT_FOUND, "private", "en", now + i, 0.1, nearest="Doc")
        for i, t in enumerate(texts)
    ]
    gaps = make_gaps(asked, vectors, load_config({}).gaps.threshold)
    by_text = {q.question: g for g in gaps for q in g.questions}
    assert by_text[texts[0]] is by_text[texts[2]]
    assert by_text[texts[1]] is by_text[texts[3]]
    assert by_text[texts[0]] is not by_text[texts[1]]
    assert gaps[0].count >= 2
    assert len(gaps[0].examples) == 2
    assert gaps[0].nearest == "Doc"


def question(text: str, created: float, user: str | None = "u1") -> GapQuestion:
    return GapQuestion(text, NOT_FOUND, "group", "en", created, 0.2, user, "Title")


def test_the_store_keeps_one_open_question_per_asker_and_prunes(tmp_path: Path) -> None:
    store = GapStore(tmp_path / "gaps.sqlite3")
    now = time.time()
    store.add(question("Who is the new minister?", now - 10))
    store.add(dataclasses.replace(question("Who is the new minister?", now), reason=THUMBS_DOWN))
    store.add(question("Who is the new minister?", now, user="u2"))
    store.add(question("Old question", now - 100 * DAY))
    kept = store.questions(now - DAY)
    assert [(q.question, q.reason, q.user_hash) for q in kept] == [
        ("Who is the new minister?", THUMBS_DOWN, "u1"),
        ("Who is the new minister?", NOT_FOUND, "u2"),
    ]
    assert store.counts() == {"open": 3, "closed": 0}
    assert store.close_questions({kept[0].id: "A document"}, now) == 1
    assert store.counts() == {"open": 2, "closed": 1}
    assert [q.closed_by for q in store.questions(0, open_only=False)][-2] == "A document"
    assert store.prune(now - 90 * DAY) == 1
    assert store.counts() == {"open": 1, "closed": 1}
    assert store.forget() == {"open": 1, "closed": 1}
    assert store.counts() == {"open": 0, "closed": 0}
    store.close()


def test_the_raw_user_id_never_reaches_the_gap_file(tmp_path: Path, embedder: Embedder) -> None:
    config = load_config(
        {"index": EMBEDDING, "chat": {"state_path": str(tmp_path / "state.sqlite3")}}
    )
    recorder = GapRecorder.open(config, lambda: embedder)
    recorder.record(
        "Will there be a second round of the election?",
        reason=NOT_FOUND,
        chat_kind="private",
        user_id=USER,
    )
    (gaps,) = recorder.gaps(7)
    assert gaps.questions[0].user_hash not in (None, str(USER))
    assert gaps.questions[0].language == "en"
    recorder.close()
    path, key_path = gap_paths(config)
    raw = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
    assert b"second round" in raw  # the file was read back whole
    assert str(USER).encode() not in raw
    assert USER.to_bytes(8, "little") not in raw and USER.to_bytes(8, "big") not in raw
    assert key_path.exists()


def test_recording_an_answer_takes_gaps_only(story_engine: Engine, tmp_path: Path) -> None:
    config = load_config(
        {"index": EMBEDDING, "chat": {"state_path": str(tmp_path / "state.sqlite3")}}
    )
    recorder = GapRecorder.open(config, lambda: story_engine.embedder)
    missing = story_engine.ask("What is the price of bread in Tokyo this winter?")
    assert not missing.found
    assert recorder.record_answer(missing, chat_kind="private", user_id=1)
    assert recorder.counts() == {"open": 1, "closed": 0}
    (gap,) = recorder.gaps(7)
    assert gap.questions[0].question == missing.question
    assert gap.questions[0].vector is not None
    recorder.close()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("", None), ("  ", None), ("mon 09:00", (0, 9, 0)), ("SUN 23:59", (6, 23, 59))],
)
def test_digest_setting_parses(text: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_digest(text) == parsed


@pytest.mark.parametrize("text", ["monday 9:00", "mon 24:00", "mon 09:60", "xyz 09:00", "9:00"])
def test_a_bad_digest_setting_is_a_config_error_naming_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"'gaps\.digest'"):
        load_config({"gaps": {"digest": text}})


def test_the_next_digest_is_the_coming_weekday_at_its_time() -> None:
    monday_nine = (0, 9, 0)
    sunday = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    assert next_run(monday_nine, sunday) == dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    at_time = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    assert next_run(monday_nine, at_time) == dt.datetime(2026, 12, 14, 9, 0, tzinfo=dt.UTC)
    paris = dt.timezone(dt.timedelta(hours=1))
    before = dt.datetime(2026, 12, 7, 9, 30, tzinfo=paris)  # 08:30 UTC
    assert next_run(monday_nine, before) == at_time


def test_a_shared_key_comes_from_the_environment(tmp_path: Path) -> None:
    key = "k" * 40
    state = {"state_path": str(tmp_path / "state.sqlite3")}
    config = load_config({"index": EMBEDDING, "chat": state}, environ={"STORYBOT_GAPS_KEY": key})
    assert key not in repr(config)
    recorder = GapRecorder.open(config, lambda: None)
    recorder.record("Who won the match?", reason=NOT_FOUND, chat_kind="group", user_id=USER)
    (asked,) = recorder.store.questions(0)
    assert asked.user_hash == user_hash(key.encode(), USER)
    recorder.close()
    assert not gap_paths(config)[1].exists()  # no key file was made
    with pytest.raises(ConfigError, match="'STORYBOT_GAPS_KEY' must be at least 32") as error:
        load_config({}, environ={"STORYBOT_GAPS_KEY": "short-secret"})
    assert "short-secret" not in str(error.value)
