"""Inline mode: ``@bot question`` typed in any chat is answered with articles the user can send
there (``inline_results.py``), and the results people send are counted.

Within the per-user flood limit of every reply (``flood.py``). The engine gets
``inline.answer_seconds`` (Telegram refuses answers after about 10 s); a slower answer is a
"try again" result, never silence.

Caching: an answer depends on the question and the index, not on who asks (inline questions
have no conversation), so Telegram may show it to anyone typing the same text
(``is_personal`` False) for ``inline.cache_seconds``. Only when the question's language cannot
be told is the reply's language the user's Telegram language: then the answer is personal.
"Try again" and "slow down" are not cached, so the next try reaches the bot.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

from telegram import InlineQueryResultArticle, Update
from telegram.error import BadRequest
from telegram.ext import ChosenInlineResultHandler, InlineQueryHandler

from index.engine import Engine
from index.errors import StoryError
from index.language import passage_language, question_language
from index.passages import Answer

from .answering import NOT_FOUND_TITLES, clean_question, has_words, known_titles
from .context import BotApplication, Context
from .flood import admit
from .i18n import QUESTION_CHARS, reply_language, translator
from .inline_results import answer_results, hint_result, not_found_result, try_again_result
from .services import Services

__all__ = ["chosen_inline_result", "inline_query", "register"]

logger = logging.getLogger(__name__)


def register(application: BotApplication) -> None:
    """The inline mode's handlers."""
    application.add_handler(InlineQueryHandler(inline_query))
    application.add_handler(ChosenInlineResultHandler(chosen_inline_result))


async def inline_query(update: Update, context: Context) -> None:
    """@bot question: up to ``inline.results`` articles, "not found", a hint or "try again"."""
    query = update.inline_query
    if query is None:
        return
    svc = context.services
    started = time.perf_counter()
    question = clean_question(query.query, context.bot.username or "")
    asked = question_language(question[:QUESTION_CHARS]) if has_words(question) else None
    language = reply_language(
        question=asked,
        user=query.from_user.language_code,
        default=svc.config.chat.default_language,
    )
    if not await admit(update, context, question):
        svc.metrics.inline_queries.labels("throttled").inc()
        return
    settings = svc.config.inline
    cache = settings.cache_seconds
    max_chars = svc.config.chat.max_question_chars  # a client sends at most 256 characters
    answer: Answer | None = None
    if len(question) < settings.min_chars or not has_words(question):
        outcome, results = "hint", [hint_result(translator(language), context.bot.username)]
    else:
        try:
            asking = functools.partial(
                _compose,
                svc,
                svc.ready_engine(),
                question[:max_chars],
                language,
            )
            outcome, results, answer = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(svc.answering, asking),
                settings.answer_seconds,
            )
        except (TimeoutError, StoryError) as exc:  # too slow, or no index loaded yet
            logger.info("Inline query not answered in time: %s", exc or "timeout")
            outcome, results, cache = "slow", [try_again_result(translator(language))], 0
    try:
        await query.answer(results, cache_time=cache, is_personal=asked is None)
    except BadRequest as exc:
        if not _expired(exc):
            raise  # a refused answer is a bug: the error handler logs it
        logger.info("Inline query %s answered too late: %s", query.id, exc)
        outcome = "expired"  # a backlog, or an update replayed after a restart
    svc.metrics.inline_queries.labels(outcome).inc()
    svc.metrics.inline_seconds.observe(time.perf_counter() - started)
    if answer is not None and svc.gaps is not None:  # after answering: Telegram's clock runs
        await asyncio.to_thread(
            svc.gaps.record_answer, answer, chat_kind="inline", user_id=query.from_user.id
        )


def _expired(error: BadRequest) -> bool:
    """Whether Telegram refused an answer because the query is too old (or unknown)."""
    text = error.message.lower()
    return "too old" in text or "query_id_invalid" in text


def _compose(
    svc: Services, engine: Engine, question: str, language: str
) -> tuple[str, list[InlineQueryResultArticle], Answer]:
    """(outcome, articles, the answer) for a question. Blocking: runs on an answering
    thread."""
    k = svc.config.retrieval.top_k
    with svc.metrics.retrieval_seconds.time():
        answer = engine.ask(question, (), k)
    if not answer.found:
        known = () if answer.nearest_titles else known_titles(engine, NOT_FOUND_TITLES)
        return "not_found", [not_found_result(answer, known, language)], answer
    languages = {h.passage.passage_id: passage_language(h.passage.text) for h in answer.hits[:k]}
    results = answer_results(
        answer,
        top_k=k,
        count=svc.config.inline.results,
        language=language,
        passage_languages=languages,
    )
    return ("answered" if answer.sure else "unsure"), results, answer


async def chosen_inline_result(update: Update, context: Context) -> None:
    """A result someone sent into a chat (with BotFather's /setinlinefeedback): counted."""
    chosen = update.chosen_inline_result
    if chosen is None:
        return
    context.services.metrics.inline_chosen.inc()
    logger.debug("Inline result %s chosen", chosen.result_id)
