"""The context every handler receives, typed: ``context.services`` is the bot's ``Services``.

``CONTEXT_TYPES`` goes to ``ApplicationBuilder.context_types``; python-telegram-bot then builds
each callback's context as a ``Context`` and ``application.bot_data`` as a ``BotData``.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from .services import Services

__all__ = ["CONTEXT_TYPES", "BotApplication", "BotData", "Context"]


class BotData:
    """``application.bot_data``: the shared services (set once by ``build_application``)."""

    __slots__ = ("services",)

    services: Services


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """A handler's context, with the shared services typed."""

    @property
    def services(self) -> Services:
        return self.bot_data.services


CONTEXT_TYPES = ContextTypes(context=Context, bot_data=BotData)

# The bot's Application with its types filled in (context, user, chat and bot data; the bot's
# type follows the rate limiter's, the job queue is unused): PTB's Application is generic in them.
BotApplication = Application[Any, Context, dict[Any, Any], dict[Any, Any], BotData, Any]
