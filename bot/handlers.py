"""Telegram handlers: questions in private and group chats, buttons, and admin commands."""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import re
import time
import unicodedata
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageEntityType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from index.embedder import Embedder
from index.engine import Engine
from index.errors import ReindexInProgressError, StoryError
from index.followup import Turn
from index.onnx_backend import worker_count
from index.passages import Answer, Passage
from index.store import IndexStore

from .config import Config
from .formatting import (
    SOURCES_PAGE,
    format_documents_page,
    format_html,
    format_passage_html,
    format_sources_html,
    shorten,
)
from .jobs import Reindexer, ReindexJob
from .metrics import Metrics
from .state import AnswerRecord, StateStore

__all__ = [
    "Services",
    "ask_command",
    "button",
    "error_handler",
    "help_command",
    "question_message",
    "reindex_command",
    "sources",
    "start",
    "stats_command",
    "unknown_command",
    "unsupported_message",
]

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
NOT_FOUND_TITLES = 5  # stories named when a question is not found
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
MORE_SOURCES = 5  # extra passages behind the "More sources" button


@dataclass(slots=True)
class Services:
    """What the handlers share; kept in ``application.bot_data["services"]``.

    ``engine`` is None until the model and index are loaded, or when loading failed; then
    ``unavailable`` says why, questions get a polite "not ready", ``/healthz`` answers 503, and
    an admin's ``/reindex`` can still build an index and bring the bot up.
    """

    config: Config
    state: StateStore
    engine: Engine | None = None
    embedder: Embedder | None = None
    unavailable: str = "The index is still loading."
    metrics: Metrics = field(default_factory=Metrics)
    reindexer: Reindexer = field(init=False)
    started: float = field(default_factory=time.time)
    _locks: OrderedDict[int, asyncio.Lock] = field(default_factory=OrderedDict)
    _asked: dict[int, deque[float]] = field(default_factory=dict)
    _warned: dict[int, float] = field(default_factory=dict)
    _pruned: float = float("-inf")  # when the flood counters were last pruned
    # Questions are answered on a few threads of their own (``chat.answer_threads``): the
    # engine's Python work holds the interpreter lock, and more threads than cores only wait
    # for it in turn.
    answering: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.answering = ThreadPoolExecutor(
            worker_count(self.config.chat.answer_threads), thread_name_prefix="answer"
        )
        self.reindexer = Reindexer(self.config, self.install, metrics=self.metrics)
        if self.engine is not None:
            self.install(self.engine.store)

    def install(self, store: IndexStore) -> None:
        """Serve from a (new) index: swap it into the engine, or start the engine with it."""
        if self.engine is not None:
            self.engine.swap(store)
        elif self.embedder is not None:
            self.engine = Engine(store, self.embedder, self.config.ranking_settings())
        else:
            raise StoryError("The embedding model is not loaded, so no index can be served.")
        self.unavailable = ""
        self.metrics.set_index(len(store), store.size_bytes)

    def ready_engine(self) -> Engine:
        """The engine, or StoryError with a message for the user when it cannot answer."""
        if self.engine is None:
            raise StoryError(f"I am not ready to answer yet. {self.unavailable}")
        return self.engine

    def chat_lock(self, chat_id: int) -> asyncio.Lock:
        """One lock per chat, so that replies in a chat go out in the order asked."""
        lock = self._locks.pop(chat_id, None) or asyncio.Lock()
        self._locks[chat_id] = lock
        while len(self._locks) > 10_000:
            oldest, old_lock = next(iter(self._locks.items()))
            if old_lock.locked():
                break
            del self._locks[oldest]
        return lock

    def flood_check(self, user_id: int | None, now: float) -> str:
        """ "ok" to answer; "warn" for the first question over the user's limit; "drop" after."""
        if user_id is None or self.config.chat.flood_questions <= 0:
            return "ok"
        window = self.config.chat.flood_seconds
        if len(self._asked) > 10_000 and now >= self._pruned + window:
            self._pruned = now  # forget users who have not asked within the window
            for uid in [u for u, t in self._asked.items() if not t or t[-1] <= now - window]:
                del self._asked[uid]
                self._warned.pop(uid, None)
        asked = self._asked.setdefault(user_id, deque())
        while asked and asked[0] <= now - window:
            asked.popleft()
        if len(asked) < self.config.chat.flood_questions:
            asked.append(now)
            return "ok"
        if self._warned.get(user_id, 0.0) > now - window:
            return "drop"
        self._warned[user_id] = now
        return "warn"

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.config.telegram.admins


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data["services"]  # type: ignore[no-any-return]


