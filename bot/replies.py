"""How the bot writes back: HTML replies (quoting the question in groups) and best-effort edits
of a status message."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError

__all__ = ["NO_PREVIEW", "edit", "reply"]

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def reply(
    message: Message | None, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Reply in HTML; in groups as a reply to the asking message (inside its forum topic)."""
    if message is None:
        return None
    quote = message.chat.type != ChatType.PRIVATE
    return await message.reply_html(
        text, reply_markup=markup, link_preview_options=NO_PREVIEW, do_quote=quote
    )


async def edit(message: Message | None, text: str) -> None:
    """Replace a status message's text (HTML). Best effort: an edit Telegram refuses (the text
    did not change, the message was deleted) or that fails is logged, never raised."""
    if message is None:
        return
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)
    except BadRequest as exc:
        logger.debug("Status edit skipped: %s", exc)
    except TelegramError as exc:
        logger.warning("Status edit failed: %s", exc)
