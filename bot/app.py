"""Builds the python-telegram-bot Application: handlers, command menus, error handler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import signal
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
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

from index.errors import StoryError
from index.language import load as load_language_model

from . import admin, answering, buttons, commands, corpus_admin, sqlite
from .admin import notify_admins
from .commands import ADMIN_COMMANDS, PUBLIC_COMMANDS
from .config import Config, ConfigError, Secret
from .context import CONTEXT_TYPES, BotApplication
from .corpus_watch import watch_and_reindex
from .delivery import RetryingRateLimiter
from .error_handler import error_handler
from .gap_recorder import GapRecorder
from .i18n import Notice, Translator, reply_language
from .inbox import DeadLetter, DurableApplication, DurableQueue, Inbox
from .index_watch import IndexWatcher
from .jobs import ReindexJob
from .redact import TokenFilter, install_token_filter
from .request import AiohttpRequest, UpdatesRequest
from .runtime import make_embedder, open_engine
from .services import Services
from .state import StateStore
from .web import create_web_app, stop_accepting

__all__ = ["TokenFilter", "build_application", "run_bot", "serve"]

logger = logging.getLogger(__name__)


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
    # /add /remove /docs /latest and uploaded files (corpus_admin.py); before the catch-all
    # for non-text messages below, which would take the files
    corpus_admin.register(application)
    # The buttons under answers (buttons.py)
    application.add_handler(CallbackQueryHandler(buttons.button))
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
            config.chat.state_path,
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
        .update_queue(DurableQueue(inbox, updates.raw))
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
    return application


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


async def _load(services: Services) -> None:
    """Load the model, then the index (building it on a fresh checkout), off the event loop."""
    config = services.config
    try:
        services.unavailable = "The embedding model is loading."
        services.embedder = await asyncio.to_thread(make_embedder, config)
        services.unavailable = "The index is loading."
        engine = await asyncio.to_thread(open_engine, config, services.embedder)
        await asyncio.to_thread(load_language_model)  # questions' languages, about 1 s
    except StoryError as exc:
        services.unavailable = str(exc)
        logger.error("The bot cannot answer yet: %s", exc)
        return
    services.engine = engine
    services.install(engine.store)
    logger.info("Ready: %d passages indexed", len(engine.store))


async def serve(
    config: Config,
    *,
    webhook: bool = False,
    stop: asyncio.Event | None = None,
    watch: bool = False,
) -> None:
    """Run the bot until ``stop`` is set (SIGTERM and SIGINT set it in ``run_bot``).

    The web server (health, metrics, admin API, webhook) starts first, so health checks see
    the bot loading; on stop, updates stop being taken, replies in flight are finished, the
    webhook is removed, and the state store is closed.
    """
    stop = stop or asyncio.Event()
    path, max_bytes = config.chat.state_path, state_max_bytes(config)
    damaged = await asyncio.to_thread(sqlite.set_aside_if_damaged, path)
    state = await asyncio.to_thread(StateStore, path, max_bytes=max_bytes)
    inbox = await asyncio.to_thread(Inbox, path, health=state.health, max_bytes=max_bytes)
    services = Services(config=config, state=state)
    services.gaps = await asyncio.to_thread(
        GapRecorder.open,
        config,
        lambda: services.embedder,
        health=state.health,
        max_bytes=max_bytes,
    )
    application = build_application(config, services, webhook=webhook, inbox=inbox)
    web_app = create_web_app(application, services, webhook=webhook)
    runner = web.AppRunner(web_app, access_log=None)
    if config.web.enabled or webhook:
        await runner.setup()
        await web.TCPSite(runner, config.web.host, config.web.port).start()
        logger.info("Web server on http://%s:%d", config.web.host, config.web.port)
    tasks = [
        asyncio.create_task(prune_regularly(config, state, inbox, services.gaps), name="pruner")
    ]
    if watch:  # serve --watch: reindex when documents are dropped into corpus/
        tasks.append(asyncio.create_task(watch_and_reindex(config, services.reindexer, stop)))
    try:
        await _load(services)
        async with application:
            if damaged is not None:
                moved, problem = damaged
                await notify_admins(
                    application.bot,
                    config.telegram.admins,
                    lambda tr: tr.gettext(
                        "The state file was damaged ({problem}). I moved it to {path} and "
                        "started with a fresh one: conversations, feedback and unfinished "
                        "updates from before are in the moved file."
                    ).format(problem=problem, path=moved),
                    language_of=admin_language(services),
                )
            await _take_updates(application, services, web_app, webhook=webhook, stop=stop)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
        services.answering.shutdown(wait=False)
        await asyncio.to_thread(state.close)
        await asyncio.to_thread(inbox.close)
        await asyncio.to_thread(services.gaps.close)
        logger.info("Stopped")


async def prune_regularly(
    config: Config, state: StateStore, inbox: Inbox, gaps: GapRecorder | None = None
) -> None:
    """Every ``chat.prune_every_minutes`` (and at start): forget answers, feedback and dead
    letters older than ``chat.keep_days``, finished updates older than two days, and gap
    questions older than ``gaps.keep_days``."""
    keep = config.chat.keep_days * 86400
    while True:
        now = time.time()
        try:
            answers = await asyncio.to_thread(state.prune, now - keep)
            rows = await sqlite.write(
                functools.partial(inbox.prune, now, keep), inbox.health, "inbox"
            )
            questions = (
                await asyncio.to_thread(gaps.prune, config.gaps.keep_days, now) if gaps else 0
            )
            if answers or rows or questions:
                logger.info(
                    "Pruned %d old answer(s), %d inbox row(s) and %d gap question(s)",
                    answers,
                    rows,
                    questions,
                )
        except Exception:
            logger.exception("Pruning failed; trying again at the next round")
        await asyncio.sleep(config.chat.prune_every_minutes * 60)


async def _take_updates(
    application: BotApplication,
    services: Services,
    web_app: web.Application,
    *,
    webhook: bool,
    stop: asyncio.Event,
) -> None:
    """Answer updates (those left from the last run first, then new ones from the webhook or
    long polling) until ``stop``; then take no more, and finish the replies and the reindex in
    flight. Call inside ``async with application``."""
    config = services.config
    if application.post_init is not None:  # run_polling and run_webhook would call it
        await application.post_init(application)
    await application.start()
    await replay_inbox(application)
    index_watcher = _watch_index(application, services)
    if webhook:
        await application.bot.set_webhook(
            config.web.webhook_url,
            secret_token=config.webhook_secret.get(),
            allowed_updates=Update.ALL_TYPES,
        )
        logger.info("Webhook registered; taking updates at %s", config.web.webhook_path)
    else:
        assert application.updater is not None  # built with one unless in webhook mode
        await application.updater.start_polling(
            allowed_updates=Update.ALL_TYPES, error_callback=_polling_error(services)
        )
        logger.info("Polling for updates")
    await stop.wait()
    index_watcher.cancel()
    logger.info("Stopping: no new updates; finishing the replies in flight")
    stop_accepting(web_app)
    if webhook:
        try:
            await application.bot.delete_webhook()
        except TelegramError as exc:
            logger.warning("Could not remove the webhook: %s", exc)
    elif application.updater is not None:
        await application.updater.stop()
    await services.reindexer.wait()
    await application.stop()


def _watch_index(application: BotApplication, services: Services) -> asyncio.Task[None]:
    """Tell admins about failed reindexes and an index that cannot load; serve an index that
    ``storybot reindex`` built meanwhile."""
    config = services.config
    admins = config.telegram.admins
    language_of = admin_language(services)

    async def tell(text: Notice) -> None:
        await notify_admins(application.bot, admins, text, language_of=language_of)

    async def tell_failed(_text: str, job: ReindexJob) -> None:
        # The admin who asked sees it in their progress message already.
        await notify_admins(
            application.bot, admins, job.progress_text, skip=job.user_id, language_of=language_of
        )

    services.reindexer.notify = tell_failed
    watcher = IndexWatcher(
        config.index.path,
        config.embedding_id,
        serving=lambda: services.engine.store if services.engine else None,
        install=services.install,
        busy=lambda: services.reindexer.running is not None,
        notify=tell,
    )

    async def run() -> None:
        if services.engine is None:
            reason = services.unavailable
            await tell(
                lambda tr: tr.gettext(
                    "I cannot answer questions: {reason}\n"
                    "Send /reindex to build the index from the corpus."
                ).format(reason=reason)
            )
        await watcher.run()

    return asyncio.get_running_loop().create_task(run(), name="index-watcher")


async def replay_inbox(application: BotApplication) -> int:
    """Queue the updates the last run received but did not finish (before taking new ones)."""
    queue = application.update_queue
    return await queue.replay(application) if isinstance(queue, DurableQueue) else 0


def _polling_error(services: Services) -> Callable[[TelegramError], None]:
    def callback(error: TelegramError) -> None:
        services.metrics.telegram_errors.labels(type(error).__name__).inc()
        logger.warning("Polling error (will retry): %s", error)

    return callback


def run_bot(config: Config, webhook: bool = False, watch: bool = False) -> int:
    """``storybot serve``: run until SIGTERM or Ctrl-C, then stop gracefully."""
    if webhook:
        if not config.web.webhook_url:
            raise ConfigError(
                "Webhook mode needs 'web.webhook_url', the public URL Telegram posts to."
            )
        if not config.webhook_secret:
            config = dataclasses.replace(config, webhook_secret=Secret(secrets.token_urlsafe(32)))
    # Every secret the process will hold exists now (the webhook's just made): mask them all.
    install_token_filter(config.token.get(), config.admin_token.get(), config.webhook_secret.get())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, webhook=webhook, stop=stop, watch=watch)

    asyncio.run(main())
    return 0
