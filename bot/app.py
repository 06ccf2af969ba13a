"""Builds the python-telegram-bot Application: handlers, command menus, error handler."""

from __future__ import annotations

import logging
import re

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from index.engine import Engine

from . import handlers
from .config import Config
from .handlers import Services
from .jobs import Reindexer
from .state import StateStore

__all__ = ["TokenFilter", "build_application", "run_bot"]

logger = logging.getLogger(__name__)

PUBLIC_COMMANDS = [
    BotCommand("ask", "Ask a question (in groups)"),
    BotCommand("sources", "Documents I know"),
    BotCommand("help", "How to ask"),
    BotCommand("start", "What I know about"),
]
ADMIN_COMMANDS = [
    *PUBLIC_COMMANDS,
    BotCommand("reindex", "Rebuild the index from the corpus"),
    BotCommand("stats", "Usage and index figures"),
]


class TokenFilter(logging.Filter):
    """Masks the bot token in every log record that passes a handler, wherever it appears."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        parts = [re.escape(s) for s in secrets if s]
        self._pattern = re.compile("|".join(parts)) if parts else None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        message = record.getMessage()
        if self._pattern.search(message):
            record.msg = self._pattern.sub("[REDACTED]", message)
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if self._pattern.search(text):
                record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}, redacted)"
                record.exc_info = None
                record.exc_text = None
        return True


def install_token_filter(*secrets: str) -> None:
    """Attach the token mask to every handler of the root logger."""
    token_filter = TokenFilter(*secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(token_filter)


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Every handler in one place."""
    application.add_handler(CommandHandler("start", handlers.start))
    application.add_handler(CommandHandler("help", handlers.help_command))
    application.add_handler(CommandHandler("sources", handlers.sources))
    application.add_handler(CommandHandler("ask", handlers.ask_command))
    application.add_handler(CommandHandler("reindex", handlers.reindex_command))
    application.add_handler(CommandHandler("stats", handlers.stats_command))
    application.add_handler(CallbackQueryHandler(handlers.button))
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(
        MessageHandler(text & filters.UpdateType.MESSAGES, handlers.question_message)
    )
    application.add_handler(
        MessageHandler(
            (
                filters.Sticker.ALL
                | filters.PHOTO
                | filters.VOICE
                | filters.AUDIO
                | filters.VIDEO
                | filters.VIDEO_NOTE
                | filters.Document.ALL
                | filters.ANIMATION
                | filters.LOCATION
                | filters.CONTACT
                | filters.POLL
            )
            & filters.UpdateType.MESSAGE,
            handlers.unsupported_message,
        )
    )
    application.add_error_handler(handlers.error_handler)


async def set_command_menus(application: Application, admins: list[int]) -> None:  # type: ignore[type-arg]
    """Public commands for everyone; admins also see /reindex and /stats in their chat."""
    await application.bot.set_my_commands(PUBLIC_COMMANDS, scope=BotCommandScopeDefault())
    for admin in admins:
        try:
            await application.bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(admin))
        except TelegramError as exc:  # the admin has not started a chat with the bot yet
            logger.warning("Could not set the admin command menu for %s: %s", admin, exc)


def build_application(
    config: Config,
    engine: Engine,
    state: StateStore,
    reindexer: Reindexer | None = None,
    *,
    webhook: bool = False,
) -> Application:  # type: ignore[type-arg]
    """The Application, wired to the engine and the state store (both already open)."""
    builder = (
        ApplicationBuilder()
        .token(config.token.get())
        .defaults(Defaults(block=True))
        .concurrent_updates(16)
        .rate_limiter(AIORateLimiter(max_retries=3))
    )
    if config.telegram.base_url:
        root = config.telegram.base_url.rstrip("/")
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    if webhook:
        builder = builder.updater(None)

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        await set_command_menus(application, config.telegram.admins)

    builder = builder.post_init(post_init)
    application = builder.build()
    application.bot_data["services"] = Services(
        config=config,
        engine=engine,
        state=state,
        reindexer=reindexer or Reindexer(config, engine),
    )
    register_handlers(application)
    return application


def run_bot(config: Config) -> int:
    """``storybot serve``: long polling until interrupted."""
    from .runtime import open_engine

    install_token_filter(config.token.get())
    engine = open_engine(config)
    state = StateStore(config.chat.state_path)
    application = build_application(config, engine, state)
    logger.info("Starting the bot (long polling); %d passages indexed", len(engine.store))
    try:
        application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
    finally:
        state.close()
    return 0
