"""A durable inbox: every update is written to SQLite before Telegram is told it was received.

python-telegram-bot confirms a batch of updates to Telegram when it asks for the next batch, so
a bot killed after that moment, but before it answered, would lose those questions for good.
The inbox closes that gap. Updates pass through :class:`DurableQueue` (the Application's update
queue, fed by both long polling and the webhook), which stores each one before it is queued;
:class:`DurableApplication` marks an update done once its handlers have run. At start-up the
updates that were received but never finished are put back on the queue, in the order they
came, and a copy that Telegram delivers again is dropped, so nothing is answered twice.

The inbox is used only from the event loop's thread; each write is one small SQLite statement in
WAL mode, which survives the process being killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from . import sqlite

__all__ = ["DurableApplication", "DurableQueue", "Inbox"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    update_id INTEGER PRIMARY KEY,
    data TEXT NOT NULL,
    received REAL NOT NULL,
    done REAL
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (done, update_id);
"""
KEEP_DONE_SECONDS = 2 * 86400  # finished updates are remembered this long, to drop re-deliveries


class Inbox:
    """The updates the bot has received, and which of them it has finished with."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite.connect(path)
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "DELETE FROM inbox WHERE done IS NOT NULL AND done < ?",
            (time.time() - KEEP_DONE_SECONDS,),
        )

    def close(self) -> None:
        self._db.close()

    def add(self, update_id: int, data: dict[str, Any]) -> bool:
        """Store a newly received update; False when it was received before (a re-delivery)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO inbox (update_id, data, received) VALUES (?,?,?)",
            (update_id, json.dumps(data, ensure_ascii=False), time.time()),
        )
        return cursor.rowcount == 1

    def done(self, update_id: int) -> None:
        self._db.execute(
            "UPDATE inbox SET done=? WHERE update_id=? AND done IS NULL", (time.time(), update_id)
        )

    def pending(self) -> list[dict[str, Any]]:
        """Received but not finished, oldest first."""
        rows = self._db.execute(
            "SELECT data FROM inbox WHERE done IS NULL ORDER BY update_id"
        ).fetchall()
        return [json.loads(data) for (data,) in rows]


class DurableQueue(asyncio.Queue):  # type: ignore[type-arg]
    """The Application's update queue; an update is stored in the inbox before it is queued.

    Updates seen before (Telegram delivering again what a killed process had fetched) are
    dropped here. Anything that is not an Update (PTB's own stop signal) passes straight on.
    """

    def __init__(
        self, inbox: Inbox, raw: MutableMapping[int, dict[str, Any]] | None = None
    ) -> None:
        """``raw``: updates as Telegram sent them, by update id (``UpdatesRequest.raw``); an
        update found there is stored as it came, any other is encoded from its Update."""
        super().__init__()
        self.inbox = inbox
        self.raw = raw if raw is not None else {}

    def put_nowait(self, item: object) -> None:
        # asyncio.Queue.put ends in put_nowait, so both ways in pass here (the queue is unbounded).
        if not isinstance(item, Update):
            super().put_nowait(item)
            return
        data = self.raw.pop(item.update_id, None)
        if data is None:
            data = item.to_dict()
        if not self.inbox.add(item.update_id, data):
            logger.info("Dropped update %d: it was received before", item.update_id)
            return
        super().put_nowait(item)

    async def replay(self, application: Application) -> int:  # type: ignore[type-arg]
        """Queue the updates left unfinished by the last run (call before taking new ones)."""
        pending = self.inbox.pending()
        for data in pending:
            super().put_nowait(Update.de_json(data, application.bot))
        if pending:
            logger.info("Answering %d update(s) received before the last stop", len(pending))
        return len(pending)


class DurableApplication(Application):  # type: ignore[type-arg]
    """An Application that marks each update done in the inbox once its handlers have run.

    Errors inside handlers are handled by PTB (the error handler tells the user), so an update
    whose processing returns is finished; one interrupted by the process dying is not, and is
    answered at the next start.
    """

    async def process_update(self, update: object) -> None:
        await super().process_update(update)
        queue = self.update_queue
        if isinstance(update, Update) and isinstance(queue, DurableQueue):
            queue.inbox.done(update.update_id)
