"""The deployment's reindex lock for builds started outside the bot's reindex jobs: ``storybot
reindex`` and ``storybot add`` from a shell, and the build a replica makes at start when it
finds no index. With ``[state] url`` they hold the same PostgreSQL advisory lock as
``/reindex``, the admin API and the folder watcher (``jobs.py``), so one build runs
across every replica; without it, the index folder's own file lock is all there is (one
machine).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from index.errors import ReindexInProgressError

from .config import Config
from .storage import PostgresDatabase

__all__ = ["LOCK_RETRY_SECONDS", "REINDEX_LOCK", "holding_the_reindex_lock"]

logger = logging.getLogger(__name__)

REINDEX_LOCK = "storybot reindex"  # one build at a time across the deployment
LOCK_RETRY_SECONDS = 1.0  # a build waiting for another replica's asks this often


@contextlib.contextmanager
def holding_the_reindex_lock(config: Config, *, wait: bool) -> Iterator[None]:
    """Hold the deployment's reindex lock while the block runs (nothing to hold without
    ``[state] url``). When another replica holds it: wait for it with ``wait``, else raise
    ``ReindexInProgressError`` at once."""
    if not config.state.url:
        yield
        return
    database = PostgresDatabase(config.state.url, pool_size=1)
    try:
        said = False
        while True:
            with database.hold(REINDEX_LOCK) as held:
                if held is not None:
                    yield
                    return
            if not wait:
                raise ReindexInProgressError(
                    "Another replica is reindexing now; its index is served by every replica "
                    "within seconds of being written."
                )
            if not said:
                logger.info("Another replica is reindexing; waiting for its build to end")
                said = True
            time.sleep(LOCK_RETRY_SECONDS)
    finally:
        database.close()
