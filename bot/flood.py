"""Every reply is rate limited: questions, commands, buttons, refusals and messages the bot
cannot read share one per-user budget (``chat.flood_questions`` in ``chat.flood_seconds``).

A user over it is told once per window, then ignored until the window passes, so one user can
never spend the bot's shared sending limits (30 messages a second, 20 a minute in a group).
"""

from __future__ import annotations

import html
import logging
import time

from telegram import Update

from .context import Context
from .i18n import N_, translator_for
from .inline_results import SLOW_DOWN_TITLE, article
from .replies import reply

__all__ = ["SLOW_DOWN", "admit"]

logger = logging.getLogger(__name__)

SLOW_DOWN = N_(
    "You are asking faster than I can answer. Please wait a few seconds, then ask again."
)


async def admit(update: Update, context: Context, question: str | None = None) -> bool:
    """Whether to answer ``update``: call it once a handler knows it would reply. Over the
    limit, the first update of the window gets a polite notice (an alert on a button, a result
    for an inline query; in the language of ``question``, when the update asks one) and False,
    later ones False alone."""
    user = update.effective_user
    verdict = context.services.flood_check(user.id if user else None, time.monotonic())
    if verdict == "ok":
        return True
    if verdict == "warn":
        logger.info("Throttling user %s", user.id if user else None)
        tr = translator_for(update, context, question)
        text = tr.gettext(SLOW_DOWN)
        query = update.callback_query
        if query is not None:
            await query.answer(text, show_alert=True)
        elif update.inline_query is not None:
            notice = article("slow-down", tr.gettext(SLOW_DOWN_TITLE), text, html.escape(text))
            # Personal and not cached: the next query after the window must reach the bot.
            await update.inline_query.answer([notice], cache_time=0, is_personal=True)
        else:
            await reply(update.effective_message, text)
    return False
