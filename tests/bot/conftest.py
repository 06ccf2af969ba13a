"""The real bot, polling the project's Bot API test server over HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

# PTB's RetryAfter warns about a deprecated int retry_after unless this is set; warnings are
# errors in this suite.
os.environ.setdefault("PTB_TIMEDELTA", "true")

import pytest

from bot.app import ALLOWED_UPDATES, build_application
from bot.config import Config, load_config
from bot.gap_recorder import GapRecorder
from bot.jobs import Reindexer
from bot.runtime import reindex
from bot.services import Services
from bot.state import StateStore
from index.build_report import BuildReport, ProgressFn
from index.embedder import Embedder
from index.engine import Engine
from index.store import IndexStore
from tests.botapi import BotApiServer, SimUser
from tests.conftest import EMBEDDING

TOKEN = "123456:TEST-token-that-must-never-be-logged"


@dataclass
class BotEnv:
    server: BotApiServer
    config: Config
    engine: Engine
    state: StateStore
    application: object
    admin: SimUser
    alice: SimUser
    bob: SimUser
    corpus: Path


def make_config(
    tmp: Path, server: BotApiServer, admin_id: int, index_dir: Path, corpus: Path
) -> Config:
    return load_config(
        {
            "corpus": {"path": str(corpus)},
            "index": {"path": str(index_dir), **EMBEDDING},
            "chat": {
                "state_path": str(tmp / "state.sqlite3"),
                "context_minutes": 30,
                "typing_after_seconds": 0,
            },
            "telegram": {"base_url": server.root_url, "admins": [admin_id]},
        },
        environ={"TELEGRAM_BOT_TOKEN": TOKEN},
    )


class SharedModelBuild:
    """Reindexes in this process with the session's model (an ``IndexBuild``), so tests do not
    load a second model in a child process."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, config: Config, progress: ProgressFn) -> BuildReport:
        return reindex(config, lambda: self.embedder, progress)


def make_services(config: Config, engine: Engine, embedder: Embedder) -> Services:
    """Services as ``serve`` builds them, with the session's model for reindexing too."""
    services = Services(
        config=config, state=StateStore(config.chat.state_path), engine=engine, embedder=embedder
    )
    services.reindexer = Reindexer(
        config, services.install, build=SharedModelBuild(embedder), metrics=services.metrics
    )
    services.gaps = GapRecorder.open(
        config, lambda: services.embedder, health=services.state.health
    )
    return services


def unfinished_updates(state_path: Path) -> int:
    """Updates in the bot's inbox whose handlers have not returned yet (read from its file, so
    this works for a bot in another process too)."""
    with contextlib.closing(sqlite3.connect(state_path)) as db:
        (count,) = db.execute("SELECT count(*) FROM inbox WHERE done IS NULL").fetchone()
    return int(count)


async def wait_until_handled(
    server: BotApiServer,
    state_path: Path,
    timeout: float = 60,  # noqa: ASYNC109 - the deadline is part of the helper's contract
) -> None:
    """Every update sent so far was taken by the bot and its handlers have returned: whatever
    the bot sends in reply to them has been sent. The positive signal that lets a test say
    "nothing more arrives" without sleeping."""
    await server.wait_until_consumed(timeout)  # confirmed: each one is in the inbox
    await server.wait_for(
        lambda: unfinished_updates(state_path) == 0, timeout, "the bot to finish every update"
    )


async def start_bot(config: Config, engine: Engine, embedder: Embedder):  # type: ignore[no-untyped-def]
    services = make_services(config, engine, embedder)
    state = services.state
    application = build_application(config, services)
    await application.initialize()
    await application.post_init(application)  # run_polling would call it
    await application.start()
    await application.updater.start_polling(
        poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES
    )
    return application, state


async def stop_bot(application, state: StateStore) -> None:  # type: ignore[no-untyped-def]
    if application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
    gaps = application.bot_data.services.gaps
    if gaps is not None:
        gaps.close()
    state.close()


@pytest.fixture
async def bot_env(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> AsyncIterator[BotEnv]:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(
        token=TOKEN, bot_username="storybot", supports_inline_queries=True, inline_feedback=True
    ) as server:
        admin = server.create_user("Ada", username="ada_admin")
        alice = server.create_user("Alice", username="alice")
        bob = server.create_user("Bob", username="bob")
        config = make_config(tmp_path, server, admin.id, index_dir, corpus_dir)
        engine = Engine(
            IndexStore.load(index_dir, embedder.name), embedder, config.ranking_settings()
        )
        application, state = await start_bot(config, engine, embedder)
        try:
            yield BotEnv(server, config, engine, state, application, admin, alice, bob, corpus_dir)
        finally:
            await stop_bot(application, state)
