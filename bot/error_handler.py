"""The one error handler: every error a handler raises is logged, and the asker told."""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.error import TelegramError

from index.errors import StoryError

from .context import Context
from .i18n import translator_for
from .inbox import will_retry
from .replies import reply

__all__ = ["error_handler"]

logger = logging.getLogger(__name__)


async def error_handler(update: object, context: Context) -> None:
    """Log every error with its traceback; tell the asker politely when there is one.

    A StoryError is the user-facing kind (its message is for them); anything else is a bug,
    logged with its traceback, and the asker gets an apology, once the update will not be
    tried again (``inbox.will_retry``)."""
    error = context.error
    if isinstance(error, TelegramError):
        context.services.metrics.telegram_errors.labels(type(error).__name__).inc()
    if error is not None and will_retry(error):
        logger.error("Error while processing an update; it will be tried again", exc_info=error)
        return
    asked = update if isinstance(update, Update) else None
    message = asked.effective_message if asked is not None else None
    typed = message.text if message is not None else None
    question = typed if typed and not typed.startswith("/") else None
    _ = translator_for(asked, context, question).gettext
    if isinstance(error, StoryError):  # (its text comes from index/, in English)
        logger.warning("Update failed: %s", error)
        text = html.escape(str(error))
    else:
        logger.error("Unhandled error while processing an update", exc_info=error)
        text = _("Sorry, something went wrong while answering. Please try again in a moment.")
    if message is not None:
        try:
            await reply(message, text)
        except TelegramError:
            logger.warning("Could not tell the user about the error")
