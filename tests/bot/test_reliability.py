"""Faults injected for real: a flaky Bot API, crashes, damaged indexes, hostile input, secrets.

The fault soak here asks 500 questions; ``benchmarks/bot_load.py --faults 0.1`` runs the
5,000-question version and reports the figures in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from index.embedder import Embedder
from index.engine import Engine
from index.store import IndexStore
from tests.bot.conftest import TOKEN, start_bot, stop_bot
from tests.botapi import BotApiServer, FaultKind
from tests.botapi.load import ask_many, inject_random_faults, make_groups
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

STORY_QUESTIONS = [
    "Who will the ministers meet in Moscow?",
    "What is the AES?",
    "When will the ministers visit Moscow?",
    "How big is the joint force?",
    "Which countries are in the Alliance of Sahel States?",
    "Why did the three countries leave ECOWAS?",
    "What will they discuss with Lavrov?",
    "Who chairs the AES?",
    "What is the capital of France?",
    "Is there any news about football?",
]


def soak_config(tmp: Path, server: BotApiServer, index_dir: Path, corpus: Path) -> Config:
    """The bot as deployed, but with Telegram's send limits off (the test server has none)
    and short timeouts, so that injected timeouts cost seconds rather than minutes."""
    return load_config(
        {
            "corpus": {"path": str(corpus)},
            "index": {"path": str(index_dir)},
            "chat": {"state_path": str(tmp / "state.sqlite3"), "flood_questions": 0},
            "telegram": {
                "base_url": server.root_url,
                "admins": [1],
                "timeout_seconds": 1.0,
                "messages_per_second": 0,
                "group_messages_per_minute": 0,
            },
        },
        environ={"TELEGRAM_BOT_TOKEN": TOKEN},
    )


@contextlib.asynccontextmanager
async def soak_bot(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus: Path
) -> AsyncIterator[tuple[BotApiServer, object]]:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        config = soak_config(tmp_path, server, index_dir, corpus)
        engine = Engine(
            IndexStore.load(index_dir, embedder.name), embedder, config.ranking_settings()
        )
        application, state = await start_bot(config, engine, embedder)
        try:
            yield server, application
        finally:
            server.clear_faults()
            await stop_bot(application, state)


async def test_fault_soak_loses_nothing_and_keeps_order(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> None:
    """100 users in 20 groups ask 500 questions while 10% of all Bot API calls fail."""
    async with soak_bot(tmp_path, story_index, embedder, corpus_dir) as (server, application):
        groups = make_groups(server, users=100, per_group=5)
        inject_random_faults(server, 0.10)
        report = await ask_many(server, groups, STORY_QUESTIONS, 500, rate=40, timeout=300)
        server.clear_faults()
        summary = "\n".join(report.lines())
        assert report.questions == 500
        assert sum(report.faults.values()) > 50, summary  # the faults really happened
        assert report.lost == 0, summary
        assert report.errors == 0, summary
        assert report.out_of_order == 0, summary
        # The one unavoidable duplicate: Telegram carried out a sendMessage whose answer was lost.
        assert report.duplicated <= report.accepted_then_lost, summary
        assert application.updater.running  # polling never stopped
        chat, members = groups[0]
        late = server.send_text(chat, members[0], "/ask What is the AES?")
        await server.wait_for(
            lambda: any(
                m.get("reply_to_message", {}).get("message_id") == late["message_id"]
                for m in server.sent_messages(chat)
            ),
            timeout=30,
        )
