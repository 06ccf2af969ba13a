"""Replicas sharing one inbox (webhook mode with the state in PostgreSQL): any replica stores
a posted update and acknowledges it; every replica claims what to answer from the shared inbox.

A claim is a lease: ``claimed_by`` and ``lease_until`` on the inbox row, renewed every
``LEASE_SECONDS / 3`` while the update is being answered. A replica that dies stops renewing,
and once its leases run out another replica claims those updates and answers them (an answer
recorded as sent is not sent again: ``StateStore.answered``). Only the oldest unfinished update
of a chat can be claimed (``Inbox.claim``), so each chat is answered one update at a time, in
order, whichever replica takes it. Claims are made with ``FOR UPDATE SKIP LOCKED``: replicas
claiming at once never take the same update.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import MutableMapping
from typing import Any

from telegram import Update
from telegram.ext import Application

from . import sqlite
from .inbox import DurableQueue
from .inbox_store import WRITER, Inbox

__all__ = ["CLAIM_LIMIT", "LEASE_SECONDS", "SharedQueue"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # a dead replica's updates are answered by another after this long
CLAIM_LIMIT = 16  # updates one replica holds at once (the Application answers 16 at a time)
IDLE_SECONDS = 0.5  # with nothing to answer, the inbox is looked at this often


class SharedQueue(DurableQueue):
    """The Application's queue when replicas share the inbox: ``put`` stores an update and
    wakes the claimer; updates reach the Application only once this replica claimed them."""

    def __init__(
        self, inbox: Inbox, raw: MutableMapping[int, dict[str, Any]] | None = None
    ) -> None:
        super().__init__(inbox, raw)
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.in_flight: set[int] = set()
        self._wake = asyncio.Event()

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            await super().put(item)  # PTB's own stop signal
            return
        data = self._data(item)
        stored = await sqlite.write(
            lambda: self.inbox.add(item.update_id, data), self.inbox.health, WRITER
        )
        if not stored:
            logger.info("Dropped update %d: it was received before", item.update_id)
        self._wake.set()

    def put_nowait(self, item: object) -> None:
        """``put`` without waiting: the write runs on the caller's thread (tests, tools)."""
        if not isinstance(item, Update):
            super().put_nowait(item)
            return
        if not self.inbox.add(item.update_id, self._data(item)):
            logger.info("Dropped update %d: it was received before", item.update_id)
        self._wake.set()

    def finished(self, update_id: int) -> None:
        self.in_flight.discard(update_id)
        self._wake.set()

    async def claim_forever(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Claim what this replica can answer and queue it, until cancelled."""
        while True:
            free = CLAIM_LIMIT - len(self.in_flight)
            claimed = []
            if free > 0:
                now = time.time()
                self._wake.clear()
                claimed = await self.write(
                    functools.partial(self.inbox.claim, self.replica, LEASE_SECONDS, free, now)
                )
            for item in claimed:
                self.in_flight.add(item.update_id)
                self.requeue(Update.de_json(item.data, application.bot))
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)

    async def renew_forever(self) -> None:
        """Keep this replica's claims alive while it answers them, until cancelled."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            held = sorted(self.in_flight)
            if held:
                until = time.time() + LEASE_SECONDS
                try:
                    await self.write(
                        functools.partial(self.inbox.renew, self.replica, held, until)
                    )
                except Exception:
                    logger.exception("Could not renew the claims on %d update(s)", len(held))
