"""A durable inbox: every update is written to the state database (SQLite, or PostgreSQL with
``[state] url``; the tables are in ``inbox_store.py``) before Telegram is told it was received,
and an update that keeps failing is set aside instead of being tried for ever.

python-telegram-bot confirms a batch of updates to Telegram when it asks for the next batch, so
a bot killed after that moment, but before it answered, would lose those questions for good.
The inbox closes that gap. Updates pass through :class:`DurableQueue` (the Application's update
queue, fed by both long polling and the webhook), which stores each one before it is queued;
:class:`DurableApplication` marks an update done once its handlers have run. At start-up the
updates that were received but never finished are put back on the queue, in the order they
came, and a copy that Telegram delivers again is dropped, so nothing is answered twice.

Poison updates: each attempt at an update is counted in the file *before* its handlers run, so
an attempt cut short by the process dying counts too. An update whose handling crashes, times
out or is interrupted ``poison_attempts`` times moves to the ``dead_letters`` table, the admins
are told once, and it is never tried again (``storybot inbox`` lists it, and can retry or drop
it). Updates that an earlier run had begun are replayed one at a time, so an update that kills
the process cannot take the others in flight with it.

Every write runs off the event loop and is retried while the database cannot take it (disk
full, locked by another process, the PostgreSQL server gone): polling waits instead of ending,
nothing is lost, and ``WriteHealth`` tells /healthz why the bot is not taking updates.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.error import Forbidden
from telegram.ext import Application

from index.errors import StoryError

from . import sqlite
from .inbox_store import WRITER, DeadLetter, Inbox, PendingUpdate, update_kind
from .redact import describe_error

__all__ = [
    "DeadLetter",
    "DurableApplication",
    "DurableQueue",
    "Inbox",
    "PendingUpdate",
    "update_kind",
    "will_retry",
]

logger = logging.getLogger(__name__)

# -- the attempt in progress ------------------------------------------------------------------


@dataclass(slots=True)
class _Attempt:
    """The attempt at an update whose handlers are running in this task."""

    update_id: int
    number: int
    last: bool  # no attempt follows this one
    error: BaseException | None = None


_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "storybot_attempt", default=None
)


def _is_failure(error: BaseException) -> bool:
    """Whether an error a handler raised is a failure to try again: not the user-facing kind
    (StoryError, already told to the user) nor a chat the bot may not write to."""
    return not isinstance(error, StoryError | Forbidden)


def will_retry(error: BaseException) -> bool:
    """Whether the update whose handler raised ``error`` will be tried again (so the asker is
    not told it failed yet). For the error handler."""
    attempt = _ATTEMPT.get()
    return attempt is not None and attempt.error is error and not attempt.last


# -- the queue and the application ------------------------------------------------------------


class DurableQueue(asyncio.Queue[object]):
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

    def _data(self, update: Update) -> dict[str, Any]:
        data = self.raw.pop(update.update_id, None)
        return data if data is not None else update.to_dict()

    async def put(self, item: object) -> None:
        """Store an update (off the event loop, retried while the file cannot take it: the
        caller, long polling or the webhook, waits), then queue it."""
        if isinstance(item, Update):
            data = self._data(item)
            stored = await sqlite.write(
                lambda: self.inbox.add(item.update_id, data), self.inbox.health, WRITER
            )
            if not stored:
                logger.info("Dropped update %d: it was received before", item.update_id)
                return
        super().put_nowait(item)

    def put_nowait(self, item: object) -> None:
        """``put`` without waiting: the write runs on the caller's thread (tests, tools)."""
        if isinstance(item, Update) and not self.inbox.add(item.update_id, self._data(item)):
            logger.info("Dropped update %d: it was received before", item.update_id)
            return
        super().put_nowait(item)

    def requeue(self, update: Update) -> None:
        """Queue an update that is in the inbox already (to try it again)."""
        super().put_nowait(update)

    async def mark_done(self, update_id: int) -> None:
        """Record that an update's handlers have run."""
        await self.write(lambda: self.inbox.done(update_id))

    def finished(self, update_id: int) -> None:
        """An update is done with (answered, or set aside); for queues that track them."""

    async def write(self, call: Callable[[], Any]) -> Any:
        return await sqlite.write(call, self.inbox.health, WRITER)

    async def replay(self, application: Application[Any, Any, Any, Any, Any, Any]) -> int:
        """The updates left unfinished by the last run (call before taking new ones): those
        tried too often are set aside, those an earlier run had begun are handled now, one at
        a time, and those never begun are queued. Returns how many were taken up again."""
        pending = await self.write(self.inbox.pending)
        if pending:
            logger.info("Answering %d update(s) received before the last stop", len(pending))
        durable = application if isinstance(application, DurableApplication) else None
        limit = durable.poison_attempts if durable is not None else 0
        begun = [p for p in pending if p.attempts]
        for item in begun:
            update = Update.de_json(item.data, application.bot)
            if durable is not None and limit and item.attempts >= limit:
                error = item.error or f"the bot stopped while handling it ({item.attempts} times)"
                await durable.set_aside(update, error)
            else:
                await application.process_update(update)
        for item in pending:
            if not item.attempts:
                super().put_nowait(Update.de_json(item.data, application.bot))
        return len(pending)


