"""Secrets never leak, in webhook mode: the bot token, the admin token and the webhook secret
the bot generated itself, grepped for in the -vv log, every message the bot sent (every version
of it), /metrics, /healthz and the admin API's answers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from tests.bot.conftest import TOKEN
from tests.bot.test_reliability import ADMIN_TOKEN, BotProcess
from tests.botapi import BotApiServer, FaultKind

pytestmark = pytest.mark.slow


class WebhookBot(BotProcess):
    """``storybot -v -v serve --webhook`` in a child process; the webhook secret is not
    configured, so the bot makes one up."""

    serve_args = ("--webhook",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.url = f"http://127.0.0.1:{self.port}"
        with self.config.open("a") as handle:  # the [web] table is the file's last
            handle.write(f'webhook_url = "{self.url}/telegram/webhook"\n')


async def test_secrets_never_leak_in_webhook_mode(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    seen: list[str] = []
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin, alice = server.create_user("Ada"), server.create_user("Alice")
        admin_chat, chat = server.create_private_chat(admin), server.create_private_chat(alice)
        bot = WebhookBot(tmp_path, server, index_dir, corpus_dir, admin.id)
        assert "STORYBOT_WEBHOOK_SECRET" not in bot.env
        await bot.start("-v", "-v")
        try:
            await server.wait_for_calls("setWebhook", 1, timeout=30)
            secret = server.calls("setWebhook")[-1].params["secret_token"]
            assert len(secret) >= 32  # made up by the bot
            for kind in (FaultKind.SERVER_ERROR, FaultKind.DROP, FaultKind.BAD_GATEWAY):
                server.inject_fault(kind, "sendMessage")
            # The file's download goes round in redirects: aiohttp's error names the URL,
            # which holds the token.
            server.inject_fault(FaultKind.REDIRECT_LOOP, "file", times=None)
            server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
            server.send_text(chat, alice, "/reindex")
            server.send_text(chat, alice, "/stats")
            server.send_document(admin_chat, admin, file_name="story.txt", content=b"A story.")
            await server.wait_for_messages(chat, 3, timeout=60)
            await server.wait_for(
                lambda: "could not be downloaded" in first_text(server, admin_chat),
                timeout=60,
            )
            async with aiohttp.ClientSession() as http:
                for path in ("/healthz", "/metrics", "/admin/reindex/nope"):
                    async with http.get(bot.url + path) as response:
                        seen.append(await response.text())
                wrong = {"Authorization": "Bearer not-the-token"}
                async with http.post(f"{bot.url}/admin/reindex", headers=wrong) as response:
                    assert response.status == 401
                    seen.append(await response.text())
                right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                async with http.post(f"{bot.url}/admin/reindex", headers=right) as response:
                    assert response.status == 202
                    seen.append(await response.text())
                forged = {"X-Telegram-Bot-Api-Secret-Token": secret[:-1]}
                async with http.post(
                    f"{bot.url}/telegram/webhook", json={"update_id": 1}, headers=forged
                ) as response:
                    assert response.status == 403
                    seen.append(await response.text())
        finally:
            await bot.stop()
        for chat_id in (chat.id, admin_chat.id):
            for message in server.sent_messages(chat_id):
                for version in server.message_versions(chat_id, message["message_id"]):
                    seen.append(str(version.get("text", "")))
    assert server.webhook_deliveries  # the updates came by webhook
    download = next(t for t in seen if "could not be downloaded" in t)
    assert "NetworkError" in download and not re.search(r"https?://", download), download
    log = bot.log.read_text()
    assert "Refused /reindex from non-admin" in log
    assert "Refused POST /admin/reindex" in log
    assert "Refused a webhook post" in log
    assert "sendMessage failed" in log  # the faults were met and logged
    assert "setWebhook" in log  # -vv logs the Bot API calls, the one carrying the secret too
    everything = "\n".join([log, *seen])
    for leak in (TOKEN, TOKEN.split(":")[1], ADMIN_TOKEN, secret):
        assert leak not in everything


def first_text(server: BotApiServer, chat: object) -> str:
    messages = server.sent_messages(chat)  # type: ignore[arg-type]
    return str(messages[0].get("text", "")) if messages else ""
