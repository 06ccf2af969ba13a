"""The state file over time: old rows pruned on a schedule while the bot serves (their counts
kept), and a damaged file set aside at start so that the bot starts fresh."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, load_config
from bot.inbox import Inbox
from bot.serving import serve
from bot.state import StateStore
from tests.bot.conftest import TOKEN
from tests.botapi import BotApiServer, SimUser

DAY = 86400


def answer(store: StateStore, question: str, *, found: bool = True) -> str:
    return store.add_answer(
        chat_id=5,
        thread_id=None,
        user_id=5,
        question=question,
        query=question,
        found=found,
        history=(),
        passage_ids=["p1"],
    )


def age(path: Path, table: str, column: str, days: float) -> None:
    """Make every row of ``table`` ``days`` old (another connection, as an operator's tool)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"UPDATE {table} SET {column} = ?", (time.time() - days * DAY,))
        db.commit()


def set_aside_files(folder: Path) -> list[Path]:
    return list(folder.glob("state.sqlite3.damaged-*"))


def count(path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_pruned_answers_and_feedback_still_count_in_stats(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with contextlib.closing(StateStore(path)) as store:
        old = answer(store, "Old question?", found=False)
        store.set_feedback(old, 7, -1)
        age(path, "answers", "created", 40)
        new = answer(store, "New question?")
        store.set_feedback(new, 7, 1)
        before = store.stats()
        assert store.prune(time.time() - 30 * DAY) == 1
        assert store.answer(old) is None and store.answer(new) is not None
        assert store.feedback(old) == {} and store.feedback(new) == {7: 1}
        assert (
            store.stats()
            == before
            == {
                "questions": 2,
                "not_found": 1,
                "thumbs_up": 1,
                "thumbs_down": 1,
            }
        )
        assert store.prune(time.time() - 30 * DAY) == 0
        assert store.stats() == before  # pruning twice counts nothing twice


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, story_index: Path, corpus: Path, **chat: Any
) -> AsyncIterator[tuple[BotApiServer, Config, SimUser, asyncio.Task[None]]]:
    """``serve`` in this process, polling the test server, with one admin who has a chat."""
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin = server.create_user("Ada")
        server.create_private_chat(admin)
        config = load_config(
            {
                "corpus": {"path": str(corpus)},
                "index": {"path": str(index_dir)},
                "chat": {"state_path": str(tmp_path / "state.sqlite3"), **chat},
                "telegram": {"base_url": server.root_url, "admins": [admin.id]},
                "web": {"enabled": False},
            },
            environ={"TELEGRAM_BOT_TOKEN": TOKEN},
        )
        stop = asyncio.Event()
        task = asyncio.create_task(serve(config, stop=stop))
        try:
            yield server, config, admin, task
        finally:
            stop.set()
            await asyncio.wait_for(task, 120)


@pytest.mark.slow
async def test_a_damaged_state_file_is_set_aside_and_the_bot_starts_fresh(
    tmp_path: Path, story_index: Path, corpus_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    garbage = b"this was a state file until the disk went bad\x00" * 200
    path.write_bytes(garbage)
    with caplog.at_level(logging.ERROR, logger="bot.sqlite"):
        async with serving(tmp_path, story_index, corpus_dir) as (server, _, admin, task):
            (notice,) = await server.wait_for_messages(server.chat(admin.id), 1, timeout=90)
            alice = server.create_user("Alice")
            chat = server.create_private_chat(alice)
            server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
            (reply,) = await server.wait_for_messages(chat, 1, timeout=60)
            assert not task.done()
    assert "Lavrov" in reply["text"]
    [aside] = set_aside_files(tmp_path)
    assert aside.read_bytes() == garbage  # kept, for whoever wants to look into it
    assert "damaged" in notice["text"] and aside.name in notice["text"], notice["text"]
    assert f"The state file {path} is damaged" in caplog.text
    assert aside.name in caplog.text
    with contextlib.closing(StateStore(path)) as store:  # the fresh file holds the new answer
        assert store.stats()["questions"] == 1


@pytest.mark.slow
async def test_old_rows_are_pruned_on_a_schedule_while_the_bot_serves(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    path = tmp_path / "state.sqlite3"
    with contextlib.closing(StateStore(path)) as store:
        store.set_feedback(answer(store, "Old question?"), 7, 1)
    with contextlib.closing(Inbox(path)) as inbox:
        inbox.add(1, {"update_id": 1, "message": {"text": "old"}})
        inbox.done(1)
        inbox.add(2, {"update_id": 2, "message": {"text": "poison"}})
        inbox.set_aside(2, "RuntimeError: boom")
    age(path, "answers", "created", 40)
    age(path, "inbox", "done", 3)
    age(path, "dead_letters", "set_aside", 40)
    async with serving(
        tmp_path, story_index, corpus_dir, keep_days=30, prune_every_minutes=0.01
    ) as (server, _, _, _):
        alice = server.create_user("Alice")
        chat = server.create_private_chat(alice)
        server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
        await server.wait_for_messages(chat, 1, timeout=90)
        await server.wait_for(
            lambda: (
                (count(path, "answers"), count(path, "feedback"), count(path, "dead_letters"))
                == (1, 0, 0)
            ),
            timeout=30,
            what="the old answers, feedback and dead letters to be pruned",
        )
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT data FROM inbox").fetchall()
        assert 1 not in [json.loads(d)["update_id"] for (d,) in rows]  # the old done row went
        # Rows that grow old while it serves go at the next round (every 0.6 s here).
        age(path, "answers", "created", 31)
        await server.wait_for(lambda: count(path, "answers") == 0, timeout=30)
        server.send_text(chat, alice, "What is the AES?")  # and it goes on answering
        await server.wait_for_messages(chat, 2, timeout=60)
    with contextlib.closing(StateStore(path)) as store:
        stats = store.stats()
    assert (stats["questions"], stats["thumbs_up"]) == (3, 1)  # pruned rows still count


def test_a_chats_language_choice_survives_a_restart(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.set_chat_language(5, "fr")
    store.set_chat_language(6, "en")
    store.set_chat_language(6, None)  # back to automatic
    store.set_chat_language(7, "en")
    store.set_chat_language(7, "fr")
    store.close()
    store = StateStore(tmp_path / "state.sqlite3")
    try:
        assert [store.chat_language(c) for c in (5, 6, 7, 8)] == ["fr", None, "fr", None]
    finally:
        store.close()
