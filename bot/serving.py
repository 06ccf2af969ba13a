"""Running the bot: the web server first, then the model and the index off the event loop,
updates taken from the inbox, the webhook or long polling, regular pruning, the index watcher,
and a graceful stop on SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from telegram.error import TelegramError

from index.errors import StoryError
from index.language import load as load_language_model

from . import gap_commands, sqlite
from .admin import notify_admins
from .app import ALLOWED_UPDATES, admin_language, build_application
from .config import Config, ConfigError, Secret
from .context import BotApplication
from .corpus_watch import watch_and_reindex
from .gap_recorder import GapRecorder
from .gap_schedule import parse_digest
from .i18n import Notice
from .inbox import DurableQueue, Inbox
from .index_watch import IndexWatcher
from .jobs import ReindexJob
from .language_refresh import refresh_languages_forever
from .polling_leader import poll_while_elected
from .redact import install_token_filter, url_password
from .runtime import make_embedder, open_engine
from .services import Services
from .shared_inbox import SharedQueue
from .state import StateStore
from .state_database import open_databases
from .web import create_web_app, stop_accepting

__all__ = ["prune_regularly", "replay_inbox", "run_bot", "serve"]

logger = logging.getLogger(__name__)


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
    damaged, databases = await asyncio.to_thread(open_databases, config)
    state = await asyncio.to_thread(StateStore, databases[0])
    inbox = await asyncio.to_thread(Inbox, databases[-1], health=state.health)
    services = Services(config=config, state=state)
    services.gaps = await asyncio.to_thread(
        GapRecorder.open,
        config,
        lambda: services.embedder,
        health=state.health,
        max_bytes=int(config.chat.state_max_mb * 1024 * 1024),
        database=databases[0] if config.state.url else None,
    )
    if config.state.url:  # one reindex at a time across the replicas sharing the state
        services.reindexer.database = databases[0]
    application = build_application(config, services, webhook=webhook, inbox=inbox)
    web_app = create_web_app(application, services, webhook=webhook)
    runner = web.AppRunner(web_app, access_log=None)
    if config.web.enabled or webhook:
        await runner.setup()
        await web.TCPSite(runner, config.web.host, config.web.port).start()
        logger.info("Web server on http://%s:%d", config.web.host, config.web.port)
    tasks = _background_tasks(application, services, inbox, stop, watch=watch)
    try:
        await _load(services)
        async with application:
            if damaged is not None:
                await _tell_damaged(application, services, *damaged)
            await _take_updates(application, services, web_app, webhook=webhook, stop=stop)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
        services.answering.shutdown(wait=False)
        for db in databases:
            await asyncio.to_thread(db.close)
        await asyncio.to_thread(services.gaps.close)
        logger.info("Stopped")


def _background_tasks(
    application: BotApplication,
    services: Services,
    inbox: Inbox,
    stop: asyncio.Event,
    *,
    watch: bool,
) -> list[asyncio.Task[None]]:
    """What runs beside the updates: pruning, the weekly gap digest (when set), and with
    ``serve --watch`` the corpus watcher."""
    config = services.config
    tasks = [
        asyncio.create_task(
            prune_regularly(config, services.state, inbox, services.gaps), name="pruner"
        )
    ]
    if parse_digest(config.gaps.digest) is not None:
        tasks.append(
            asyncio.create_task(
                gap_commands.digest_regularly(application, services), name="gap-digest"
            )
        )
    if watch:  # serve --watch: reindex when documents are dropped into corpus/
        tasks.append(asyncio.create_task(watch_and_reindex(config, services.reindexer, stop)))
    return tasks


async def _tell_damaged(
    application: BotApplication, services: Services, moved: Path, problem: str
) -> None:
    """Tell the admins that the state file was damaged and set aside (sqlite.py)."""
    await notify_admins(
        application.bot,
        services.config.telegram.admins,
        lambda tr: tr.gettext(
            "The state file was damaged ({problem}). I moved it to {path} and "
            "started with a fresh one: conversations, feedback and unfinished "
            "updates from before are in the moved file."
        ).format(problem=problem, path=moved),
        language_of=admin_language(services),
    )


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
    # Replicas sharing the state in PostgreSQL poll one at a time: the elected one replays the
    # inbox when it takes over (another replica may be answering it now).
    elected = not webhook and bool(config.state.url)
    claims = _claim_from_shared_inbox(application)
    if not elected and not claims:
        await replay_inbox(application)
    index_watcher = _watch_index(application, services)
    # Replicas: a /language choice made on another applies here within seconds.
    languages = (
        asyncio.create_task(refresh_languages_forever(services.state))
        if config.state.url
        else None
    )
    election = await _begin_taking(
        application, services, webhook=webhook, elected=elected, stop=stop
    )
    await stop.wait()
    if election is not None:
        await election
    for task in claims[:1]:  # claim nothing more; keep the claims held until answered
        task.cancel()
    index_watcher.cancel()
    if languages is not None:
        languages.cancel()
    logger.info("Stopping: no new updates; finishing the replies in flight")
    stop_accepting(web_app)
    await _stop_taking(application, webhook=webhook, shared=bool(claims))
    await services.reindexer.wait()
    await application.stop()
    for task in claims:
        task.cancel()
    if isinstance(application.update_queue, SharedQueue):
        await asyncio.to_thread(application.update_queue.locks.close)


async def _begin_taking(
    application: BotApplication,
    services: Services,
    *,
    webhook: bool,
    elected: bool,
    stop: asyncio.Event,
) -> asyncio.Task[None] | None:
    """Start taking new updates: stand for election as the one poller (replicas on
    PostgreSQL; the task is returned), register the webhook, or start long polling."""
    config = services.config
    if elected:
        return asyncio.create_task(
            poll_while_elected(
                services.state.db,
                functools.partial(_replay_and_poll, application, services),
                functools.partial(_stop_polling, application),
                stop,
            ),
            name="poller-election",
        )
    if webhook:
        await application.bot.set_webhook(
            config.web.webhook_url,
            secret_token=config.webhook_secret.get(),
            allowed_updates=ALLOWED_UPDATES,
        )
        logger.info("Webhook registered; taking updates at %s", config.web.webhook_path)
    else:
        await _start_polling(application, services)
    return None


async def _stop_taking(application: BotApplication, *, webhook: bool, shared: bool) -> None:
    """Take no more updates: remove the webhook (not when other replicas share it, since they
    go on taking it), or stop polling."""
    if webhook and not shared:
        try:
            await application.bot.delete_webhook()
        except TelegramError as exc:
            logger.warning("Could not remove the webhook: %s", exc)
    elif not webhook:
        await _stop_polling(application)


def _claim_from_shared_inbox(application: BotApplication) -> list[asyncio.Task[None]]:
    """Webhook replicas on PostgreSQL: the claimer and the claims' renewer (none otherwise)."""
    queue = application.update_queue
    if not isinstance(queue, SharedQueue):
        return []
    return [
        asyncio.create_task(queue.claim_forever(application), name="claimer"),
        asyncio.create_task(queue.renew_forever(), name="claim-renewer"),
    ]


async def _start_polling(application: BotApplication, services: Services) -> None:
    assert application.updater is not None  # built with one unless in webhook mode
    await application.updater.start_polling(
        allowed_updates=ALLOWED_UPDATES, error_callback=_polling_error(services)
    )
    logger.info("Polling for updates")


async def _replay_and_poll(application: BotApplication, services: Services) -> None:
    await replay_inbox(application)
    await _start_polling(application, services)


async def _stop_polling(application: BotApplication) -> None:
    if application.updater is not None and application.updater.running:
        await application.updater.stop()


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
    install_token_filter(
        config.token.get(),
        config.admin_token.get(),
        config.webhook_secret.get(),
        config.gaps_key.get(),
        url_password(config.state.url),
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, webhook=webhook, stop=stop, watch=watch)

    asyncio.run(main())
    return 0
