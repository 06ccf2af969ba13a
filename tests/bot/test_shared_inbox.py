"""Webhook replicas sharing the inbox in a real PostgreSQL: a chat's advisory lock is held
while one of its updates is being answered, so two replicas never answer the same chat at the
same time, even when the one answering stalled past its lease; and a dead replica's locks go
with its session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from telegram import Bot, Update

from bot.inbox_store import Inbox
from bot.shared_inbox import CHAT_LOCK, SharedQueue
from bot.storage import Database, open_database
from bot.storage.session_locks import LocalLocks, PostgresSessionLocks, session_locks
from tests.bot.conftest import TOKEN


def message(update_id: int, chat: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat, "type": "group", "title": "Readers"},
            "text": f"/ask question {update_id}",
        },
    }


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[tuple[Database, Database]]:
    """Two replicas' databases: two pools on the same PostgreSQL state."""
    with (
        contextlib.closing(open_database(postgres_url, "unused", pool_size=2)) as a,
        contextlib.closing(open_database(postgres_url, "unused", pool_size=2)) as b,
    ):
        yield a, b


def queued(queue: SharedQueue) -> list[int]:
    """The update ids this replica handed to its Application."""
    out = []
    while not queue.empty():
        item = queue.get_nowait()
        assert isinstance(item, Update)
        out.append(item.update_id)
    return out


async def test_a_chat_being_answered_is_not_answered_by_another_replica(
    replicas: tuple[Database, Database],
) -> None:
    a, b = (SharedQueue(Inbox(db)) for db in replicas)
    bot = Bot(TOKEN)
    try:
        for update_id, chat in ((1, 10), (2, 10), (3, 20)):
            a.inbox.add(update_id, message(update_id, chat))
        assert await a.claim_once(bot) == 2
        assert queued(a) == [1, 3]  # one update per chat
        # A stalls past its leases while still answering (its renewals do not get through):
        replicas[0].run("UPDATE inbox SET lease_until = 0")
        assert await b.claim_once(bot) == 2  # B may claim them ...
        assert queued(b) == []  # ... but answers neither: their chats are A's until done
        assert b.in_flight == set()
        await a.mark_done(3)
        a.finished(3)
        await a.mark_done(1)
        a.finished(1)
        # The chat's next update, once A let go of chat 10: B answers it.
        assert await b.claim_once(bot) == 1
        assert queued(b) == [2]
        assert b.chat_locks == {2: CHAT_LOCK.format("chat:10")}
        assert not await asyncio.to_thread(a.locks.try_take, CHAT_LOCK.format("chat:10"))
    finally:
        a.locks.close()
        b.locks.close()


def test_a_dead_replicas_chat_locks_go_with_its_session(
    replicas: tuple[Database, Database],
) -> None:
    a, b = (session_locks(db) for db in replicas)
    assert isinstance(a, PostgresSessionLocks)
    try:
        assert a.try_take("storybot chat chat:1")
        assert not a.try_take("storybot chat chat:1")  # held, by this process too
        assert not b.try_take("storybot chat chat:1")
        # A's session is cut (its machine vanished, or the server dropped it): its locks go.
        # The lock holders of this test's database only, and waiting until they are gone:
        # a backend gives its locks back as it exits, after pg_terminate_backend has returned.
        cut = replicas[1].run(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert [row[0] for row in cut.rows] == [True]  # A's session, B's holds nothing
        assert b.try_take("storybot chat chat:1")
        with pytest.raises(psycopg.OperationalError):  # the bot's writer tries again
            a.try_take("storybot chat chat:2")
        assert a.try_take("storybot chat chat:2")  # a new session, holding nothing
        assert not a.try_take("storybot chat chat:1")  # B's now
        b.close()  # B shuts down (bot/serving.py closes its locks): they are given back at once
        assert a.try_take("storybot chat chat:1")
    finally:
        a.close()
        b.close()


def test_sqlite_locks_are_this_process_only() -> None:
    locks = LocalLocks()
    assert locks.try_take("x")
    assert not locks.try_take("x")
    locks.give_back("x")
    assert locks.try_take("x")
