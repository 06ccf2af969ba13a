"""/gaps for admins (the top gaps of the last week; ``/gaps forget`` drops them all), the
weekly digest, and the notices of gaps that a new index closed."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Update
from telegram.constants import MessageLimit, ParseMode
from telegram.error import TelegramError

from index.engine import Engine

from .admin import admin_only
from .context import BotApplication, Context
from .formatting import shorten
from .gap_closing import close_answered
from .gap_recorder import GapRecorder
from .gap_schedule import next_run, parse_digest
from .gaps import Gap
from .i18n import Notice, Translator, language_for, number, reply_language, translator
from .replies import reply
from .services import Services

__all__ = [
    "REPORT_DAYS",
    "digest_regularly",
    "format_gaps",
    "gaps_command",
    "send_digest",
    "watch_closing",
]

logger = logging.getLogger(__name__)

REPORT_DAYS = 7  # /gaps and the digest cover this many days
EXAMPLE_CHARS = 160  # an example question is shown up to this long
TITLE_CHARS = 120


def format_gaps(gaps: Sequence[Gap], top: int, tr: Translator, language: str) -> str:
    """The top gaps as HTML: each with its count, two example questions and the nearest
    document; within Telegram's message limit (pure)."""
    _ = tr.gettext
    if not gaps:
        return _(
            "No open gaps in the last {days} days: every question found a confident answer."
        ).format(days=REPORT_DAYS)
    total = sum(g.count for g in gaps)
    lines = [
        _("<b>Gaps of the last {days} days</b>: {questions} question(s) in {gaps} gap(s).").format(
            days=REPORT_DAYS, questions=number(total, language), gaps=number(len(gaps), language)
        )
    ]
    shown = gaps[:top]
    for rank, gap in enumerate(shown, start=1):
        head = tr.ngettext(
            "{rank}. <b>{count} question</b>", "{rank}. <b>{count} questions</b>", gap.count
        ).format(rank=rank, count=number(gap.count, language))
        if gap.nearest:
            head += " · " + _("nearest: ‹{title}›").format(
                title=html.escape(shorten(gap.nearest, TITLE_CHARS))
            )
        block = [head] + [
            f"   • <i>{html.escape(shorten(q, EXAMPLE_CHARS))}</i>" for q in gap.examples
        ]
        if len("\n".join([*lines, *block])) > MessageLimit.MAX_TEXT_LENGTH - 100:
            shown = gaps[: rank - 1]
            break
        lines.append("")
        lines.extend(block)
    if len(gaps) > len(shown):
        lines += ["", _("… and {more} more gap(s).").format(more=len(gaps) - len(shown))]
    return "\n".join(lines)


async def gaps_command(update: Update, context: Context) -> None:
    """/gaps (admins): the top gaps of the last week; /gaps forget: forget them all."""
    message = await admin_only(update, context, "gaps")
    if message is None:
        return
    svc = context.services
    language = language_for(update, context)
    tr = translator(language)
    _ = tr.gettext
    if svc.gaps is None:
        await reply(message, _("The gap report is off."))
        return
    args = [a.lower() for a in context.args or []]
    if args == ["forget"]:
        dropped = await asyncio.to_thread(svc.gaps.forget)
        await reply(
            message,
            _(
                "Forgot the gap report: {open} open and {closed} closed question(s) dropped."
            ).format(
                open=number(dropped["open"], language), closed=number(dropped["closed"], language)
            ),
        )
        return
    if args:
        await reply(message, _("Usage: /gaps (the top gaps of the last week) or /gaps forget."))
        return
    gaps = await asyncio.to_thread(svc.gaps.gaps, REPORT_DAYS)
    await reply(message, format_gaps(gaps, svc.config.gaps.top, tr, language))


async def send_digest(application: BotApplication, services: Services) -> int:
    """The weekly digest to every admin, in their language (nothing when there are no gaps);
    how many gaps it listed."""
    if services.gaps is None:
        return 0
    gaps = await asyncio.to_thread(services.gaps.gaps, REPORT_DAYS)
    if not gaps:
        return 0
    top = services.config.gaps.top
    default = services.config.chat.default_language
    for admin in services.config.telegram.admins:
        language = reply_language(chosen=services.state.chat_language(admin), default=default)
        text = format_gaps(gaps, top, translator(language), language)
        try:
            await application.bot.send_message(admin, text, parse_mode=ParseMode.HTML)
        except TelegramError as exc:  # the admin never started the bot, or blocked it
            logger.warning("Could not send the gap digest to admin %s: %s", admin, exc)
    return min(len(gaps), top)


async def digest_regularly(application: BotApplication, services: Services) -> None:
    """Send the digest at ``gaps.digest`` every week (the setting was checked at load)."""
    when = parse_digest(services.config.gaps.digest)
    if when is None:
        return
    while True:
        now = dt.datetime.now(dt.UTC)
        due = next_run(when, now)
        await asyncio.sleep((due - now).total_seconds())
        try:
            listed = await send_digest(application, services)
            logger.info("Sent the weekly gap digest (%d gap(s))", listed)
        except Exception:
            logger.exception("The gap digest failed; trying again next week")


def watch_closing(
    application: BotApplication,
    services: Services,
    notify: Callable[[Notice], Awaitable[None]],
) -> None:
    """After every new index generation, close the gaps it answers (in the background; one
    pass at a time, so two quick reindexes never close, and announce, a question twice)."""
    one_at_a_time = asyncio.Lock()

    async def close(gaps: GapRecorder, engine: Engine) -> None:
        async with one_at_a_time:
            await close_answered(gaps, engine, notify)

    def installed(_store: object) -> None:
        if services.gaps is None or services.engine is None:
            return
        application.create_task(close(services.gaps, services.engine), name="close-gaps")

    services.index_listeners.append(installed)
