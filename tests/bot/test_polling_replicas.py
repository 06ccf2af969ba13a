"""Two replicas of ``storybot serve`` in long-polling mode on one PostgreSQL state: exactly one
polls (elected through an advisory lock), the other stands by warm. The poller is SIGKILLed
while stuck sending a reply; the other takes the lock, answers the question the dead one had
taken from the shared inbox, and polls on: nothing lost, nothing twice, order kept."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest

from tests.bot.conftest import TOKEN
from tests.bot.test_reliability import BotProcess
from tests.botapi import BotApiServer, FaultKind
from tests.postgres import PASSWORD

pytestmark = pytest.mark.slow

logger = logging.getLogger(__name__)


def replica(tmp: Path, name: str, server: BotApiServer, index: Path, corpus: Path, admin: int,
            url: str) -> BotProcess:  # fmt: skip
    folder = tmp / name
    folder.mkdir()
    bot = BotProcess(folder, server, index, corpus, admin)
    bot.env["STORYBOT_STATE_URL"] = url
    return bot


def conflicts(server: BotApiServer) -> int:
    return sum(1 for call in server.calls("getUpdates") if call.status == 409)


async def test_one_replica_polls_and_another_takes_over_when_it_is_killed(
    tmp_path: Path, story_index: Path, corpus_dir: Path, postgres_url: str
) -> None:
    index_dir = tmp_path / "index"  # one index folder for both, as a shared volume would be
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin = server.create_user("Ada")
        alice = server.create_user("Alice")
        group = server.create_group("Readers", [alice, admin])
        first = replica(tmp_path, "a", server, index_dir, corpus_dir, admin.id, postgres_url)
        second = replica(tmp_path, "b", server, index_dir, corpus_dir, admin.id, postgres_url)
        await first.start()
        await server.wait_for(
            lambda: "Elected to poll" in first.log.read_text(), 60, "the first to be elected"
        )
        await second.start()
        await server.wait_for(
            lambda: "standing by" in second.log.read_text(), 60, "the second to stand by"
        )
        try:
            asked = [server.send_text(group, alice, "/ask What is the AES?")]
            await server.wait_for_messages(group, 1, timeout=60)
            assert conflicts(server) == 0  # one consumer of getUpdates, never two

            server.inject_fault(FaultKind.TIMEOUT, "sendMessage", times=None, delay=120)
            asked.append(server.send_text(group, alice, "/ask Who will the ministers meet?"))
            await server.wait_for_calls("sendMessage", 2, timeout=60)
            await server.wait_until_consumed(timeout=30)
            await first.kill()
            killed = time.monotonic()
            server.clear_faults()
            assert len(server.sent_messages(group)) == 1

            replies = await server.wait_for_messages(group, 2, timeout=60)
            logger.info("Takeover: first answer %.1f s after the kill", time.monotonic() - killed)
            assert "Elected to poll" in second.log.read_text()
            asked.append(server.send_text(group, admin, "/ask How big is the joint force?"))
            replies = await server.wait_for_messages(group, 3, timeout=60)
            quoted = [m["reply_to_message"]["message_id"] for m in replies]
            assert quoted == [m["message_id"] for m in asked]  # each once, in order
            assert "Lavrov" in replies[1]["text"]
            await server.wait_until_consumed(timeout=30)
            assert len(server.sent_messages(group)) == 3  # nothing answered twice
        finally:
            await first.stop()
            await second.stop()
    for bot in (first, second):
        log = bot.log.read_text()
        assert PASSWORD not in log and TOKEN not in log
