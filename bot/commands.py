"""Everyone's commands (/start, /help, /sources), the command menus, and what the bot says to
a command it does not have or a message it cannot read."""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from .addressing import command_target, for_bot
from .answering import known_titles
from .context import Context
from .flood import admit
from .formatting import SOURCES_PAGE, format_documents_page, shorten
from .replies import reply

__all__ = [
    "ADMIN_COMMANDS",
    "PUBLIC_COMMANDS",
    "help_command",
    "sources",
    "start",
    "unknown_command",
    "unsupported_message",
]

logger = logging.getLogger(__name__)

PUBLIC_COMMANDS = [
    BotCommand("ask", "Ask a question (in groups)"),
    BotCommand("sources", "Documents I know"),
    BotCommand("latest", "The newest stories"),
    BotCommand("help", "How to ask"),
    BotCommand("start", "What I know about"),
]
ADMIN_COMMANDS = [
    *PUBLIC_COMMANDS,
    BotCommand("reindex", "Rebuild the index from the corpus"),
    BotCommand("stats", "Usage and index figures"),
    BotCommand("add", "Add a story by link (or send a file)"),
    BotCommand("docs", "Documents with dates, passages and ids"),
    BotCommand("remove", "Remove a document"),
]
START_TITLES = 20  # stories /start names


async def start(update: Update, context: Context) -> None:
    """/start: what the bot is and which stories it knows."""
    if not await admit(update, context):
        return
    svc = context.services
    engine = svc.ready_engine()
    count = await asyncio.to_thread(engine.document_count)
    titles = await asyncio.to_thread(known_titles, engine, START_TITLES)
    lines = [
        "Hello! I answer questions about the news stories I have read, quoting the passages "
        "that answer them and where each comes from. I never make anything up.",
        "",
        f"I know {count:,} {'story' if count == 1 else 'stories'}:",
        *[f"• {html.escape(shorten(t, 120))}" for t in titles],
    ]
    if count > len(titles):
        lines.append(f"… and {count - len(titles):,} more (/sources lists them all).")
    lines += [
        "",
        "Just send me a question, for example: <i>Who will the ministers meet in "
        "Moscow?</i> Follow-up questions work too. /help for more.",
    ]
    await reply(update.effective_message, "\n".join(lines))
    user, chat = update.effective_user, update.effective_chat
    if (
        chat is not None
        and chat.type == ChatType.PRIVATE
        and svc.is_admin(user.id if user else None)
    ):
        # Admins who had not started the bot when it set the menus get theirs now.
        try:
            await context.bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(chat.id))
        except TelegramError as exc:
            logger.warning("Could not set the admin command menu: %s", exc)


async def help_command(update: Update, context: Context) -> None:
    """/help: how to ask, in private chats and in groups."""
    if not await admit(update, context):
        return
    lines = [
        "<b>How to ask</b>",
        "• In a private chat, send any question as a message.",
        "• In a group, mention me (@" + html.escape(context.bot.username or "bot") + " your "
        "question), reply to one of my answers, or use /ask your question.",
        "• Follow-ups like <i>When was it formed?</i> are understood in the context of the "
        "previous question; reply to an earlier answer to continue that thread.",
        "",
        "Each answer quotes the passages it comes from. Buttons under it show the full passage, "
        "more sources, and let you rate the answer.",
        "",
        "/sources lists the documents I know; /latest the newest stories.",
    ]
    if context.services.is_admin(update.effective_user.id if update.effective_user else None):
        lines += [
            "",
            "<b>Admin</b>: /reindex rebuilds the index from the corpus; /stats shows "
            "usage and index figures.",
            "/add &lt;link&gt; adds a story (or send a .txt, .md, .html or .pdf file); /docs "
            "lists the documents; /remove &lt;id&gt; takes one out.",
        ]
    await reply(update.effective_message, "\n".join(lines))


async def sources(update: Update, context: Context) -> None:
    """/sources [page]: the documents in the corpus, with their source and date, a page at a
    time (an archive holds far more than one message)."""
    if not await admit(update, context):
        return
    engine = context.services.ready_engine()
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdecimal() and int(args[0]) >= 1)):
        await reply(
            update.effective_message,
            "Send /sources for the first page of documents, or /sources 2 for the second.",
        )
        return
    page = int(args[0]) if args else 1
    total = await asyncio.to_thread(engine.document_count)
    pages = max(1, -(-total // SOURCES_PAGE))
    if page > pages:
        await reply(
            update.effective_message,
            f"There {'is' if pages == 1 else 'are'} only {pages} "
            f"{'page' if pages == 1 else 'pages'} of documents: /sources {pages} is the last.",
        )
        return
    docs = await asyncio.to_thread(engine.document_titles, SOURCES_PAGE, (page - 1) * SOURCES_PAGE)
    await reply(update.effective_message, format_documents_page(docs, total, page))


async def unsupported_message(update: Update, context: Context) -> None:
    """Stickers, photos, voice notes and other non-text messages get a short explanation."""
    message = update.effective_message
    if message is None or not for_bot(message, context.bot):
        return
    if not await admit(update, context):
        return
    await reply(
        message,
        "I can only read text questions — please type yours, for example: <i>What is the AES?</i>",
    )


async def unknown_command(update: Update, context: Context) -> None:
    """A command the bot does not have: say which ones it has (a command meant for another bot,
    or a bare one in a group, may be for someone else and is left alone)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    name, target = command_target(message.text)
    ours = (context.bot.username or "").lower()
    if target and target.lower() != ours:
        return
    if message.chat.type != ChatType.PRIVATE and not target:
        return
    if not await admit(update, context):
        return
    await reply(
        message,
        f"I don't know the command /{html.escape(name[:64])}. I understand /ask, /sources, "
        "/latest, /help and /start — or just send your question.",
    )
