"""Replicas sharing their state in PostgreSQL: each keeps every chat's /language choice in
memory (``StateStore.chat_language``, read on the event loop without a query), so each re-reads
them every ``REFRESH_SECONDS``, and a choice made on one replica applies on the others within
that long."""

from __future__ import annotations

import asyncio
import logging

from .sqlite import TRANSIENT_ERRORS
from .state import StateStore

__all__ = ["REFRESH_SECONDS", "refresh_languages_forever"]

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0


async def refresh_languages_forever(state: StateStore, seconds: float = REFRESH_SECONDS) -> None:
    """Re-read the chats' language choices every ``seconds``, until cancelled; while the
    database cannot be read, the choices known stay in use."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(state.reload_languages)
        except TRANSIENT_ERRORS as exc:
            logger.warning("Could not re-read the chats' language choices: %s", exc)
