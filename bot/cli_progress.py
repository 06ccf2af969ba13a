"""What the command line shows while it works: tqdm bars on standard error, one per stage, and
the engine and reindex run under them."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from .config import Config

if TYPE_CHECKING:
    from tqdm import tqdm

    from index.engine import Engine

__all__ = ["Progress", "open_engine_with_progress", "reindex_with_progress"]

logger = logging.getLogger("storybot")


class Progress:
    """tqdm bars on standard error, one per stage of a reindex or an evaluation."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm[Any]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(
                total=total, desc=stage, unit="item", leave=False, file=sys.stderr, disable=None
            )
            if bar.disable:  # not a terminal: a log line instead
                logger.info("%s: %d items", stage, total)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def open_engine_with_progress(config: Config) -> Engine:
    from .runtime import open_engine

    progress = Progress()
    try:
        return open_engine(config, progress=progress)
    finally:
        progress.close()


def reindex_with_progress(config: Config) -> str:
    from .runtime import make_embedder, reindex_alone

    progress = Progress()
    try:
        return reindex_alone(config, lambda: make_embedder(config), progress).summary()
    finally:
        progress.close()
