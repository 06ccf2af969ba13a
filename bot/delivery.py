"""Getting replies to Telegram through a flaky network: rate limits and retries.

Telegram answers 429 with ``retry_after`` when a bot sends too fast; PTB's AIORateLimiter keeps
under the documented limits and waits out a 429. Everything else that can go wrong on the way
(500, 502, timeouts, dropped connections) reaches the bot as a NetworkError; a reply is worth
sending again, so :class:`RetryingRateLimiter` retries those with exponential backoff. A request
that Telegram refuses on its merits (BadRequest, Forbidden) is never retried.

A retry after a timeout can deliver a message twice when Telegram had accepted it and only its
answer was lost: the Bot API has no idempotency key, so that is the one duplicate that cannot be
avoided, and it is rare (a lost answer, not a lost request).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import AIORateLimiter

__all__ = ["RetryingRateLimiter", "retry_delay"]

logger = logging.getLogger(__name__)

# Cosmetic calls: not worth holding up an answer for.
NO_RETRY = frozenset({"sendChatAction", "getUpdates"})


def retry_delay(
    endpoint: str, error: Exception, attempt: int, attempts: int, base: float
) -> float:
    """Seconds to wait before trying ``endpoint`` again after ``error``; -1 to give up.

    ``attempt`` counts from 1 (the call that just failed).
    """
    if attempt >= attempts or endpoint in NO_RETRY:
        return -1.0
    # NetworkError covers 5xx, timeouts and dropped connections; a bare TelegramError is an
    # answer that was not the Bot API's JSON (a proxy's error page). BadRequest, Forbidden and
    # the like are Telegram's verdict on the request itself: sending it again cannot help.
    transient = isinstance(error, NetworkError) or type(error) is TelegramError
    if not transient or isinstance(error, BadRequest):
        return -1.0
    return min(base * 2 ** (attempt - 1), 8.0)


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (Telegram's limits, 429 handling) plus retries on network errors.

    ``overall_per_second`` and ``group_per_minute`` are Telegram's broadcast and group limits;
    0 turns a limit off (for a test server, or a benchmark of the bot's own capacity).
    """

    def __init__(
        self,
        *,
        overall_per_second: float = 30,
        group_per_minute: float = 20,
        attempts: int = 6,
        base_delay: float = 0.5,
        max_retries_429: int = 5,
    ) -> None:
        super().__init__(
            overall_max_rate=overall_per_second,
            overall_time_period=1,
            group_max_rate=group_per_minute,
            group_time_period=60,
            max_retries=max_retries_429,
        )
        self._attempts = attempts
        self._base_delay = base_delay

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        attempt = 1
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except TelegramError as exc:
                delay = retry_delay(endpoint, exc, attempt, self._attempts, self._base_delay)
                if delay < 0:
                    raise
                logger.info(
                    "%s failed (%s: %s); retry %d in %.1f s",
                    endpoint,
                    type(exc).__name__,
                    exc,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                attempt += 1
