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

from index.build import BuildReport
from index.errors import ReindexInProgressError

from .context import Context
from .flood import admit
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
    await reply(message, f"Sorry, only the bot's admins can use /{what}.")
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
    shown = html.escape(job.progress_text())
    progress = await reply(message, shown)
    context.application.create_task(follow_job(job, progress, shown=shown), update=update)


async def follow_job(
    job: ReindexJob,
    message: Message | None,
    *,
    shown: str = "",
    outcome: Callable[[BuildReport], Awaitable[str]] | None = None,
    interval: float = 1.0,
) -> None:
    """Edit ``message`` (which reads ``shown``, HTML) with the job's progress as it advances,
    then with its end: ``outcome(report)`` (HTML) when the job succeeded and one is given, else
    the job's own summary or error. A job that finished before this started still gets its end."""
    while job.state == "running":
        text = html.escape(job.progress_text())
        if text != shown:
            await edit(message, text)
            shown = text
        await asyncio.sleep(interval)
    if job.state == "done" and job.report is not None and outcome is not None:
        text = await outcome(job.report)
    else:
        text = html.escape(job.progress_text())
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
    age = time.time() - manifest.built_at
    running = svc.reindexer.running
    lines = [
        "<b>Index</b>",
        f"Documents: {manifest.document_count}; passages: {manifest.passage_count}",
        f"Built {_age(age)} ago ({manifest.version}); size {store.size_bytes / 1e6:.1f} MB",
        f"Model: {html.escape(manifest.model)}; FAISS: {manifest.faiss_type}",
        "",
        "<b>Usage</b>",
        f"Questions answered: {counts['questions']}; not found: {counts['not_found']}",
        f"Feedback: 👍 {counts['thumbs_up']}  👎 {counts['thumbs_down']}",
    ]
    if running is not None:
        lines += ["", html.escape(running.progress_text())]
    await reply(message, "\n".join(lines))


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


async def notify_admins(
    bot: Bot, admins: list[int], text: str, *, skip: int | None = None
) -> None:
    """Send a plain-text notice to every admin's private chat (best effort, never raises)."""
    for admin in admins:
        if admin == skip:
            continue
        try:
            await bot.send_message(admin, text[: MessageLimit.MAX_TEXT_LENGTH])
        except TelegramError as exc:  # the admin never started the bot, or blocked it
            logger.warning("Could not notify admin %s: %s", admin, exc)
