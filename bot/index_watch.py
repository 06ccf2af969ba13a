"""Serving an index that another process built: the index folder's CURRENT pointer is
watched, and a new generation is loaded and swapped in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from index.errors import StoryError
from index.store import IndexStore

from .i18n import Notice, Translator

__all__ = ["IndexWatcher"]

logger = logging.getLogger(__name__)


class IndexWatcher:
    """Serves an index that another process built (``storybot reindex`` on the command line).

    Every ``interval`` seconds it reads the index folder's CURRENT pointer; when that names a
    generation other than the one being served, it loads it and swaps it in. An index that
    fails to load (damaged, truncated, another model) is not served: the bot keeps the index
    it has, and the admins are told once per bad generation.
    """

    def __init__(
        self,
        folder: Path,
        model: str,
        serving: Callable[[], IndexStore | None],
        install: Callable[[IndexStore], None],
        busy: Callable[[], bool],
        notify: Callable[[Notice], Awaitable[None]],
        interval: float = 5.0,
    ) -> None:
        self.folder = folder
        self.model = model
        self.serving = serving
        self.install = install
        self.busy = busy  # a reindex of our own is running: it installs what it builds
        self.notify = notify
        self.interval = interval
        self._refused: str | None = None

    def _current(self) -> str | None:
        try:
            return (self.folder / "CURRENT").read_text().strip() or None
        except OSError:
            return None

    async def check(self) -> bool:
        """One look at the folder; True when a new index was put into service."""
        name = await asyncio.to_thread(self._current)
        store = self.serving()
        if name is None or name == self._refused or self.busy():
            return False
        if store is not None and name == store.folder.name:
            return False
        try:
            fresh = await asyncio.to_thread(IndexStore.load, self.folder, self.model)
            self.install(fresh)
        except StoryError as exc:
            self._refused = name
            logger.error("A new index in %s was not loaded: %s", self.folder, exc)
            serving = store.folder.name if store is not None else None
            error = str(exc)

            def notice(tr: Translator) -> str:
                _ = tr.gettext
                keep = (
                    _("I keep answering from the index I have ({index}).").format(index=serving)
                    if serving is not None
                    else _("I still cannot answer questions.")
                )
                return (
                    _("A new index appeared ({index}) but it cannot be used: {error}").format(
                        index=name, error=error
                    )
                    + "\n"
                    + keep
                )

            await self.notify(notice)
            return False
        logger.info("Serving the index %s, built by another process", name)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                logger.exception("Checking the index folder failed")
