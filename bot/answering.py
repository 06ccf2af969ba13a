"""Questions: what a message asks, whether to answer it, the conversation it continues, and
the answer composed and sent."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import unicodedata

from telegram import InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import TelegramError

from index.engine import Engine
from index.followup import Turn
from index.language import passage_language
from index.passages import Answer

from .addressing import for_bot
from .buttons import MORE_SOURCES, answer_keyboard
from .context import Context
from .conversation import continued_answer, history_of
from .flood import admit
from .formatting import format_html
from .gaps import chat_kind
from .i18n import language_for, translator, translator_for
from .replies import NO_PREVIEW, reply
from .services import Services

__all__ = [
    "answer_question",
    "ask_command",
    "clean_question",
    "has_words",
    "known_titles",
    "question_message",
]

logger = logging.getLogger(__name__)

NOT_FOUND_TITLES = 5  # stories named when a question is not found

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


def known_titles(engine: Engine, limit: int | None = None) -> list[str]:
    """The titles of the first ``limit`` documents the engine knows."""
    return [title for title, _, _ in engine.document_titles(limit)]


# -- handlers -------------------------------------------------------------------------------


async def ask_command(update: Update, context: Context) -> None:
    """/ask question: a question in any chat (the way to ask in groups without a mention)."""
    message = update.effective_message
    if message is None:
        return
    question = " ".join(context.args or [])
    if not has_words(question):
        if not await admit(update, context):
            return
        _ = translator_for(update, context).gettext
        await reply(
            message, _("Ask me like this: <code>/ask When will the ministers visit Moscow?</code>")
        )
        return
    await answer_question(update, context, question)


async def question_message(update: Update, context: Context) -> None:
    """A text message: a question (private chats; mentions and replies to the bot in groups)."""
    message = update.effective_message
    if message is None or message.text is None or not for_bot(message, context.bot):
        return
    await answer_question(update, context, message.text)


async def answer_question(update: Update, context: Context, text: str) -> None:
    """Answer ``text``, asked in ``update``'s message, unless it is no question or the asker is
    asking too fast; replies in a chat go out in the order asked."""
    svc = context.services
    message = update.effective_message
    if message is None:
        return
    user_id = update.effective_user.id if update.effective_user else None
    question = clean_question(text, context.bot.username or "")
    if not await admit(update, context, question):
        return
    language = language_for(update, context, question)
    if not await _admissible(svc, message, question, language):
        return
    engine = svc.ready_engine()
    chat_id = message.chat_id
    thread_id = message.message_thread_id if message.is_topic_message else None
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
                    _prepare_answer,
                    svc,
                    engine,
                    message,
                    question,
                    thread_id,
                    user_id,
                    update,
                    language,
                ),
            )
            if prepared is None:
                logger.info("Update %d was answered before a restart; not again", update.update_id)
                return
            answer, key, text_html, markup = prepared
        finally:
            typing.cancel()
        sent_id = await _send_answer(message, text_html, markup)
        await asyncio.to_thread(_after_sending, svc, key, sent_id, answer, message, user_id)
    svc.metrics.questions.inc()
    if not answer.found:
        svc.metrics.not_found.inc()
    svc.metrics.reply_seconds.observe(time.perf_counter() - started)


async def _admissible(svc: Services, message: Message, question: str, language: str) -> bool:
    """Whether to answer ``question`` (the asker is within their flood limit). If not, the
    asker is told why, in ``language``: it has no words, or it is too long."""
    limit = svc.config.chat.max_question_chars
    _ = translator(language).gettext
    if not has_words(question):
        await reply(
            message, _("Please ask your question in words, for example: <i>What is the AES?</i>")
        )
        return False
    if len(question) > limit:
        await reply(
            message,
            _(
                "That message is too long for a question ({length} characters; the limit is "
                "{limit}). Please ask something shorter."
            ).format(length=len(question), limit=limit),
        )
        return False
    return True


# -- composing and sending ------------------------------------------------------------------


def _prepare_answer(
    svc: Services,
    engine: Engine,
    message: Message,
    question: str,
    thread_id: int | None,
    user_id: int | None,
    update: Update,
    language: str,
) -> tuple[Answer, str, str, InlineKeyboardMarkup | None] | None:
    """Answer a question in its conversation, record it, and format the reply in ``language``
    (the quoted sentences stay in theirs): (answer, its key, HTML, buttons); None when this
    update was answered before (replayed after a crash). Blocking: runs in a worker thread."""
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
    known = () if answer.found else known_titles(engine, NOT_FOUND_TITLES)
    # Each cited passage's language (remembered per passage), for the "Source in English" note.
    languages = {h.passage.passage_id: passage_language(h.passage.text) for h in answer.hits[:k]}
    text_html = format_html(
        answer, max_hits=k, known_titles=known, language=language, passage_languages=languages
    )
    shown = min(k, len(answer.hits))
    tr = translator(language)
    markup = answer_keyboard(key, shown, len(answer.hits) > k, tr) if answer.found else None
    return answer, key, text_html, markup


def _after_sending(
    svc: Services,
    key: str,
    sent_id: int,
    answer: Answer,
    message: Message,
    user_id: int | None,
) -> None:
    """Once the answer is out (blocking, one trip to a thread): tie it to its message, and put
    its question in the gap report when it was not found or hedged (after sending, so the
    reply never waits for the report)."""
    svc.state.set_message_id(key, sent_id)
    if svc.gaps is not None:
        svc.gaps.record_answer(answer, chat_kind=chat_kind(message.chat.type), user_id=user_id)


def _history(
    svc: Services, message: Message, thread_id: int | None, update_id: int
) -> tuple[Turn, ...] | None:
    """The conversation a question belongs to (``conversation.continued_answer``: the answer
    it replies to, else the asker's newest answer in this chat and topic, else the chat's).
    None when this update was answered already (it is being replayed after a crash)."""
    if svc.state.answered(update_id):
        return None
    reply_to = message.reply_to_message
    if reply_to is not None and message.is_topic_message and reply_to.forum_topic_created:
        reply_to = None  # in a forum topic every message "replies" to the topic's start
    record = continued_answer(
        svc.state,
        chat_id=message.chat_id,
        thread_id=thread_id,
        user_id=message.from_user.id if message.from_user else None,
        reply_to_message_id=reply_to.message_id if reply_to is not None else None,
        since=time.time() - svc.config.chat.context_minutes * 60,
    )
    return history_of(record)


async def _typing(context: Context, chat_id: int, thread_id: int | None, after: float) -> None:
    """Shows "typing..." once ``after`` seconds have passed (cancelled when the answer is
    ready first)."""
    if after > 0:
        await asyncio.sleep(after)
    try:
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
    except TelegramError as exc:  # a typing indicator is not worth failing an answer for
        logger.debug("Typing indicator failed: %s", exc)


async def _send_answer(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> int:
    """Send an answer as ``replies.reply`` does, and return only its message id. The hottest
    call of the bot: python-telegram-bot would build a full Message (and the quoted question
    inside it) from Telegram's answer, a tenth of the bot's CPU at capacity, to read one number."""
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
    # Bot._post is private: it sends sendMessage through the same defaults, rate limiter and
    # request as send_message, minus the Message building. The public do_api_request would do
    # the same, but warns on every call for a method PTB has. This is why pyproject.toml pins
    # python-telegram-bot exactly.
    result = await message.get_bot()._post("sendMessage", kwargs)
    return int(result["message_id"])
