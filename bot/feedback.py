"""Feedback on answers: 👍/👎 from the buttons under an answer and from reactions to it, stored
per answer and user (the latest vote counts), counted in /metrics, and the weekly helpfulness
rate /stats shows.

Reactions come as ``message_reaction`` updates: Telegram sends them only when the bot asks for
them in ``allowed_updates`` (``app.py`` asks for every type), and in groups only when the bot is
an administrator. A reaction set to 👍 or 👎 votes; changed, it replaces the vote; removed
(or changed to another emoji), it withdraws it. Other reactions are not votes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from telegram import ReactionType, ReactionTypeEmoji, Update
from telegram.ext import MessageReactionHandler

from .context import BotApplication, Context
from .gaps import THUMBS_DOWN, chat_kind
from .i18n import Translator, number
from .services import Services
from .state import AnswerRecord

__all__ = [
    "DOWN",
    "UP",
    "helpfulness",
    "helpfulness_lines",
    "message_reaction",
    "reaction_vote",
    "record_vote",
    "register",
    "weekly",
]

logger = logging.getLogger(__name__)

UP, DOWN = "👍", "👎"
WEEK = 7 * 86400
STATS_WEEKS = 4  # weeks /stats shows the helpfulness rate of (answers are kept chat.keep_days)


def register(application: BotApplication) -> None:
    application.add_handler(MessageReactionHandler(message_reaction))


def reaction_vote(old: Sequence[ReactionType], new: Sequence[ReactionType]) -> int | None:
    """What a change of reactions means: +1 or -1 a vote, 0 withdraws the user's vote, None is
    no vote at all (neither before nor after was a thumb). With both thumbs (premium users set
    several reactions), the one just added counts."""

    def thumbs(reactions: Sequence[ReactionType]) -> list[int]:
        return [
            1 if r.emoji == UP else -1
            for r in reactions
            if isinstance(r, ReactionTypeEmoji) and r.emoji in (UP, DOWN)
        ]

    before, after = thumbs(old), thumbs(new)
    if not after:
        return 0 if before else None
    added = [v for v in after if v not in before]
    return (added or after)[-1]


async def record_vote(
    svc: Services,
    record: AnswerRecord,
    user_id: int,
    value: int,
    *,
    source: str,
    chat_type: str | None,
) -> None:
    """Store a user's vote on an answer (0 withdraws it) and count it (``source``: "button" or
    "reaction"). A new 👎 puts the question in the gap report (asked in a ``chat_type`` chat)."""
    if value == 0:
        await asyncio.to_thread(svc.state.remove_feedback, record.key, user_id)
        return
    earlier = await asyncio.to_thread(svc.state.feedback, record.key)
    await asyncio.to_thread(svc.state.set_feedback, record.key, user_id, value)
    svc.metrics.feedback.labels("up" if value > 0 else "down", source).inc()
    if value < 0 and earlier.get(user_id) != value and svc.gaps is not None:
        await asyncio.to_thread(
            svc.gaps.record,
            record.question,
            reason=THUMBS_DOWN,
            chat_kind=chat_kind(chat_type),
            user_id=user_id,
            query=record.query,
        )


async def message_reaction(update: Update, context: Context) -> None:
    """A reaction to one of the bot's answers: 👍/👎 vote like the buttons."""
    reaction = update.message_reaction
    if reaction is None or reaction.user is None:  # anonymous (a channel or group admin)
        return
    value = reaction_vote(reaction.old_reaction, reaction.new_reaction)
    if value is None:
        return
    svc = context.services
    record = await asyncio.to_thread(
        svc.state.answer_for_message, reaction.chat.id, reaction.message_id
    )
    if record is None:  # not an answer (a notice, a passage shown by a button)
        return
    await record_vote(
        svc, record, reaction.user.id, value, source="reaction", chat_type=reaction.chat.type
    )


def helpfulness_lines(
    weeks: Sequence[tuple[float, int, int]], tr: Translator, language: str
) -> list[str]:
    """/stats lines: per week (its Monday, 👍, 👎) the rate 👍 / (👍 + 👎), newest first."""
    lines = []
    for start, up, down in sorted(weeks, reverse=True):
        day = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
        rate = helpfulness(up, down)
        if rate is None:
            lines.append(tr.gettext("Week of {day}: no votes").format(day=day))
            continue
        lines.append(
            tr.gettext("Week of {day}: {rate} helpful (👍 {up}  👎 {down})").format(
                day=day,
                rate=percent(rate, language),
                up=number(up, language),
                down=number(down, language),
            )
        )
    return lines


def percent(value: float, language: str) -> str:
    """A share as a whole percentage, as the language writes it: 73% in English, 73 % in
    French (a narrow no-break space)."""
    space = "\u202f" if language == "fr" else ""
    return f"{round(100 * value)}{space}%"


def helpfulness(up: int, down: int) -> float | None:
    """👍 / (👍 + 👎); None without votes."""
    return up / (up + down) if up + down else None


def week_starts(now: float, weeks: int = STATS_WEEKS) -> list[float]:
    """The Monday 00:00 UTC starting each of the last ``weeks`` weeks, this one last."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today.timestamp() - today.weekday() * 86400
    return [monday - i * WEEK for i in range(weeks - 1, -1, -1)]


def weekly(svc: Services, now: float | None = None) -> list[tuple[float, int, int]]:
    """(week start, 👍, 👎) of the votes of the last ``STATS_WEEKS`` weeks. Blocking."""
    starts = week_starts(time.time() if now is None else now)
    counts = svc.state.feedback_between([*starts, starts[-1] + WEEK])
    return [(start, up, down) for start, (up, down) in zip(starts, counts, strict=True)]
