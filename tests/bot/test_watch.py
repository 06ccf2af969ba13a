"""`serve --watch`: files dropped into corpus/ are indexed within seconds, debounced."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import pytest

from bot.corpus_watch import is_corpus_file, watch_and_reindex, watch_corpus
from tests.bot.conftest import BotEnv
from tests.corpus_site import FLOOD


def test_only_supported_visible_files_count(tmp_path: Path) -> None:
    assert is_corpus_file(tmp_path, str(tmp_path / "a.md"))
    assert is_corpus_file(tmp_path, str(tmp_path / "world" / "b.HTML"))
    assert not is_corpus_file(tmp_path, str(tmp_path / ".incoming-1.md"))
    assert not is_corpus_file(tmp_path, str(tmp_path / ".git" / "x.md"))
    assert not is_corpus_file(tmp_path, str(tmp_path / "a.md.swp"))
    assert not is_corpus_file(tmp_path, "/elsewhere/a.md")


async def watching(caplog: pytest.LogCaptureFixture, task: asyncio.Task[None]) -> None:
    """Wait until ``watch_corpus`` watches: it logs "Watching" just before it opens the
    watcher, which happens before its first await, so a change made after this is seen."""
    deadline = time.monotonic() + 30
    while not any(r.getMessage().startswith("Watching ") for r in caplog.records):
        if task.done():
            task.result()
        assert time.monotonic() < deadline, "the corpus watcher did not start"
        await asyncio.sleep(0.01)


async def test_a_burst_of_files_is_one_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.corpus_watch")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    calls: asyncio.Queue[set[str]] = asyncio.Queue()
    stop = asyncio.Event()

    async def on_change(paths: set[str]) -> None:
        await calls.put(paths)

    task = asyncio.create_task(watch_corpus(corpus, 0.4, on_change, stop))
    await watching(caplog, task)
    for i in range(3):
        (corpus / f"story-{i}.md").write_text(f"Story {i}. " * 20)
        (corpus / f".incoming-{i}.md").write_text("partial")
        await asyncio.sleep(0.1)  # a burst spread over time, each step shorter than the quiet
    (corpus / "notes.docx").write_bytes(b"PK")
    burst = await asyncio.wait_for(calls.get(), 10)
    # A change made after the burst's call is reported on its own: had the burst been split,
    # its second part would come before (or with) this one.
    (corpus / "marker.md").write_text("A marker.")
    after = await asyncio.wait_for(calls.get(), 10)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert {Path(p).name for p in burst} == {"story-0.md", "story-1.md", "story-2.md"}
    assert {Path(p).name for p in after} == {"marker.md"}
    assert calls.empty()


@pytest.mark.slow
async def test_serve_watch_indexes_a_dropped_document(
    bot_env: BotEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.corpus_watch")
    services = bot_env.application.bot_data.services  # type: ignore[attr-defined]
    stop = asyncio.Event()
    task = asyncio.create_task(watch_and_reindex(bot_env.config, services.reindexer, stop))
    try:
        await watching(caplog, task)
        started = time.monotonic()
        (bot_env.corpus / "flood.txt").write_text(FLOOD)
        await bot_env.server.wait_for(
            lambda: "flood.txt" in services.engine.store.documents,
            timeout=30,
            what="the dropped file to be indexed",
        )
        seconds = time.monotonic() - started
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    assert seconds < 20
    (job,) = services.reindexer.jobs.values()
    assert job.requested_by == "corpus watch" and job.report.added == ["flood.txt"]
