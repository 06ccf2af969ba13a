"""Poison updates and storage faults, for real: an update that crashes, hangs or kills the
process is tried a bounded number of times and set aside; a state file that is locked by another
process or full pauses updates (health says why) and loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Config, load_config
from bot.inbox import Inbox
from bot.serving import serve
from index.embedder import Embedder
from index.engine import Engine
from index.followup import Turn
from index.passages import Answer
from index.store import IndexStore
from tests.bot.conftest import TOKEN, make_config, start_bot, stop_bot
from tests.bot.test_reliability import BotProcess
from tests.botapi import BotApiServer, FaultKind
from tests.botapi.load import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def dead_letters(state_path: Path) -> list[tuple[int, str, int, str]]:
    with contextlib.closing(sqlite3.connect(state_path)) as db:
        return db.execute("SELECT update_id, kind, attempts, error FROM dead_letters").fetchall()


def unfinished(state_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(state_path)) as db:
        return int(db.execute("SELECT count(*) FROM inbox WHERE done IS NULL").fetchone()[0])


def test_attempts_dead_letters_and_pruning_in_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    old = {"update_id": 7, "message": {"message_id": 1, "text": "hi", "chat": {"id": 5}}}
    with contextlib.closing(sqlite3.connect(path)) as db:  # an inbox from before attempts
        db.execute(
            "CREATE TABLE inbox (update_id INTEGER PRIMARY KEY, data TEXT NOT NULL,"
            " received REAL NOT NULL, done REAL)"
        )
        db.execute("INSERT INTO inbox VALUES (7, ?, 0, NULL)", (json.dumps(old),))
        db.commit()
    with contextlib.closing(Inbox(path)) as inbox:
        assert [(p.update_id, p.attempts) for p in inbox.pending()] == [(7, 0)]
        assert inbox.begin(7) == 1 and inbox.begin(7) == 2
        inbox.failed(7, "RuntimeError: boom")
        assert inbox.pending()[0].error == "RuntimeError: boom"
        dead = inbox.set_aside(7, "RuntimeError: boom")
        assert dead is not None and (dead.kind, dead.attempts) == ("message", 2)
        assert dead.describe() == "message in chat 5"
        assert inbox.pending() == [] and inbox.set_aside(7, "again") is None
        assert not inbox.add(7, old)  # delivered again: still a dead letter, not taken in
        assert inbox.add(8, {"update_id": 8, "callback_query": {"from": {"id": 3}}})
        assert inbox.retry(7) and not inbox.retry(7)
        assert {p.update_id: p.attempts for p in inbox.pending()} == {7: 0, 8: 0}
        inbox.done(7)
        inbox.set_aside(8, "x")
        assert [d.describe() for d in inbox.dead_letters()] == ["callback query from user 3"]
        assert inbox.prune(time.time(), keep_dead_seconds=86400) == 0  # all too young
        assert inbox.prune(time.time() + 3 * 86400, keep_dead_seconds=86400) == 2
        assert inbox.dead_letters() == [] and not inbox.drop(8)


class PoisonedEngine(Engine):
    """The real engine, except that a question about poison crashes it, and one about a trap
    holds its thread for 1.5 s (or until ``release`` is set)."""

    release = threading.Event()
    tries: list[str]

    def ask(
        self, question: str, history: Sequence[Turn] = (), k: int | None = None, **kw: Any
    ) -> Answer:
        self.tries.append(question)
        if "poison" in question:
            raise RuntimeError(f"the engine choked on {TOKEN} at https://example.org/a?b=c")
        if "trap" in question:
            self.release.wait(1.5)
        return super().ask(question, history, k, **kw)


@contextlib.asynccontextmanager
async def poisoned_bot(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus: Path, **chat: Any
) -> AsyncIterator[tuple[BotApiServer, Config, PoisonedEngine, Any, Any]]:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin = server.create_user("Ada")
        server.create_private_chat(admin)
        config = make_config(tmp_path, server, admin.id, index_dir, corpus)
        config = dataclasses.replace(config, chat=dataclasses.replace(config.chat, **chat))
        engine = PoisonedEngine(
            IndexStore.load(index_dir, embedder.name), embedder, config.ranking_settings()
        )
        engine.tries = []
        application, state = await start_bot(config, engine, embedder)
        try:
            yield server, config, engine, admin, application
        finally:
            PoisonedEngine.release.set()
            await stop_bot(application, state)
            PoisonedEngine.release.clear()


async def test_an_update_that_keeps_crashing_is_set_aside_and_admins_are_told_once(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> None:
    async with poisoned_bot(tmp_path, story_index, embedder, corpus_dir) as (
        server,
        config,
        engine,
        admin,
        _,
    ):
        alice = server.create_user("Alice")
        chat = server.create_private_chat(alice)
        server.send_text(chat, alice, "What does the poison do?")
        notice = await server.wait_for_messages(server.chat(admin.id), 1, timeout=30)
        (apology,) = await server.wait_for_messages(chat, 1, timeout=30)
        assert engine.tries.count("What does the poison do?") == 3  # tried 3 times, no more
        assert "something went wrong" in apology["text"]  # told once, after the last attempt
        text = notice[0]["text"]
        assert "3 failed attempt(s)" in text and f"from user {alice.id}" in text, text
        assert "RuntimeError" in text and "poison" not in text  # its kind, never its text
        assert TOKEN not in text and "https://" not in text, text  # the error is sanitised
        [(update_id, kind, attempts, error)] = dead_letters(config.chat.state_path)
        assert (kind, attempts) == ("message", 3) and "RuntimeError" in error
        assert str(update_id) in text

        # The bot goes on answering; the poison is never tried again.
        server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
        replies = await server.wait_for_messages(chat, 2, timeout=30)
        assert "Lavrov" in replies[1]["text"]
        await asyncio.sleep(4.5)  # longer than the last back-off: no further attempt comes
        assert engine.tries.count("What does the poison do?") == 3
        assert len(server.sent_messages(server.chat(admin.id))) == 1


async def test_an_update_that_hangs_times_out_and_is_set_aside(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> None:
    async with poisoned_bot(
        tmp_path, story_index, embedder, corpus_dir, update_timeout_seconds=0.5
    ) as (server, config, engine, admin, application):
        alice = server.create_user("Alice")
        chat = server.create_private_chat(alice)
        server.send_text(chat, alice, "Where is the trap?")
        notice = await server.wait_for_messages(server.chat(admin.id), 1, timeout=30)
        assert "TimeoutError" in notice[0]["text"] and "over 0.5 s" in notice[0]["text"]
        assert engine.tries.count("Where is the trap?") == 3
        assert server.sent_messages(chat) == []  # the asker heard nothing of the attempts
        application.update_timeout = 0  # a real answer on this loaded machine may take 0.5 s
        server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
        (answer,) = await server.wait_for_messages(chat, 1, timeout=30)
        assert "Lavrov" in answer["text"]
        await server.wait_for(lambda: unfinished(config.chat.state_path) == 0, timeout=10)


async def storybot(config: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "--config", str(config), "inbox", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_a_poison_update_that_kills_the_process_three_times_is_set_aside_at_the_fourth_start(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    """``storybot serve`` in a child process, SIGKILLed each time it is stuck on one update
    (its reply hangs: the way a freeze looks from outside), as a supervisor would."""
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin = server.create_user("Ada")
        admin_chat = server.create_private_chat(admin)
        mallory, alice = server.create_user("Mallory"), server.create_user("Alice")
        poison_chat = server.create_private_chat(mallory)
        chat = server.create_private_chat(alice)
        bot = BotProcess(tmp_path, server, index_dir, corpus_dir, admin.id)
        server.inject_fault(
            FaultKind.TIMEOUT,
            "sendMessage",
            times=None,
            delay=600,
            match=lambda _method, params: str(params.get("chat_id")) == str(poison_chat.id),
        )

        def stuck_calls() -> int:
            return sum(
                str(c.params.get("chat_id")) == str(poison_chat.id)
                for c in server.calls("sendMessage")
            )

        try:
            await bot.start()
            server.send_text(poison_chat, mallory, "Who will the ministers meet in Moscow?")
            for kill in range(1, 4):
                await server.wait_for(lambda k=kill: stuck_calls() >= k, timeout=60)
                await bot.kill()
                if kill < 3:
                    await bot.start()
            assert unfinished(bot.state_path) == 1  # taken in, never finished
            await bot.start()
            notice = await server.wait_for_messages(admin_chat, 1, timeout=60)
            assert f"from user {mallory.id}" in notice[0]["text"], notice
            server.send_text(chat, alice, "What is the AES?")
            (answer,) = await server.wait_for_messages(chat, 1, timeout=60)
            assert "Confederation" in answer["text"]
            assert stuck_calls() == 3  # never tried a fourth time
            [(update_id, kind, attempts, error)] = dead_letters(bot.state_path)
            assert (kind, attempts) == ("message", 3) and "stopped while handling" in error
        finally:
            await bot.stop()
        assert len(server.sent_messages(admin_chat)) == 1  # told once

    # `storybot inbox` lists it, and can put it back or forget it.
    code, out = await storybot(bot.config)
    assert code == 0 and str(update_id) in out and f"from user {mallory.id}" in out, out
    code, out = await storybot(bot.config, "--json")
    assert json.loads(out)["dead_letters"][0]["attempts"] == 3
    code, out = await storybot(bot.config, "--retry", str(update_id))
    assert code == 0 and "back in the inbox" in out
    assert dead_letters(bot.state_path) == [] and unfinished(bot.state_path) == 1
    with contextlib.closing(Inbox(bot.state_path)) as inbox:
        [pending] = inbox.pending()
        assert (pending.update_id, pending.attempts) == (update_id, 0)
        inbox.set_aside(update_id, "again")
    code, out = await storybot(bot.config, "--drop", str(update_id))
    assert code == 0 and "dropped" in out
    code, out = await storybot(bot.config, "--drop", str(update_id))
    assert code == 1 and "no dead letter" in out
    assert dead_letters(bot.state_path) == [] and unfinished(bot.state_path) == 0


# -- storage faults ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving_with_health(
    tmp_path: Path, story_index: Path, corpus: Path, **chat: Any
) -> AsyncIterator[tuple[BotApiServer, Config, str]]:
    """``serve`` in this process, with its web server: (test server, config, base URL)."""
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    port = free_port()
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        config = load_config(
            {
                "corpus": {"path": str(corpus)},
                "index": {"path": str(index_dir)},
                "chat": {"state_path": str(tmp_path / "state.sqlite3"), **chat},
                "telegram": {"base_url": server.root_url, "admins": [1]},
                "web": {"port": port},
            },
            environ={"TELEGRAM_BOT_TOKEN": TOKEN},
        )
        stop = asyncio.Event()
        task = asyncio.create_task(serve(config, stop=stop))
        base = f"http://127.0.0.1:{port}"
        try:
            await health_until(base, lambda status, _: status == 200, task=task)
            yield server, config, base
        finally:
            stop.set()
            await asyncio.wait_for(task, 120)


async def health_until(
    base: str,
    good: Any,
    timeout: float = 90,  # noqa: ASYNC109
    task: asyncio.Task[None] | None = None,
) -> dict[str, Any]:
    """Ask /healthz until ``good(status, body)``; returns that body."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            if task is not None and task.done():
                task.result()
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/healthz") as response:
                    body = await response.json()
                    if good(response.status, body):
                        return body  # type: ignore[no-any-return]
            assert time.monotonic() < deadline, "health never became what was awaited"
            await asyncio.sleep(0.1)


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