# -- pure helpers ---------------------------------------------------------------------------


_MARKDOWN_EMPHASIS = re.compile(r"(?<!\w)[*_~`]+|[*_~`]+(?!\w)")


def clean_question(text: str, bot_username: str) -> str:
    """The question in a message: the bot's @mention removed, invisible characters dropped,
    and Markdown emphasis typed around words (**who**, _ministers_) taken off them."""
    if bot_username:
        for form in (f"@{bot_username}", f"@{bot_username.lower()}"):
            text = text.replace(form, " ")
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc") or ch == "\n")
    return " ".join(_MARKDOWN_EMPHASIS.sub(" ", kept).split())


def has_words(text: str) -> bool:
    """Whether a text holds at least one letter or digit (not only emoji or punctuation)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def answer_keyboard(key: str, citations: int, more: bool) -> InlineKeyboardMarkup:
    rows = []
    if citations:
        rows.append(
            [
                InlineKeyboardButton(f"📄 [{i}]", callback_data=f"p:{key}:{i}")
                for i in range(1, citations + 1)
            ]
        )
    last = [
        InlineKeyboardButton("👍", callback_data=f"f:{key}:+"),
        InlineKeyboardButton("👎", callback_data=f"f:{key}:-"),
    ]
    if more:
        last.insert(0, InlineKeyboardButton("📚 More sources", callback_data=f"m:{key}"))
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def parse_callback(data: str) -> tuple[str, str, str]:
    """Button data to (kind, answer key, argument); ("", "", "") when it is not ours."""
    parts = data.split(":")
    if len(parts) == 2 and parts[0] == "m":
        return "m", parts[1], ""
    if len(parts) == 3 and parts[0] in ("p", "f"):
        return parts[0], parts[1], parts[2]
    return "", "", ""


def _known_titles(engine: Engine, limit: int | None = None) -> list[str]:
    return [title for title, _, _ in engine.document_titles(limit)]


# -- commands -------------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: what the bot is and which stories it knows."""
    svc = services(context)
    engine = svc.ready_engine()
    count = await asyncio.to_thread(engine.document_count)
    titles = await asyncio.to_thread(_known_titles, engine, 20)
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
    await _reply(update.effective_message, "\n".join(lines))
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


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: how to ask, in private chats and in groups."""
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
    if services(context).is_admin(update.effective_user.id if update.effective_user else None):
        lines += [
            "",
            "<b>Admin</b>: /reindex rebuilds the index from the corpus; /stats shows "
            "usage and index figures.",
            "/add &lt;link&gt; adds a story (or send a .txt, .md, .html or .pdf file); /docs "
            "lists the documents; /remove &lt;id&gt; takes one out.",
        ]
    await _reply(update.effective_message, "\n".join(lines))


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources [page]: the documents in the corpus, with their source and date, a page at a
    time (an archive holds far more than one message)."""
    engine = services(context).ready_engine()
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdecimal() and int(args[0]) >= 1)):
        await _reply(
            update.effective_message,
            "Send /sources for the first page of documents, or /sources 2 for the second.",
        )
        return
    page = int(args[0]) if args else 1
    total = await asyncio.to_thread(engine.document_count)
    pages = max(1, -(-total // SOURCES_PAGE))
    if page > pages:
        await _reply(
            update.effective_message,
            f"There {'is' if pages == 1 else 'are'} only {pages} "
            f"{'page' if pages == 1 else 'pages'} of documents: /sources {pages} is the last.",
        )
        return
    docs = await asyncio.to_thread(engine.document_titles, SOURCES_PAGE, (page - 1) * SOURCES_PAGE)
    await _reply(update.effective_message, format_documents_page(docs, total, page))


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask question: a question in any chat (the way to ask in groups without a mention)."""
    message = update.effective_message
    if message is None:
        return
    question = " ".join(context.args or [])
    if not has_words(question):
        await _reply(
            message, "Ask me like this: <code>/ask When will the ministers visit Moscow?</code>"
        )
        return
    await answer_question(update, context, question)


async def question_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message: a question (private chats; mentions and replies to the bot in groups)."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    if message.chat.type != ChatType.PRIVATE and not _addressed_to_bot(message, context):
        return
    await answer_question(update, context, message.text)


async def unsupported_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes and other non-text messages get a short explanation."""
    message = update.effective_message
    if message is None:
        return
    if message.chat.type != ChatType.PRIVATE and not _addressed_to_bot(message, context):
        return
    await _reply(
        message,
        "I can only read text questions — please type yours, for example: <i>What is the AES?</i>",
    )


def command_target(text: str) -> tuple[str, str]:
    """``/name@bot rest`` -> (name, bot); the bot is "" when the command names none."""
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    name, _, target = head.removeprefix("/").partition("@")
    return name, target


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
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
    await _reply(
        message,
        f"I don't know the command /{html.escape(name[:64])}. I understand /ask, /sources, "
        "/help and /start — or just send your question.",
    )


def _addressed_to_bot(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
    username = (context.bot.username or "").lower()
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == context.bot.id:
        return True
    entities = message.parse_entities([MessageEntityType.MENTION]) if message.text else {}
    if message.caption:
        entities = message.parse_caption_entities([MessageEntityType.MENTION])
    return any(text.lower() == f"@{username}" for text in entities.values())


# -- answering ------------------------------------------------------------------------------


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    svc = services(context)
    message = update.effective_message
    if message is None:
        return
    question = clean_question(text, context.bot.username or "")
    limit = svc.config.chat.max_question_chars
    if not has_words(question):
        await _reply(
            message, "Please ask your question in words, for example: <i>What is the AES?</i>"
        )
        return
    if len(question) > limit:
        await _reply(
            message,
            f"That message is too long for a question ({len(question)} "
            f"characters; the limit is {limit}). Please ask something shorter.",
        )
        return
    flood = svc.flood_check(
        update.effective_user.id if update.effective_user else None, time.monotonic()
    )
    if flood != "ok":
        if flood == "warn":
            logger.info(
                "Throttling user %s", update.effective_user.id if update.effective_user else None
            )
            await _reply(
                message,
                "You are asking faster than I can answer. Please wait a few "
                "seconds, then ask again.",
            )
        return
    engine = svc.ready_engine()
    chat_id = message.chat_id
    thread_id = message.message_thread_id if message.is_topic_message else None
    user_id = update.effective_user.id if update.effective_user else None
    started = time.perf_counter()
    async with svc.chat_lock(chat_id):
        # The typing indicator goes out on its own, and only when the answer is slow: a slow
        # or failed one never holds up answers, and a quick answer needs none.
        typing = context.application.create_task(
            _typing(context, chat_id, thread_id, svc.config.chat.typing_after_seconds),
            update=update,
        )
        try:
            # One trip to a worker thread: the conversation, the engine, the record.
            prepared = await asyncio.get_running_loop().run_in_executor(
                svc.answering,
                functools.partial(
                    _prepare_answer, svc, engine, message, question, thread_id, user_id, update
                ),
            )
            if prepared is None:
                logger.info("Update %d was answered before a restart; not again", update.update_id)
                return
            answer, key, text_html, markup = prepared
        finally:
            typing.cancel()
        sent_id = await _send_answer(message, text_html, markup)
        await asyncio.to_thread(svc.state.set_message_id, key, sent_id)
    svc.metrics.questions.inc()
    if not answer.found:
        svc.metrics.not_found.inc()
    svc.metrics.reply_seconds.observe(time.perf_counter() - started)


def _prepare_answer(
    svc: Services,
    engine: Engine,
    message: Message,
    question: str,
    thread_id: int | None,
    user_id: int | None,
    update: Update,
) -> tuple[Answer, str, str, InlineKeyboardMarkup | None] | None:
    """Answer a question in its conversation, record it, and format the reply: (answer, its
    key, HTML, buttons); None when this update was answered before (replayed after a crash).
    Blocking: runs in a worker thread."""
    history = _history(svc, message, thread_id, update.update_id)
    if history is None:
        return None
    k = svc.config.retrieval.top_k
    with svc.metrics.retrieval_seconds.time():
        answer = engine.ask(question, history, k + MORE_SOURCES)
    key = svc.state.add_answer(
        chat_id=message.chat_id,
        thread_id=thread_id,
        user_id=user_id,
        question=question,
        query=answer.query,
        found=answer.found,
        history=history,
        passage_ids=[h.passage.passage_id for h in answer.hits],
        update_id=update.update_id,
    )
    # A not-found reply names a few known stories; reading every title of a large index for
    # each answer cost more than the answer itself at 100k documents.
    known = () if answer.found else _known_titles(engine, NOT_FOUND_TITLES)
    text_html = format_html(answer, max_hits=k, known_titles=known)
    shown = min(k, len(answer.hits))
    markup = answer_keyboard(key, shown, len(answer.hits) > k) if answer.found else None
    return answer, key, text_html, markup


def _history(
    svc: Services, message: Message, thread_id: int | None, update_id: int
) -> tuple[Turn, ...] | None:
    """The conversation a question belongs to: the answer it replies to, else the newest answer
    in this chat (and forum topic), if recent enough. None when this update was answered
    already (it is being replayed after a crash)."""
    if svc.state.answered(update_id):
        return None
    since = time.time() - svc.config.chat.context_minutes * 60
    reply = message.reply_to_message
    record: AnswerRecord | None = None
    if reply is not None and not (message.is_topic_message and reply.forum_topic_created):
        record = svc.state.answer_for_message(message.chat_id, reply.message_id)
        if record is not None and record.created < since:
            return ()
    if record is None:
        record = svc.state.latest_answer(message.chat_id, thread_id, since)
    return record.context()[-4:] if record else ()


async def _typing(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, thread_id: int | None, after: float
) -> None:
    """Shows "typing..." once ``after`` seconds have passed (cancelled when the answer is
    ready first)."""
    if after > 0:
        await asyncio.sleep(after)
    try:
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
    except TelegramError as exc:  # a typing indicator is not worth failing an answer for
        logger.debug("Typing indicator failed: %s", exc)


async def _send_answer(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> int:
    """Send an answer as ``_reply`` does, and return only its message id. The hottest call of
    the bot: python-telegram-bot would build a full Message (and the quoted question inside it)
    from Telegram's answer, a tenth of the bot's CPU at capacity, to read one number."""
    kwargs: dict[str, object] = {
        "chat_id": message.chat_id,
        "text": text,
        "parse_mode": ParseMode.HTML,
        "link_preview_options": NO_PREVIEW,
    }
    if markup is not None:
        kwargs["reply_markup"] = markup
    if message.chat.type != ChatType.PRIVATE:
        kwargs["reply_parameters"] = ReplyParameters(message.message_id)
    if message.is_topic_message and message.message_thread_id is not None:
        kwargs["message_thread_id"] = message.message_thread_id
    if message.direct_messages_topic is not None:
        kwargs["direct_messages_topic_id"] = message.direct_messages_topic.topic_id
    # Bot._post: sendMessage through the same rate limiter and request, minus the Message
    # building (do_api_request would do the same but warns for a method PTB knows).
    result = await message.get_bot()._post("sendMessage", kwargs)
    return int(result["message_id"])


async def _reply(
    message: Message | None, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Reply in HTML; in groups as a reply to the asking message (inside its forum topic)."""
    if message is None:
        return None
    quote = message.chat.type != ChatType.PRIVATE
    return await message.reply_html(
        text, reply_markup=markup, link_preview_options=NO_PREVIEW, do_quote=quote
    )


# -- buttons --------------------------------------------------------------------------------


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Inline buttons: full passage, more sources, feedback. Forged or stale data is refused."""
    query = update.callback_query
    if query is None:
        return
    svc = services(context)
    kind, key, arg = parse_callback(query.data or "")
    record = await asyncio.to_thread(svc.state.answer, key) if kind else None
    if record is None or (query.message is not None and record.chat_id != query.message.chat.id):
        await query.answer("This button has expired. Please ask again.", show_alert=True)
        return
    if kind == "f":
        if arg not in ("+", "-"):
            await query.answer("Unknown feedback.", show_alert=True)
            return
        await asyncio.to_thread(
            svc.state.set_feedback, key, query.from_user.id, 1 if arg == "+" else -1
        )
        await query.answer("Thanks for the feedback!")
        return
    # The first lookup builds an id -> passage map over the whole index: not on the loop.
    passages = await asyncio.to_thread(_passages, svc.ready_engine(), record.passage_ids)
    k = svc.config.retrieval.top_k
    if kind == "p":
        index = int(arg) - 1 if arg.isdigit() else -1
        if not 0 <= index < min(len(record.passage_ids), k + MORE_SOURCES):
            await query.answer("There is no such source.", show_alert=True)
            return
        passage = passages.get(record.passage_ids[index])
        if passage is None:
            await query.answer("That passage is no longer in the index.", show_alert=True)
            return
        await query.answer()
        await _send_to(query.message, format_passage_html(passage, index + 1))
        return
    extra = [passages[p] for p in record.passage_ids[k:] if p in passages]
    if not extra:
        await query.answer("No more sources for this answer.", show_alert=True)
        return
    await query.answer()
    await _send_to(query.message, format_sources_html(extra, start=k + 1))


def _passages(engine: Engine, ids: tuple[str, ...]) -> dict[str, Passage]:
    by_id = engine.store.passage_by_id
    return {pid: by_id[pid] for pid in ids if pid in by_id}


async def _send_to(message: object, text: str) -> None:
    if isinstance(message, Message):
        await _reply(message, text)


# -- admin ----------------------------------------------------------------------------------


async def _admin_only(
    update: Update, context: ContextTypes.DEFAULT_TYPE, what: str
) -> Message | None:
    """The message to answer when an admin sent it; otherwise refuse politely, log, and None."""
    user, message = update.effective_user, update.effective_message
    if message is None:
        return None
    if services(context).is_admin(user.id if user else None):
        return message
    logger.warning(
        "Refused /%s from non-admin user %s in chat %s",
        what,
        user.id if user else None,
        message.chat_id,
    )
    await _reply(message, f"Sorry, only the bot's admins can use /{what}.")
    return None


async def reindex_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reindex (admins): rebuild the index in the background, editing one progress message."""
    message = await _admin_only(update, context, "reindex")
    if message is None:
        return
    svc = services(context)
    user = update.effective_user
    try:
        job = svc.reindexer.start(
            f"user {user.id}" if user else "unknown", user_id=user.id if user else None
        )
    except ReindexInProgressError as exc:
        await _reply(message, html.escape(str(exc)))
        return
    shown = job.progress_text()
    progress = await _reply(message, html.escape(shown))
    context.application.create_task(_follow_job(job, progress, shown), update=update)


async def _follow_job(
    job: ReindexJob, progress: Message | None, shown: str, interval: float = 1.0
) -> None:
    """Edit the progress message (which reads ``shown``) as the job advances, then with its
    summary (a job that finished before this started still gets its summary shown)."""
    while True:
        finished = job.state != "running"
        text = job.progress_text()
        if progress is not None and text != shown:
            try:
                await progress.edit_text(html.escape(text), parse_mode=ParseMode.HTML)
                shown = text
            except BadRequest as exc:
                logger.debug("Progress edit skipped: %s", exc)
            except TelegramError as exc:
                logger.warning("Progress edit failed: %s", exc)
        if finished:
            return
        await asyncio.sleep(interval)


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats (admins): corpus, index and usage figures."""
    message = await _admin_only(update, context, "stats")
    if message is None:
        return
    svc = services(context)
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
    await _reply(message, "\n".join(lines))


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
            await bot.send_message(admin, text[:4000])
        except TelegramError as exc:  # the admin never started the bot, or blocked it
            logger.warning("Could not notify admin %s: %s", admin, exc)


# -- errors ---------------------------------------------------------------------------------


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every error with its traceback; tell the asker politely when there is one."""
    error = context.error
    if isinstance(error, TelegramError):
        services(context).metrics.telegram_errors.labels(type(error).__name__).inc()
    if isinstance(error, StoryError):
        logger.warning("Update failed: %s", error)
        text = html.escape(str(error))
    else:
        logger.error("Unhandled error while processing an update", exc_info=error)
        text = "Sorry, something went wrong while answering. Please try again in a moment."
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await _reply(update.effective_message, text)
        except TelegramError:
            logger.warning("Could not tell the user about the error")
