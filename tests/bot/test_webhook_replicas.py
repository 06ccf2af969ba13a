"""Two replicas of ``storybot serve --webhook`` sharing one PostgreSQL state, behind a small
round-robin proxy: both store what they are posted and answer what they claim from the shared
inbox. One is SIGKILLed mid-load and restarted; every question is answered once, each chat in
order, the dead replica's claims taken over when their leases run out."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.shared_inbox import CLAIM_LIMIT, LEASE_SECONDS
from tests.bot.conftest import TOKEN
from tests.bot.test_reliability import BotProcess
from tests.botapi import BotApiServer
from tests.botapi.round_robin import round_robin
from tests.postgres import PASSWORD

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-shared-by-the-replicas"
ANSWERING_SECONDS = 180  # answering the 30 questions on two busy cores, with room to spare


def unanswered(server: BotApiServer, asked: dict[int, list[int]]) -> set[tuple[str, int]]:
    """The asked (chat, message) pairs no successful sendMessage replied to yet."""
    quoted = {
        (str(call.params.get("chat_id")), call.params["reply_parameters"]["message_id"])
        for call in server.calls("sendMessage")
        if call.status == 200 and "reply_parameters" in call.params
    }
    return {(str(chat), m) for chat, ids in asked.items() for m in ids} - quoted


class WebhookReplica(BotProcess):
    """``storybot serve --webhook`` in a child process, posted to through the proxy."""

    serve_args = ("--webhook",)

    def __init__(self, folder: Path, server: BotApiServer, index: Path, corpus: Path,
                 admin: int, url: str, proxy: str) -> None:  # fmt: skip
        folder.mkdir()
        super().__init__(folder, server, index, corpus, admin)
        with self.config.open("a") as handle:  # the [web] table is the file's last
            handle.write(f'webhook_url = "{proxy}/telegram/webhook"\n')
        self.env["STORYBOT_STATE_URL"] = url
        self.env["STORYBOT_WEBHOOK_SECRET"] = SECRET
        self.url = f"http://127.0.0.1:{self.port}"


async def test_webhook_replicas_share_the_inbox_and_survive_a_kill(
    tmp_path: Path, story_index: Path, corpus_dir: Path, postgres_url: str
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    questions = [
        "/ask What is the AES?",
        "/ask Who will the ministers meet in Moscow?",
        "/ask How big is the joint force?",
        "/ask When was it formed?",
        "/ask What is the AES?",
    ]
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin = server.create_user("Ada")
        readers = [server.create_user(f"Reader {i}") for i in range(6)]
        groups = [server.create_group(f"Group {i}", [u, admin]) for i, u in enumerate(readers)]
        targets: list[str] = []
        async with round_robin(targets) as proxy:
            a, b = (
                WebhookReplica(tmp_path / name, server, index_dir, corpus_dir, admin.id,
                               postgres_url, proxy)
                for name in ("a", "b")
            )  # fmt: skip
            targets += [a.url, b.url]
            await a.start()
            await b.start()
            try:
                asked: dict[int, list[int]] = {g.id: [] for g in groups}
                for text in questions:
                    for group, reader in zip(groups, readers, strict=True):
                        asked[group.id].append(server.send_text(group, reader, text)["message_id"])
                total = len(questions) * len(groups)
                await server.wait_for(
                    lambda: sum(len(server.sent_messages(g)) for g in groups) >= total // 4,
                    120,
                    "a quarter of the answers",
                )
                await a.kill()
                killed = time.monotonic()
                await a.start()  # restarted, as systemd would
                # Every question quoted by an answer (not a count of answers: the repeats of
                # the killed replica's last replies would make it up with one still to come).
                # Once the killed replica's leases run out, the rest is answered as before.
                await server.wait_for(
                    lambda: not unanswered(server, asked),
                    LEASE_SECONDS + ANSWERING_SECONDS,
                    "every question answered",
                )
                await server.wait_until_consumed(timeout=60)
            finally:
                await a.stop()
                await b.stop()
    both = a.log.read_text() + b.log.read_text()
    assert PASSWORD not in both and TOKEN not in both
    repeats: list[tuple[float, float]] = []  # (first copy, second copy) after the kill, in s
    for group in groups:
        replies = [
            (call.monotonic - killed, call.params["reply_parameters"]["message_id"])
            for call in server.calls("sendMessage")
            if str(call.params.get("chat_id")) == str(group.id) and call.status == 200
        ]
        quoted = [message_id for _, message_id in replies]
        assert set(quoted) == set(asked[group.id])  # nothing lost
        assert list(dict.fromkeys(quoted)) == asked[group.id]  # each chat in order
        for message_id, count in Counter(quoted).items():
            if count > 1:
                times = [t for t, m in replies if m == message_id]
                repeats.append((times[0], times[1]))
    # The only repeats: replies the killed replica sent in its last moment, before it could
    # record them (Telegram gives no way to know), sent again once its lease ran out.
    assert all(-1 < first < 0 < second for first, second in repeats), repeats
    assert len(repeats) <= CLAIM_LIMIT, repeats  # at most what it held
