"""Admins' commands and notices: the admin check, /reindex with a progress message that
follows the job, /stats, and notices sent to every admin."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import Bot, Message, Update
from telegram.constants import MessageLimit
from telegram.error import TelegramError

from index.build_report import BuildReport
from index.errors import ReindexInProgressError

from .context import Context
from .feedback import helpfulness_lines, weekly
from .flood import admit
from .i18n import (
    DEFAULT_LANGUAGE,
    ENGLISH,
    Notice,
    Translator,
    language_for,
    number,
    translator,
    translator_for,
)
from .jobs import ReindexJob
from .replies import edit, reply

__all__ = ["admin_only", "follow_job", "notify_admins", "reindex_command", "stats_command"]

logger = logging.getLogger(__name__)


async def admin_only(update: Update, context: Context, what: str) -> Message | None:
    """The message to answer when an admin sent it; otherwise refuse politely (within the
    sender's flood limit), log, and None."""
    user, message = update.effective_user, update.effective_message
    if message is None:
        return None
    if context.services.is_admin(user.id if user else None):
        return message
    if not await admit(update, context):
        return None
    logger.warning(
        "Refused /%s from non-admin user %s in chat %s",
        what,
        user.id if user else None,
        message.chat_id,
    )
    _ = translator_for(update, context).gettext
    await reply(
        message, _("Sorry, only the bot's admins can use /{command}.").format(command=what)
    )
    return None


async def reindex_command(update: Update, context: Context) -> None:
    """/reindex (admins): rebuild the index in the background, editing one progress message."""
    message = await admin_only(update, context, "reindex")
    if message is None:
        return
    user = update.effective_user
    try:
        job = context.services.reindexer.start(
            f"user {user.id}" if user else "unknown", user_id=user.id if user else None
        )
    except ReindexInProgressError as exc:
        await reply(message, html.escape(str(exc)))
        return
    tr = translator_for(update, context)
    shown = html.escape(job.progress_text(tr))
    progress = await reply(message, shown)
    context.application.create_task(follow_job(job, progress, shown=shown, tr=tr), update=update)


async def follow_job(
    job: ReindexJob,
    message: Message | None,
    *,
    shown: str = "",
    outcome: Callable[[BuildReport], Awaitable[str]] | None = None,
    interval: float = 1.0,
    tr: Translator = ENGLISH,
) -> None:
    """Edit ``message`` (which reads ``shown``, HTML) with the job's progress as it advances,
    then with its end: ``outcome(report)`` (HTML) when the job succeeded and one is given, else
    the job's own summary or error. A job that finished before this started still gets its end.
    The texts are in ``tr``'s language."""
    while job.state == "running":
        text = html.escape(job.progress_text(tr))
        if text != shown:
            await edit(message, text)
            shown = text
        await asyncio.sleep(interval)
    if job.state == "done" and job.report is not None and outcome is not None:
        text = await outcome(job.report)
    else:
        text = html.escape(job.progress_text(tr))
    if text != shown:
        await edit(message, text)


async def stats_command(update: Update, context: Context) -> None:
    """/stats (admins): corpus, index and usage figures."""
    message = await admin_only(update, context, "stats")
    if message is None:
        return
    svc = context.services
    store = svc.ready_engine().store
    manifest = store.manifest
    counts = await asyncio.to_thread(svc.state.stats)
    weeks = await asyncio.to_thread(weekly, svc)
    age = time.time() - manifest.built_at
    running = svc.reindexer.running
    language = language_for(update, context)
    tr = translator(language)
    _ = tr.gettext
    lines = [
        _("<b>Index</b>"),
        _("Documents: {documents}; passages: {passages}").format(
            documents=number(manifest.document_count, language),
            passages=number(manifest.passage_count, language),
        ),
        _("Built {age} ago ({version}); size {size} MB").format(
            age=_age(age, tr), version=manifest.version, size=_decimal(store.size_bytes / 1e6, tr)
        ),
        _("Model: {model}; FAISS: {faiss}").format(
            model=html.escape(manifest.model), faiss=manifest.faiss_type
        ),
        "",
        _("<b>Usage</b>"),
        _("Questions answered: {questions}; not found: {not_found}").format(
            questions=number(counts["questions"], language),
            not_found=number(counts["not_found"], language),
        ),
        _("Feedback: 👍 {up}  👎 {down}").format(
            up=number(counts["thumbs_up"], language), down=number(counts["thumbs_down"], language)
        ),
        _("Helpfulness (👍 / (👍 + 👎), buttons and reactions):"),
        *helpfulness_lines(weeks, tr, language),
    ]
    if running is not None:
        lines += ["", html.escape(running.progress_text(tr))]
    await reply(message, "\n".join(lines))


def _decimal(value: float, tr: Translator) -> str:
    """One decimal, with the language's decimal mark (1.5 in English, 1,5 in French)."""
    # Translators: the decimal mark of your language
    return f"{value:.1f}".replace(".", tr.gettext("."))


def _age(seconds: float, tr: Translator = ENGLISH) -> str:
    _ = tr.gettext
    if seconds < 120:
        return _("{n} s").format(n=round(seconds))
    if seconds < 7200:
        return _("{n} min").format(n=round(seconds / 60))
    if seconds < 172800:
        return _("{n} h").format(n=_decimal(seconds / 3600, tr))
    return _("{n} days").format(n=_decimal(seconds / 86400, tr))


async def notify_admins(
    bot: Bot,
    admins: list[int],
    text: Notice,
    *,
    skip: int | None = None,
    language_of: Callable[[int], str] | None = None,
) -> None:
    """Send a plain-text notice to every admin's private chat (best effort, never raises); a
    notice written per language goes out in each admin's ``language_of(admin id)``."""
    for admin in admins:
        if admin == skip:
            continue
        if isinstance(text, str):
            body = text
        else:
            body = text(translator(language_of(admin) if language_of else DEFAULT_LANGUAGE))
        try:
            await bot.send_message(admin, body[: MessageLimit.MAX_TEXT_LENGTH])
        except TelegramError as exc:  # the admin never started the bot, or blocked it
            logger.warning("Could not notify admin %s: %s", admin, exc)
