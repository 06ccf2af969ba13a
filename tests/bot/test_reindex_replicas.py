"""One reindex across replicas: with the state in PostgreSQL, a build holds an advisory lock
there. Another replica holding it (a real session on the real server, as a replica's build
holds it) makes /reindex and `storybot reindex` fail saying so, and makes the watcher's job and
the build of a replica starting without an index wait their turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.cli import main
from bot.config import load_config
from bot.deployment_lock import REINDEX_LOCK
from bot.jobs import Reindexer
from bot.runtime import open_engine
from bot.storage import Database, open_database
from bot.storage.postgres_engine import lock_key
from index.embedder import Embedder
from index.store import IndexStore
from tests.bot.conftest import SharedModelBuild
from tests.conftest import EMBEDDING, EMBEDDING_TOML

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def another_replica_reindexing(url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (lock_key(REINDEX_LOCK),))
        yield connection


async def until(predicate: object, what: str, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_one_reindex_at_a_time_across_replicas(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder, postgres_url: str
) -> None:
    config = load_config(
        {
            "corpus": {"path": str(corpus_dir)},
            "index": {"path": str(tmp_path / "index"), **EMBEDDING},
            "state": {"url": postgres_url},
        }
    )
    installed: list[IndexStore] = []
    reindexer = Reindexer(config, installed.append, build=SharedModelBuild(embedder))
    database: Database = open_database(postgres_url, "unused")
    reindexer.database = database
    try:
        with another_replica_reindexing(postgres_url):
            refused = reindexer.start("admin 1")
            await reindexer.wait()
            assert refused.state == "failed" and installed == []
            assert "Another replica is reindexing" in (refused.error or "")

            waiting = await reindexer.start_when_free("corpus watcher")
            await until(lambda: "another replica" in waiting.stage, "the job to wait")
            assert waiting.state == "running" and installed == []
        await reindexer.wait()  # the other replica's build ended: this one runs now
        assert waiting.state == "done", waiting.error
        assert len(installed) == 1 and len(installed[0]) > 0

        # The lock went with the build: the next /reindex runs at once.
        again = reindexer.start("admin 1")
        await reindexer.wait()
        assert again.state == "done", again.error
    finally:
        database.close()


def test_storybot_reindex_from_a_shell_takes_the_deployments_lock(
    tmp_path: Path, corpus_dir: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[corpus]\npath = "{corpus_dir}"\n[index]\npath = "{tmp_path / "index"}"\n'
        f'{EMBEDDING_TOML}[state]\nurl = "{postgres_url}"\n'
    )
    with another_replica_reindexing(postgres_url):
        code = main(["--config", str(config), "reindex"])
        _, err = capsys.readouterr()
        assert code == 1 and "Another replica is reindexing" in err
        assert not IndexStore.exists(tmp_path / "index")  # nothing built meanwhile
    assert main(["--config", str(config), "reindex"]) == 0
    assert "added" in capsys.readouterr().out
    assert IndexStore.exists(tmp_path / "index")


async def test_a_replica_finding_no_index_waits_for_another_replicas_build(
    tmp_path: Path,
    corpus_dir: Path,
    embedder: Embedder,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(
        {
            "corpus": {"path": str(corpus_dir)},
            "index": {"path": str(tmp_path / "index"), **EMBEDDING},
            "state": {"url": postgres_url},
        }
    )
    caplog.set_level(logging.INFO, logger="bot.deployment_lock")
    with another_replica_reindexing(postgres_url):
        starting = asyncio.create_task(asyncio.to_thread(open_engine, config, embedder))
        await until(lambda: "waiting for its build" in caplog.text, "the start-up build to wait")
        assert not starting.done() and not IndexStore.exists(tmp_path / "index")
    engine = await asyncio.wait_for(starting, 120)  # the other build ended: this one ran
    assert len(engine.store) > 0
