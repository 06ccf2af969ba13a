"""Long polling with replicas: Telegram allows one getUpdates consumer per bot (a second gets
409 Conflict), so exactly one replica polls, elected through a PostgreSQL advisory lock.

Every replica that shares the state tries to take the lock every ``CHECK_SECONDS``. The one that
holds it first answers what the inbox holds unfinished (the updates a poller that died had
taken), then polls; while it polls it checks every ``CHECK_SECONDS`` that the database still
has its session, and stops polling at once if not. The others wait, warm (model and index
loaded, /healthz 200), and one of them takes over within seconds of the poller's death:
PostgreSQL releases the lock as soon as the dead process's connection closes (SIGKILL,
crash), or after about 11 s of silence from a machine that vanished. While the database is
down nobody polls; the first replica to reach it again is elected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .sqlite import TRANSIENT_ERRORS
from .storage import Database

__all__ = ["CHECK_SECONDS", "POLLER_LOCK", "poll_while_elected"]

logger = logging.getLogger(__name__)

POLLER_LOCK = "storybot poller"
CHECK_SECONDS = 1.0


async def poll_while_elected(
    database: Database,
    start: Callable[[], Awaitable[None]],
    halt: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
) -> None:
    """Until ``stop``: take the poller's lock when it is free, then ``start`` (replay and poll);
    if the lock is lost, ``halt`` and go back to waiting. Leaves polling to the caller's
    shutdown when ``stop`` is set."""
    waiting_said = False
    while not stop.is_set():
        hold = database.hold(POLLER_LOCK)
        try:
            alive = await asyncio.to_thread(hold.__enter__)
        except TRANSIENT_ERRORS as exc:  # the database is down: nobody can be elected now
            logger.warning("Cannot reach the database to elect a poller (%s); trying again", exc)
            await _sleep_unless(stop, CHECK_SECONDS)
            continue
        try:
            if alive is None:
                if not waiting_said:
                    logger.info("Another replica polls Telegram; standing by to take over")
                    waiting_said = True
                await _sleep_unless(stop, CHECK_SECONDS)
                continue
            logger.info("Elected to poll Telegram (lock %r held)", POLLER_LOCK)
            await start()
            while not stop.is_set() and await asyncio.to_thread(alive):
                await _sleep_unless(stop, CHECK_SECONDS)
            if stop.is_set():
                return
            logger.error("Lost the poller's lock (the database lost our session): stopping")
            await halt()
            waiting_said = False
        finally:
            with contextlib.suppress(Exception):  # a dead session cannot be closed cleanly
                await asyncio.to_thread(hold.__exit__, None, None, None)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
