"""Everyone's commands (/start, /help, /sources, /language), the command menus, and what the
bot says to a command it does not have or a message it cannot read."""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import Bot, BotCommand, BotCommandScope, BotCommandScopeChat, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from .addressing import command_target, for_bot
from .answering import known_titles
from .context import Context
from .flood import admit
from .formatting import SOURCES_PAGE, format_documents_page, shorten
from .i18n import (
    LANGUAGES,
    N_,
    Translator,
    chat_language,
    language_for,
    language_name,
    number,
    translator,
    translator_for,
)
from .replies import reply

__all__ = [
    "ADMIN_COMMANDS",
    "PUBLIC_COMMANDS",
    "help_command",
    "language_command",
    "set_menu",
    "sources",
    "start",
    "unknown_command",
    "unsupported_message",
]

logger = logging.getLogger(__name__)

# The menus, in English; set_menu adds them in every other reply language.
PUBLIC_COMMANDS = [
    BotCommand("ask", N_("Ask a question (in groups)")),
    BotCommand("sources", N_("Documents I know")),
    BotCommand("latest", N_("The newest stories")),
    BotCommand("language", N_("The language of my replies")),
    BotCommand("help", N_("How to ask")),
    BotCommand("start", N_("What I know about")),
]
ADMIN_COMMANDS = [
    *PUBLIC_COMMANDS,
    BotCommand("reindex", N_("Rebuild the index from the corpus")),
    BotCommand("stats", N_("Usage and index figures")),
    BotCommand("gaps", N_("Questions I could not answer well")),
    BotCommand("add", N_("Add a story by link (or send a file)")),
    BotCommand("docs", N_("Documents with dates, passages and ids")),
    BotCommand("remove", N_("Remove a document")),
]
START_TITLES = 20  # stories /start names


def translated_menu(commands: Sequence[BotCommand], tr: Translator) -> list[BotCommand]:
    """A command menu with its descriptions in a reply language."""
    return [BotCommand(c.command, tr.gettext(c.description)) for c in commands]


async def set_menu(bot: Bot, commands: Sequence[BotCommand], scope: BotCommandScope) -> None:
    """Set a menu in English for everyone, and in each other reply language for the users whose
    Telegram is in it (Telegram picks the menu by the user's language_code)."""
    await bot.set_my_commands(commands, scope=scope)
    for language in LANGUAGES:
        if language != "en":
            await bot.set_my_commands(
                translated_menu(commands, translator(language)),
                scope=scope,
                language_code=language,
            )


CommandBody = Callable[[Update, Context, Message, str], Coroutine[Any, Any, None]]


