"""A gap closes itself: after each new index generation the open gap questions are asked
again, and those now answered with confidence are closed by the document that answered them;
the admins get one notice per document."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from index.engine import Engine

from .gap_recorder import GapRecorder
from .gaps import GapQuestion
from .i18n import Notice, Translator

__all__ = ["MAX_RECHECKED", "answered_now", "close_answered", "closing_notices"]

logger = logging.getLogger(__name__)

MAX_RECHECKED = 1000  # distinct open questions asked again after a reindex (the newest)


def answered_now(engine: Engine, questions: Sequence[GapQuestion]) -> dict[int, str]:
    """The questions the engine now answers with confidence (found and not hedged): id -> the
    title of the document whose sentence answers it. Each distinct text is asked once, the
    newest ``MAX_RECHECKED`` of them. Blocking (the engine)."""
    by_text: dict[str, list[int]] = {}
    for q in reversed(questions):  # newest first
        by_text.setdefault(q.question, []).append(q.id)
    closed: dict[int, str] = {}
    for text, ids in list(by_text.items())[:MAX_RECHECKED]:
        answer = engine.ask(text)
        if answer.found and answer.sure and answer.sentences:
            title = answer.sentences[0].passage.title or answer.sentences[0].passage.doc_id
            closed.update(dict.fromkeys(ids, title))
    return closed


def closing_notices(closed: dict[int, str]) -> list[tuple[str, int]]:
    """(document title, questions it now answers), the most first (ties: by title)."""
    counts = Counter(closed.values())
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _notice(title: str, count: int, tr: Translator) -> str:
    return tr.ngettext(
        "{count} open question is now answered by ‹{title}›.",
        "{count} open questions are now answered by ‹{title}›.",
        count,
    ).format(count=count, title=title)


async def close_answered(
    gaps: GapRecorder, engine: Engine, notify: Callable[[Notice], Awaitable[None]]
) -> int:
    """Ask the open gap questions again on the engine's (new) index, close those it now
    answers, and tell the admins once per document; how many closed."""
    questions = await asyncio.to_thread(gaps.store.questions, 0.0)
    if not questions:
        return 0
    started = time.perf_counter()
    closed = await asyncio.to_thread(answered_now, engine, questions)
    if closed:
        await asyncio.to_thread(gaps.store.close_questions, closed, time.time())
    logger.info(
        "Asked %d open gap question(s) again on the new index in %.1f s: %d now answered",
        len(questions),
        time.perf_counter() - started,
        len(closed),
    )
    for title, count in closing_notices(closed):
        await notify(functools.partial(_notice, title, count))
    return len(closed)
