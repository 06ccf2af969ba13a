"""The web server over real HTTP on 127.0.0.1: webhook, health, metrics, admin API, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import Config, load_config
from bot.serving import serve
from tests.bot.conftest import TOKEN, wait_until_handled
from tests.botapi import BotApiServer, FaultKind
from tests.botapi.load import free_port
from tests.conftest import EMBEDDING, EMBEDDING_TOML, ROOT

pytestmark = pytest.mark.slow


def inbox_update_ids(state_path: Path) -> set[int]:
    """The updates the bot has taken in (its inbox, in the state file)."""
    with contextlib.closing(sqlite3.connect(state_path)) as db:
        return {row[0] for row in db.execute("SELECT update_id FROM inbox")}


ADMIN_TOKEN = "admin-token-for-tests"
SECRET = "webhook-secret-for-tests"


@dataclasses.dataclass
class Running:
    server: BotApiServer
    config: Config
    stop: asyncio.Event
    task: asyncio.Task[None]
    url: str
    corpus: Path

    async def ready(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.2)
        raise TimeoutError("the bot did not become healthy")


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path,
    story_index: Path,
    corpus: Path,
    *,
    webhook: bool,
    settings: dict[str, dict[str, object]] | None = None,
) -> AsyncIterator[Running]:
    """``serve`` on a free port, with the story index; ``settings`` adds config sections."""
    shutil.copytree(story_index, tmp_path / "index")
    port = free_port()
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        config = load_config(
            {
                "corpus": {"path": str(corpus)},
                "index": {"path": str(tmp_path / "index"), **EMBEDDING},
                "chat": {"state_path": str(tmp_path / "state.sqlite3")},
                "telegram": {"base_url": server.root_url, "admins": [1]},
                "web": {"port": port, "webhook_url": f"http://127.0.0.1:{port}/telegram/webhook"},
                **(settings or {}),
            },
            environ={
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "STORYBOT_ADMIN_TOKEN": ADMIN_TOKEN,
                "STORYBOT_WEBHOOK_SECRET": SECRET,
            },
        )
        stop = asyncio.Event()
        task = asyncio.create_task(serve(config, webhook=webhook, stop=stop))
        running = Running(server, config, stop, task, f"http://127.0.0.1:{port}", corpus)
        try:
            yield running
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


async def test_webhook_health_metrics_and_admin_api(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    async with (
        running_bot(tmp_path, story_index, corpus_dir, webhook=True) as bot,
        aiohttp.ClientSession() as http,
    ):
        await bot.ready(http)
        server = bot.server
        await server.wait_for_calls("setWebhook", 1, timeout=30)
        assert server.webhook_url == bot.config.web.webhook_url

        # Updates arrive by webhook, with the secret, and are answered.
        alice = server.create_user("Alice")
        chat = server.create_private_chat(alice)
        server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
        (reply,) = await server.wait_for_messages(chat, 1, timeout=30)
        assert "Lavrov" in reply["text"]
        assert server.webhook_deliveries

        # Reactions come by webhook too (the bot lists message_reaction), counted in /metrics.
        assert "message_reaction" in server.calls("setWebhook")[-1].params["allowed_updates"]
        server.react(chat, alice, reply, "👍")
        await wait_until_handled(server, bot.config.chat.state_path, 30)
        async with http.get(f"{bot.url}/metrics") as response:
            metrics = await response.text()
        assert 'storybot_feedback_total{source="reaction",value="up"} 1.0' in metrics

        # A post without the right secret is refused and not processed.
        forged = {
            "update_id": 999,
            "message": {
                "message_id": 77,
                "date": int(time.time()),
                "text": "What is the AES?",
                "chat": {"id": chat.id, "type": "private", "first_name": "Alice"},
                "from": {"id": alice.id, "is_bot": False, "first_name": "Alice"},
            },
        }
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(
                f"{bot.url}/telegram/webhook", json=forged, headers=headers
            ) as response:
                assert response.status == 403
        # An accepted post is in the inbox before its 200 is sent: a refused one never is.
        assert 999 not in inbox_update_ids(bot.config.chat.state_path)
        await wait_until_handled(server, bot.config.chat.state_path)
        assert len(server.sent_messages(chat)) == 1

        # Health names the index and the model.
        async with http.get(f"{bot.url}/healthz") as response:
            health = await response.json()
        assert health["status"] == "ok"
        assert health["passages"] > 0 and health["model"] == bot.config.embedding_id

        # Metrics count the question.
        async with http.get(f"{bot.url}/metrics") as response:
            text = await response.text()
        assert "storybot_questions_total 1.0" in text
        assert "storybot_retrieval_seconds_count 1.0" in text
        assert "storybot_index_passages" in text
        assert TOKEN not in text and ADMIN_TOKEN not in text and SECRET not in text

        # Admin API: token required; single flight; progress and summary.
        async with http.post(f"{bot.url}/admin/reindex") as response:
            assert response.status == 401
        async with http.post(
            f"{bot.url}/admin/reindex", headers={"Authorization": "Bearer wrong"}
        ) as response:
            assert response.status == 401
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        (bot.corpus / "extra.md").write_text(
            "# Extra\n\nA new story about a harbour in Dakar "
            "that reopened after three years of repairs.\n"
        )
        async with http.post(f"{bot.url}/admin/reindex", headers=auth) as response:
            assert response.status == 202
            job_id = (await response.json())["job"]
        async with http.post(f"{bot.url}/admin/reindex", headers=auth) as response:
            assert response.status == 409
        # Health answers while the reindex runs (in a process of its own, which takes seconds
        # to start: the job is still running when health is asked).
        async with http.get(f"{bot.url}/healthz") as response:
            during = await response.json()
        assert response.status == 200 and during["reindexing"] == job_id
        deadline = time.monotonic() + 300
        while True:
            async with http.get(f"{bot.url}/admin/reindex/{job_id}", headers=auth) as response:
                job = await response.json()
            if job["state"] != "running" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert job["state"] == "done", job
        assert job["summary"]["added"] == ["extra.md"]
        async with http.get(f"{bot.url}/admin/reindex/nope", headers=auth) as response:
            assert response.status == 404
        async with http.get(f"{bot.url}/metrics") as response:
            assert 'storybot_reindex_runs_total{outcome="done"} 1.0' in await response.text()
    assert server.webhook_url is None  # removed on a clean stop


async def test_health_is_503_while_the_index_cannot_be_loaded(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    async with running_bot(tmp_path, story_index, corpus_dir, webhook=False) as bot:
        current = (tmp_path / "index" / "CURRENT").read_text().strip()
        (tmp_path / "index" / current / "passages.zst").write_bytes(b"damaged\n")
        async with aiohttp.ClientSession() as http:
            status, body = 0, {}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{bot.url}/healthz") as response:
                        status, body = response.status, await response.json()
                if "damaged" in body.get("reason", ""):
                    break
                await asyncio.sleep(0.1)
            assert status == 503
            assert "storybot reindex" in body["reason"]
            alice = bot.server.create_user("Alice")
            chat = bot.server.create_private_chat(alice)
            bot.server.send_text(chat, alice, "What is the AES?")
            (reply,) = await bot.server.wait_for_messages(chat, 1, timeout=30)
            assert "not ready" in reply["text"]


async def test_shutdown_finishes_the_reply_in_flight(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    async with running_bot(tmp_path, story_index, corpus_dir, webhook=False) as bot:
        async with aiohttp.ClientSession() as http:
            await bot.ready(http)
        server = bot.server
        alice = server.create_user("Alice")
        chat = server.create_private_chat(alice)
        server.inject_fault(FaultKind.TIMEOUT, "sendMessage", delay=1.5, process=True)
        server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
        await server.wait_for_calls("sendMessage", 1, timeout=30)  # the reply is on its way
        bot.stop.set()
        await asyncio.wait_for(bot.task, 60)
        assert len(server.sent_messages(chat)) == 1
        assert "Lavrov" in server.sent_messages(chat)[0]["text"]


async def test_sigterm_stops_the_real_process_cleanly(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    shutil.copytree(story_index, tmp_path / "index")
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[corpus]\npath = "{corpus_dir}"\n[index]\npath = "{tmp_path / "index"}"\n'
        f"{EMBEDDING_TOML}"
        f'[chat]\nstate_path = "{tmp_path / "state.sqlite3"}"\n[web]\nport = {port}\n'
    )
    log = tmp_path / "bot.log"
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "STORYBOT_TELEGRAM_BASE_URL": server.root_url,
        }
        with log.open("w") as handle:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "--config",
                str(config),
                "serve",
                cwd=ROOT,
                env=env,
                stdout=handle,
                stderr=handle,
            )
            try:
                async with aiohttp.ClientSession() as http:
                    running = Running(
                        server,
                        None,
                        asyncio.Event(),
                        asyncio.create_task(asyncio.sleep(3600)),
                        f"http://127.0.0.1:{port}",
                        corpus_dir,
                    )
                    try:
                        await running.ready(http)
                    finally:
                        running.task.cancel()
                alice = server.create_user("Alice")
                chat = server.create_private_chat(alice)
                server.send_text(chat, alice, "How big is the joint force?")
                await server.wait_for_messages(chat, 1, timeout=30)
                proc.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(proc.wait(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    output = log.read_text()
    assert code == 0, output
    assert "Stopped" in output
    assert TOKEN not in output  # nor in httpx's request URLs