async def test_a_state_file_locked_by_another_process_pauses_updates_and_loses_nothing(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    async with serving_with_health(tmp_path, story_index, corpus_dir) as (server, config, base):
        alice = server.create_user("Alice")
        chat = server.create_private_chat(alice)
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(config.chat.state_path), "12",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert locker.stdout is not None and await locker.stdout.readline() == b"locked\n"
            questions = ["What is the AES?", "Who will the ministers meet in Moscow?"]
            for question in questions:
                server.send_text(chat, alice, question)
            body = await health_until(base, lambda status, _: status == 503, timeout=30)
            assert body["status"] == "degraded" and "locked" in body["reason"], body
            assert locker.returncode is None  # still held: the bot waited, it did not give up
        finally:
            await asyncio.wait_for(locker.wait(), 30)
        replies = await server.wait_for_messages(chat, 2, timeout=60)
        assert "Confederation" in replies[0]["text"] and "Lavrov" in replies[1]["text"]
        await health_until(base, lambda status, _: status == 200, timeout=30)
        server.send_text(chat, alice, "How big is the joint force?")  # polling goes on
        await server.wait_for_messages(chat, 3, timeout=60)


async def test_a_full_state_file_pauses_updates_until_there_is_room_again(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    async with serving_with_health(
        tmp_path, story_index, corpus_dir, state_max_mb=1, flood_questions=0
    ) as (server, config, base):
        alice = server.create_user("Alice")
        chat = server.create_private_chat(alice)
        with contextlib.closing(sqlite3.connect(config.chat.state_path)) as db:
            # Another writer fills the file past the bot's limit: the disk is "full" for it.
            db.execute("CREATE TABLE filler (b BLOB)")
            db.execute("INSERT INTO filler VALUES (?)", (b"x" * 1_200_000,))
            db.commit()
            sent = 0
            async with aiohttp.ClientSession() as http:
                while True:
                    server.send_text(chat, alice, f"What is the AES? ({sent})")
                    sent += 1
                    await asyncio.sleep(0.3)
                    async with http.get(f"{base}/healthz") as response:
                        if response.status == 503:
                            body = await response.json()
                            break
                    assert sent < 60, "the state file never filled up"
            assert "full" in body["reason"], body
            await asyncio.sleep(1)
            assert (await health_until(base, lambda s, _: True))["status"] == "degraded"
            db.execute("DROP TABLE filler")  # room again (its pages are free for reuse)
            db.commit()
        await health_until(base, lambda status, _: status == 200, timeout=30)
        replies = await server.wait_for_messages(chat, sent, timeout=120)
        quoted = [m["text"] for m in replies]
        assert len(quoted) == sent and all("AES" in t for t in quoted), quoted
