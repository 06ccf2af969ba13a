"""Builds the python-telegram-bot Application: handlers, command menus, error handler."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from telegram import BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from . import admin, answering, buttons, commands, corpus_admin, feedback, gap_commands, inline
from .admin import notify_admins
from .commands import ADMIN_COMMANDS, PUBLIC_COMMANDS
from .config import Config
from .context import CONTEXT_TYPES, BotApplication
from .delivery import RetryingRateLimiter
from .error_handler import error_handler
from .i18n import Notice, Translator, reply_language
from .inbox import DeadLetter, DurableApplication, DurableQueue, Inbox
from .request import AiohttpRequest, UpdatesRequest
from .services import Services
from .shared_inbox import SharedQueue

__all__ = ["ALLOWED_UPDATES", "admin_language", "build_application", "state_max_bytes"]

logger = logging.getLogger(__name__)

# Every update type, by name: message_reaction (👍/👎 on answers) and chat_member come only to a
# bot that lists them; without allowed_updates Telegram leaves them out.
ALLOWED_UPDATES = list(Update.ALL_TYPES)


def register_handlers(application: BotApplication) -> None:
    """Every handler in one place: the table of contents of the bot. PTB tries the handlers in
    the order added and runs the first that matches an update."""
    # Everyone's commands (commands.py, answering.py)
    application.add_handler(CommandHandler("start", commands.start))
    application.add_handler(CommandHandler("help", commands.help_command))
    application.add_handler(CommandHandler("sources", commands.sources))
    application.add_handler(CommandHandler("language", commands.language_command))
    application.add_handler(CommandHandler("ask", answering.ask_command))
    # Admins' commands (admin.py; they refuse anyone else)
    application.add_handler(CommandHandler("reindex", admin.reindex_command))
    application.add_handler(CommandHandler("stats", admin.stats_command))
    application.add_handler(CommandHandler("gaps", gap_commands.gaps_command))
    # /add /remove /docs /latest and uploaded files (corpus_admin.py); before the catch-all
    # for non-text messages below, which would take the files
    corpus_admin.register(application)
    # The buttons under answers (buttons.py)
    application.add_handler(CallbackQueryHandler(buttons.button))
    # @bot question in any chat, and the results people send (inline.py)
    inline.register(application)
    # 👍/👎 reactions to answers (feedback.py)
    feedback.register(application)
    # Questions: any text that is not a command (answering.py)
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(
        MessageHandler(text & filters.UpdateType.MESSAGES, answering.question_message)
    )
    # Messages the bot cannot read (commands.py)
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
            commands.unsupported_message,
        )
    )
    # Last: a command none of the handlers above took (keep new commands above this line).
    application.add_handler(
        MessageHandler(filters.COMMAND & filters.UpdateType.MESSAGE, commands.unknown_command)
    )
    application.add_error_handler(error_handler)


async def set_command_menus(application: BotApplication, admins: list[int]) -> None:
    """Public commands for everyone; admins also see /reindex and /stats in their chat. Each
    menu in English, and in French for users whose Telegram is in French."""
    await commands.set_menu(application.bot, PUBLIC_COMMANDS, BotCommandScopeDefault())
    for admin_id in admins:
        try:
            await commands.set_menu(application.bot, ADMIN_COMMANDS, BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # the admin has not started a chat with the bot yet
            logger.warning("Could not set the admin command menu for %s: %s", admin_id, exc)


def _update_queue(
    config: Config, inbox: Inbox, updates: UpdatesRequest, *, webhook: bool
) -> DurableQueue:
    """The durable queue; webhook replicas on PostgreSQL share the inbox (each answers what it
    claims, ``shared_inbox.py``)."""
    if webhook and config.state.url:
        return SharedQueue(inbox, updates.raw)
    return DurableQueue(inbox, updates.raw)


def build_application(
    config: Config, services: Services, *, webhook: bool = False, inbox: Inbox | None = None
) -> BotApplication:
    """The Application, wired to the shared services (engine, state store, reindexer).

    Updates go through the durable ``inbox`` (by default next to the bot's state), so questions
    received before a crash are answered after the restart; one that keeps failing is set
    aside, and the admins are told.
    """
    telegram = config.telegram
    timeout = telegram.timeout_seconds
    updates = UpdatesRequest(1, timeout, timeout, timeout, timeout)
    if inbox is None:
        inbox = Inbox(
            services.state.db if config.state.url else config.chat.state_path,
            health=services.state.health,
            max_bytes=state_max_bytes(config),
        )
    builder = (
        ApplicationBuilder()
        .application_class(
            DurableApplication,
            kwargs={
                "poison_attempts": config.chat.poison_attempts,
                "update_timeout": config.chat.update_timeout_seconds,
            },
        )
        .context_types(CONTEXT_TYPES)
        .update_queue(_update_queue(config, inbox, updates, webhook=webhook))
        .token(config.token.get())
        .defaults(Defaults(block=True))
        .concurrent_updates(16)
        .request(AiohttpRequest(256, timeout, timeout, timeout, timeout))
        .get_updates_request(updates)
        .rate_limiter(
            RetryingRateLimiter(
                overall_per_second=telegram.messages_per_second,
                group_per_minute=telegram.group_messages_per_minute,
                attempts=telegram.send_attempts,
            )
        )
    )
    if config.telegram.base_url:
        root = config.telegram.base_url.rstrip("/")
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    if webhook:
        builder = builder.updater(None)

    async def post_init(application: BotApplication) -> None:
        await set_command_menus(application, config.telegram.admins)

    application = builder.post_init(post_init).build()
    application.bot_data.services = services
    if isinstance(application, DurableApplication):
        application.on_dead_letter = _tell_dead_letter(application, services)
    register_handlers(application)
    gap_commands.watch_closing(application, services, _admin_notifier(application, services))
    return application


def _admin_notifier(
    application: BotApplication, services: Services
) -> Callable[[Notice], Awaitable[None]]:
    """Sends a notice to every admin, each in their language."""

    async def tell(text: Notice) -> None:
        await notify_admins(
            application.bot,
            services.config.telegram.admins,
            text,
            language_of=admin_language(services),
        )

    return tell


def state_max_bytes(config: Config) -> int:
    return int(config.chat.state_max_mb * 1024 * 1024)


def _tell_dead_letter(
    application: BotApplication, services: Services
) -> Callable[[DeadLetter], Awaitable[None]]:
    """Tell every admin, once, that an update was set aside (its kind, never its text)."""

    def notice(dead: DeadLetter, tr: Translator) -> str:
        return tr.gettext(
            "I set aside an update after {attempts} failed attempt(s) and will not try it "
            "again: {update} (update {id}).\nLast error: {error}\nOn the server, "
            "`storybot inbox` lists it; `storybot inbox --retry {id}` puts it back for the "
            "next start, `--drop {id}` forgets it."
        ).format(
            attempts=dead.attempts, update=dead.describe(), id=dead.update_id, error=dead.error
        )

    async def tell(dead: DeadLetter) -> None:
        services.metrics.dead_letters.inc()
        await notify_admins(
            application.bot,
            services.config.telegram.admins,
            functools.partial(notice, dead),
            language_of=admin_language(services),
        )

    return tell


def admin_language(services: Services) -> Callable[[int], str]:
    """The language of an admin's notices: their private chat's /language choice, else
    ``chat.default_language`` (a notice answers no message, so there is no language_code)."""
    default = services.config.chat.default_language

    def language(admin_id: int) -> str:
        return reply_language(chosen=services.state.chat_language(admin_id), default=default)

    return language