OnDeadLetter = Callable[[DeadLetter], Awaitable[None]]


class DurableApplication(Application[Any, Any, Any, Any, Any, Any]):
    """An Application that counts each attempt at an update before its handlers run, marks it
    done once they have, and sets it aside after ``poison_attempts`` failed attempts (a crash,
    a timeout after ``update_timeout`` seconds, or the process dying), telling
    ``on_dead_letter``.

    A failed attempt before the last is tried again after 2, 4, ... seconds, and the asker is
    not told of it (``will_retry``); after the last, the error handler apologises as usual.
    """

    def __init__(
        self, *, poison_attempts: int = 3, update_timeout: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.poison_attempts = poison_attempts
        self.update_timeout = update_timeout
        self.on_dead_letter: OnDeadLetter | None = None

    async def process_update(self, update: object) -> None:
        queue = self.update_queue
        if not isinstance(update, Update) or not isinstance(queue, DurableQueue):
            await super().process_update(update)
            return
        update_id = update.update_id
        number = await queue.write(lambda: queue.inbox.begin(update_id))
        if self.poison_attempts and number > self.poison_attempts:
            await self.set_aside(update, f"tried {number - 1} times already")
            return
        attempt = _Attempt(update_id, number, last=number >= self.poison_attempts)
        token = _ATTEMPT.set(attempt)
        failure: str | None = None
        try:
            async with asyncio.timeout(self.update_timeout or None):
                await super().process_update(update)
        except TimeoutError:
            failure = f"TimeoutError: its handling took over {self.update_timeout:g} s"
            logger.error("Update %d timed out (attempt %d)", update_id, number)
        finally:
            _ATTEMPT.reset(token)
        if failure is None and attempt.error is not None:
            failure = describe_error(attempt.error)
        if failure is None:
            await queue.mark_done(update_id)
            queue.finished(update_id)
        elif attempt.last:
            await self.set_aside(update, failure)
        else:
            await queue.write(lambda: queue.inbox.failed(update_id, failure))
            delay = 2.0**number
            logger.warning(
                "Update %d failed (attempt %d of %d); trying again in %g s",
                update_id,
                number,
                self.poison_attempts,
                delay,
            )
            asyncio.get_running_loop().call_later(delay, queue.requeue, update)

    async def process_error(
        self,
        update: object | None,
        error: Exception,
        job: Any = None,
        coroutine: Any = None,
    ) -> bool:
        attempt = _ATTEMPT.get()
        if (
            attempt is not None
            and job is None
            and coroutine is None  # raised by a handler, not by a task it started
            and isinstance(update, Update)
            and update.update_id == attempt.update_id
            and _is_failure(error)
        ):
            attempt.error = error
        return await super().process_error(update, error, job, coroutine)

    async def set_aside(self, update: Update, error: str) -> None:
        """Move the update to the dead letters and tell ``on_dead_letter`` (once)."""
        queue = self.update_queue
        assert isinstance(queue, DurableQueue)
        dead = await queue.write(lambda: queue.inbox.set_aside(update.update_id, error))
        queue.finished(update.update_id)
        if dead is None:
            return
        logger.error(
            "Update %d (%s) set aside as a dead letter after %d attempt(s): %s",
            dead.update_id,
            dead.describe(),
            dead.attempts,
            dead.error,
        )
        if self.on_dead_letter is not None:
            try:
                await self.on_dead_letter(dead)
            except Exception:
                logger.exception("Could not report dead letter %d", dead.update_id)
