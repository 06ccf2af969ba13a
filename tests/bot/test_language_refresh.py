"""Replicas sharing their state in a real PostgreSQL: a /language choice made on one replica
applies on another once it re-reads the choices, and so does going back to automatic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from bot.language_refresh import refresh_languages_forever
from bot.state import StateStore
from bot.storage import open_database


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_choice_made_on_one_replica_applies_on_the_other(postgres_url: str) -> None:
    with (
        contextlib.closing(open_database(postgres_url, "unused", pool_size=2)) as db_a,
        contextlib.closing(open_database(postgres_url, "unused", pool_size=2)) as db_b,
    ):
        a, b = StateStore(db_a), StateStore(db_b)
        refresher = asyncio.create_task(refresh_languages_forever(b, seconds=0.05))
        try:
            await asyncio.to_thread(a.set_chat_language, 42, "fr")
            assert a.chat_language(42) == "fr"
            await until(lambda: b.chat_language(42) == "fr", "the choice to reach b")
            await asyncio.to_thread(a.set_chat_language, 42, None)
            await until(lambda: b.chat_language(42) is None, "automatic again on b")
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
