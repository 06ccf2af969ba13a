"""``storybot serve --watch``: documents dropped into corpus/ are indexed within seconds.

Changes are gathered until the folder has been quiet for ``corpus.watch_debounce_seconds``
(copying many files, or one large file, triggers one reindex, not one per write); then the
shared Reindexer runs (after any reindex already running).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from index.documents import SUPPORTED_SUFFIXES

from .config import Config
from .jobs import Reindexer

__all__ = ["is_corpus_file", "watch_and_reindex", "watch_corpus"]

logger = logging.getLogger(__name__)


def is_corpus_file(corpus: Path, path: str) -> bool:
    """Whether a changed path (absolute, under the resolved ``corpus``) is one the index reads:
    a supported file, not hidden."""
    try:
        rel = Path(path).relative_to(corpus)
    except ValueError:
        return False
    if any(part.startswith(".") for part in rel.parts):
        return False
    return Path(path).suffix.lower() in SUPPORTED_SUFFIXES


async def watch_corpus(
    corpus: Path,
    debounce: float,
    on_change: Callable[[set[str]], Awaitable[object]],
    stop: asyncio.Event,
) -> None:
    """Call ``on_change`` with the changed files' paths after each quiet period, until ``stop``."""
    from watchfiles import awatch

    await asyncio.to_thread(corpus.mkdir, parents=True, exist_ok=True)
    root = await asyncio.to_thread(corpus.resolve)
    quiet_ms = max(int(debounce * 1000), 50)
    logger.info("Watching %s for new or changed documents", corpus)
    async for changes in awatch(
        corpus,
        watch_filter=lambda _change, path: is_corpus_file(root, path),
        step=quiet_ms,
        debounce=max(quiet_ms * 30, 60_000),
        stop_event=stop,
        recursive=True,
    ):
        paths = {path for _, path in changes}
        logger.info("Corpus changed (%d file(s)); reindexing", len(paths))
        try:
            await on_change(paths)
        except Exception:
            logger.exception("Reindex after a corpus change failed to start")


async def watch_and_reindex(config: Config, reindexer: Reindexer, stop: asyncio.Event) -> None:
    """``serve --watch``: the shared reindex after each quiet period of corpus changes."""

    async def changed(_paths: set[str]) -> None:
        await reindexer.start_when_free("corpus watch")

    await watch_corpus(config.corpus.path, config.corpus.watch_debounce_seconds, changed, stop)