def everyones_command(body: CommandBody) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    """The preamble everyone's commands share: a message to answer, the asker within their
    flood budget (``flood.admit``), the reply's language; ``body`` gets the message and the
    language."""

    @functools.wraps(body)
    async def handler(update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or not await admit(update, context):
            return
        await body(update, context, message, language_for(update, context))

    return handler


@everyones_command
async def start(update: Update, context: Context, message: Message, language: str) -> None:
    """/start: what the bot is and which stories it knows."""
    svc = context.services
    engine = svc.ready_engine()
    count = await asyncio.to_thread(engine.document_count)
    titles = await asyncio.to_thread(known_titles, engine, START_TITLES)
    tr = translator(language)
    _ = tr.gettext
    lines = [
        _(
            "Hello! I answer questions about the news stories I have read, quoting the "
            "passages that answer them and where each comes from. I never make anything up."
        ),
        "",
        tr.ngettext("I know {count} story:", "I know {count} stories:", count).format(
            count=number(count, language)
        ),
        *[f"• {html.escape(shorten(t, 120))}" for t in titles],
    ]
    if count > len(titles):
        lines.append(
            _("… and {count} more (/sources lists them all).").format(
                count=number(count - len(titles), language)
            )
        )
    lines += [
        "",
        _(
            "Just send me a question, for example: <i>Who will the ministers meet in "
            "Moscow?</i> Follow-up questions work too. /help for more."
        ),
    ]
    await reply(message, "\n".join(lines))
    user, chat = update.effective_user, update.effective_chat
    if (
        chat is not None
        and chat.type == ChatType.PRIVATE
        and svc.is_admin(user.id if user else None)
    ):
        # Admins who had not started the bot when it set the menus get theirs now.
        try:
            await set_menu(context.bot, ADMIN_COMMANDS, BotCommandScopeChat(chat.id))
        except TelegramError as exc:
            logger.warning("Could not set the admin command menu: %s", exc)


@everyones_command
async def help_command(update: Update, context: Context, message: Message, language: str) -> None:
    """/help: how to ask, in private chats and in groups."""
    _ = translator(language).gettext
    lines = [
        _("<b>How to ask</b>"),
        _("• In a private chat, send any question as a message."),
        _(
            "• In a group, mention me (@{bot} your question), reply to one of my answers, or "
            "use /ask your question."
        ).format(bot=html.escape(context.bot.username or "bot")),
        _(
            "• Follow-ups like <i>When was it formed?</i> are understood in the context of the "
            "previous question; reply to an earlier answer to continue that thread."
        ),
        "",
        _(
            "Each answer quotes the passages it comes from, in their own language. Buttons "
            "under it show the full passage, more sources, and let you rate the answer."
        ),
        "",
        _("/sources lists the documents I know; /latest the newest stories."),
        _(
            "I reply in the language of your question, else in your Telegram's; /language fr, "
            "/language en or /language auto sets it for this chat."
        ),
    ]
    if context.services.is_admin(update.effective_user.id if update.effective_user else None):
        lines += [
            "",
            _(
                "<b>Admin</b>: /reindex rebuilds the index from the corpus; /stats shows "
                "usage and index figures; /gaps the questions I could not answer well."
            ),
            _(
                "/add &lt;link&gt; adds a story (or send a .txt, .md, .html or .pdf file); "
                "/docs lists the documents; /remove &lt;id&gt; takes one out."
            ),
        ]
    await reply(update.effective_message, "\n".join(lines))


@everyones_command
async def sources(update: Update, context: Context, message: Message, language: str) -> None:
    """/sources [page]: the documents in the corpus, with their source and date, a page at a
    time (an archive holds far more than one message)."""
    engine = context.services.ready_engine()
    args = context.args or []
    tr = translator(language)
    if len(args) > 1 or (args and not (args[0].isdecimal() and int(args[0]) >= 1)):
        await reply(
            message,
            tr.gettext(
                "Send /sources for the first page of documents, or /sources 2 for the second."
            ),
        )
        return
    page = int(args[0]) if args else 1
    total = await asyncio.to_thread(engine.document_count)
    pages = max(1, -(-total // SOURCES_PAGE))
    if page > pages:
        await reply(
            message,
            tr.ngettext(
                "There is only {pages} page of documents: /sources {pages} is the last.",
                "There are only {pages} pages of documents: /sources {pages} is the last.",
                pages,
            ).format(pages=pages),
        )
        return
    docs = await asyncio.to_thread(engine.document_titles, SOURCES_PAGE, (page - 1) * SOURCES_PAGE)
    await reply(message, format_documents_page(docs, total, page, language=language))


async def unsupported_message(update: Update, context: Context) -> None:
    """Stickers, photos, voice notes and other non-text messages get a short explanation."""
    message = update.effective_message
    if message is None or not for_bot(message, context.bot):
        return
    if not await admit(update, context):
        return
    _ = translator_for(update, context).gettext
    await reply(
        message,
        _(
            "I can only read text questions — please type yours, for example: "
            "<i>What is the AES?</i>"
        ),
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
    _ = translator_for(update, context).gettext
    await reply(
        message,
        _(
            "I don't know the command /{name}. I understand /ask, /sources, /latest, /language, "
            "/help and /start — or just send your question."
        ).format(name=html.escape(name[:64])),
    )


@everyones_command
async def language_command(
    update: Update, context: Context, message: Message, language: str
) -> None:
    """/language [fr|en|auto]: the language of the bot's replies in this chat (auto: the
    question's language, else the user's Telegram language)."""
    chat = update.effective_chat
    if chat is None:
        return
    args = [a.lower() for a in context.args or []]
    if len(args) == 1 and args[0] in (*LANGUAGES, "auto"):
        chosen = None if args[0] == "auto" else args[0]
        await asyncio.to_thread(context.services.state.set_chat_language, chat.id, chosen)
        language = language_for(update, context)
        _ = translator(language).gettext
        if chosen is None:
            text = _(
                "From now on I reply in the language of each question, else in your "
                "Telegram's language."
            )
        else:
            text = _("From now on I reply in {language} here.").format(
                language=language_name(chosen, translator(chosen))
            )
        await reply(message, text)
        return
    _ = translator(language).gettext
    chosen = chat_language(context, chat.id)
    current = (
        _("I reply in {language} here.").format(language=language_name(chosen, translator(chosen)))
        if chosen
        else _("I reply in the language of each question, else in your Telegram's language.")
    )
    await reply(
        message,
        current
        + "\n"
        + _(
            "Send /language fr for French, /language en for English, or /language auto to "
            "follow each question. Quoted passages always stay in their own language."
        ),
    )
