"""The PostgreSQL server stops while the bot serves (its state in it): /healthz turns 503 and
says why, the question asked meanwhile waits instead of being lost, and once the server is back
the bot answers it and reports healthy again."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_config
from bot.serving import serve
from tests import postgres
from tests.bot.conftest import TOKEN
from tests.botapi import BotApiServer
from tests.botapi.load import free_port
from tests.conftest import EMBEDDING, start_postgres_or_skip

pytestmark = pytest.mark.slow


async def health(port: int) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return response.status, await response.json()


async def test_a_database_outage_pauses_the_bot_and_loses_nothing(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    server = start_postgres_or_skip()  # a server of its own: this test stops it
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    port = free_port()
    try:
        url = server.create_database("outage")
        async with BotApiServer(token=TOKEN, bot_username="storybot") as api:
            config = load_config(
                {
                    "corpus": {"path": str(corpus_dir)},
                    "index": {"path": str(index_dir), **EMBEDDING},
                    "chat": {"state_path": str(tmp_path / "state.sqlite3")},
                    "telegram": {"base_url": api.root_url, "timeout_seconds": 2},
                    "state": {"url": url},
                    "web": {"port": port},
                },
                environ={"TELEGRAM_BOT_TOKEN": TOKEN},
            )
            stop = asyncio.Event()
            task = asyncio.create_task(serve(config, stop=stop))
            try:
                alice = api.create_user("Alice")
                chat = api.create_private_chat(alice)
                api.send_text(chat, alice, "What is the AES?")
                await api.wait_for_messages(chat, 1, timeout=120)
                assert (await health(port))[0] == 200

                await asyncio.to_thread(postgres.pause, server)
                api.send_text(chat, alice, "Who will the ministers meet in Moscow?")
                statuses: list[tuple[int, dict[str, object]]] = []

                async def degraded() -> bool:
                    statuses.append(await health(port))
                    return statuses[-1][0] == 503

                deadline = asyncio.get_running_loop().time() + 60
                while not await degraded():
                    assert asyncio.get_running_loop().time() < deadline, statuses[-1]
                    await asyncio.sleep(0.2)
                assert "cannot write" in str(statuses[-1][1]["reason"])
                assert len(api.sent_messages(chat)) == 1  # waiting, not answered, not lost

                await asyncio.to_thread(postgres.resume, server)
                replies = await api.wait_for_messages(chat, 2, timeout=120)
                assert "Lavrov" in replies[1]["text"]
                deadline = asyncio.get_running_loop().time() + 60
                while (await health(port))[0] != 200:
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.2)
                assert not task.done()
            finally:
                stop.set()
                await asyncio.wait_for(task, 120)
            assert len(api.sent_messages(chat)) == 2  # each question answered once
    finally:
        postgres.stop(server)
