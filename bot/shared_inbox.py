"""Replicas sharing one inbox (webhook mode with the state in PostgreSQL): any replica stores
a posted update and acknowledges it; every replica claims what to answer from the shared inbox.

A claim is a lease: ``claimed_by`` and ``lease_until`` on the inbox row, renewed every
``LEASE_SECONDS / 3`` while the update is being answered. A replica that dies stops renewing,
and once its leases run out another replica claims those updates and answers them (an answer
recorded as sent is not sent again: ``StateStore.answered``). Only the oldest unfinished update
of a chat can be claimed (``Inbox.claim``), so each chat is answered one update at a time, in
order, whichever replica takes it. Claims are made with ``FOR UPDATE SKIP LOCKED``: replicas
claiming at once never take the same update.

While it answers an update, a replica also holds its chat's advisory lock (``CHAT_LOCK``, on a
PostgreSQL session of its own: ``storage/session_locks.py``), given back once the update is
recorded done. So a replica that stalled past its lease (a long pause, its renewals failing)
while still answering cannot have the chat answered by another at the same time: the other
claims the update, finds the chat locked, and looks again ``POSTPONE_SECONDS`` later. A replica
that died holds nothing: its session, and so its locks, went with it.
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

from telegram import Bot, Update
from telegram.ext import Application

from . import sqlite
from .inbox import DurableQueue
from .inbox_store import WRITER, Inbox, PendingUpdate, chat_key
from .storage.session_locks import session_locks

__all__ = ["CHAT_LOCK", "CLAIM_LIMIT", "LEASE_SECONDS", "SharedQueue"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # a dead replica's updates are answered by another after this long
CLAIM_LIMIT = 16  # updates one replica holds at once (the Application answers 16 at a time)
IDLE_SECONDS = 0.5  # with nothing to answer, the inbox is looked at this often
CHAT_LOCK = "storybot chat {}"  # held by the replica answering one of the chat's updates
POSTPONE_SECONDS = 0.5  # a claimed update whose chat is being answered elsewhere: look again


class SharedQueue(DurableQueue):
    """The Application's queue when replicas share the inbox: ``put`` stores an update and
    wakes the claimer; updates reach the Application only once this replica claimed them."""

    def __init__(
        self, inbox: Inbox, raw: MutableMapping[int, dict[str, Any]] | None = None
    ) -> None:
        super().__init__(inbox, raw)
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.in_flight: set[int] = set()
        self.locks = session_locks(inbox.db)
        self.chat_locks: dict[int, str] = {}  # update being answered -> its chat's lock
        self._giving_back: set[asyncio.Task[Any]] = set()
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

    async def mark_done(self, update_id: int) -> None:
        """Record the update done, then give back its chat's lock (in that order: between the
        two, the chat's next update waits, and this one can no longer be claimed)."""
        name = self.chat_locks.pop(update_id, None)

        def done_then_unlock() -> None:
            self.inbox.done(update_id)
            if name is not None:
                self.locks.give_back(name)

        await self.write(done_then_unlock)

    def finished(self, update_id: int) -> None:
        self.in_flight.discard(update_id)
        name = self.chat_locks.pop(update_id, None)
        if name is not None:  # set aside rather than answered: its chat's lock goes back too
            task = asyncio.get_running_loop().create_task(
                self.write(functools.partial(self.locks.give_back, name))
            )
            self._giving_back.add(task)
            task.add_done_callback(self._giving_back.discard)
        self._wake.set()

    async def claim_once(self, bot: Bot) -> int:
        """Claim what this replica can answer now and queue the updates whose chat lock it
        took; how many it claimed (0: nothing to do now)."""
        free = CLAIM_LIMIT - len(self.in_flight)
        if free <= 0:
            return 0
        now = time.time()
        claimed = await self.write(
            functools.partial(self.inbox.claim, self.replica, LEASE_SECONDS, free, now)
        )
        if not claimed:
            return 0
        taken = await self.write(functools.partial(self._lock_chats, claimed, now))
        for item, name in taken:
            self.in_flight.add(item.update_id)
            self.chat_locks[item.update_id] = name
            self.requeue(Update.de_json(item.data, bot))
        return len(claimed)

    def _lock_chats(
        self, claimed: list[PendingUpdate], now: float
    ) -> list[tuple[PendingUpdate, str]]:
        """(Blocking) take each claimed update's chat lock; postpone the updates whose chat is
        being answered still (by another replica past its lease, or by this one)."""
        taken = []
        for item in claimed:
            name = CHAT_LOCK.format(chat_key(item.update_id, item.data))
            if self.locks.try_take(name):
                taken.append((item, name))
            else:
                logger.info("Update %d waits: its chat is being answered", item.update_id)
                self.inbox.postpone(self.replica, item.update_id, now + POSTPONE_SECONDS)
        return taken

    async def claim_forever(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Claim what this replica can answer and queue it, until cancelled."""
        while True:
            self._wake.clear()
            if not await self.claim_once(application.bot):
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
