"""Pure: the articles an inline query (``@bot question``) is answered with: the answer, one per
cited source, "not found", a hint to type a question, "try again", "slow down".

Each article's message is what the bot would reply in a chat (``formatting.format_html``:
answer sentences, citations linked to their sources), within Telegram's 4,096 characters; titles
and descriptions are shortened to what a client shows. Result ids are short, fixed and unique
within an answer (Telegram refuses ids over 64 bytes or repeated).
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping, Sequence

from telegram import InlineQueryResultArticle, InputTextMessageContent
from telegram.constants import ParseMode

from index.passages import Answer, Hit

from .formatting import citation_label, format_html, shorten
from .i18n import N_, Translator, translator
from .replies import NO_PREVIEW

__all__ = [
    "DESCRIPTION_CHARS",
    "SLOW_DOWN_TITLE",
    "TITLE_CHARS",
    "answer_results",
    "article",
    "hint_result",
    "not_found_result",
    "try_again_result",
]

TITLE_CHARS = 64  # a client shows one line of the title ...
DESCRIPTION_CHARS = 160  # ... and two or three of the description

HINT_TITLE = N_("Type a question")
HINT_DESCRIPTION = N_("For example: When will the ministers visit Moscow?")
HINT_MESSAGE = N_(
    "Ask me about the news in any chat: type @{bot} and your question, then pick the answer."
)
NOT_FOUND_TITLE = N_("No answer found")
NOT_FOUND_DESCRIPTION = N_("Nothing in the stories I know answers that.")
TRY_AGAIN_TITLE = N_("No answer yet")
TRY_AGAIN_DESCRIPTION = N_("I am busy; please try again in a moment.")
SLOW_DOWN_TITLE = N_("Too many questions")  # flood.admit's result for inline queries
UNSURE_TITLE = N_("Not sure: {sentence}")


def article(
    result_id: str, title: str, description: str, message_html: str
) -> InlineQueryResultArticle:
    """An article result whose message is ``message_html`` (Telegram HTML, no link preview);
    title and description shortened to what a client shows."""
    return InlineQueryResultArticle(
        id=result_id,
        title=shorten(title, TITLE_CHARS) or "…",
        description=shorten(description, DESCRIPTION_CHARS),
        input_message_content=InputTextMessageContent(
            message_html, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        ),
    )


def answer_results(
    answer: Answer,
    *,
    top_k: int,
    count: int,
    language: str,
    passage_languages: Mapping[str, str | None] | None = None,
) -> list[InlineQueryResultArticle]:
    """Up to ``count`` articles for a found answer: the whole answer (as a chat reply cites
    it, ``top_k`` sources), then, when its sentences come from several sources, the sentences
    of each source with that one citation."""
    tr = translator(language)
    lead = answer.sentences[0]
    results = [
        article(
            "answer",
            _title(lead.text, answer, tr),
            citation_label(lead.passage, tr),
            format_html(
                answer, max_hits=top_k, language=language, passage_languages=passage_languages
            ),
        )
    ]
    for n, part in enumerate(_by_source(answer), start=1):
        if len(results) >= count:
            break
        results.append(
            article(
                f"source-{n}",
                _title(part.sentences[0].text, answer, tr),
                citation_label(part.hits[0].passage, tr),
                format_html(
                    part, max_hits=1, language=language, passage_languages=passage_languages
                ),
            )
        )
    return results[:count]


def _title(sentence: str, answer: Answer, tr: Translator) -> str:
    return sentence if answer.sure else tr.gettext(UNSURE_TITLE).format(sentence=sentence)


def _by_source(answer: Answer) -> list[Answer]:
    """The answer split by the passage each sentence comes from (in the answer's order); none
    when every sentence comes from one passage (that part would repeat the whole answer)."""
    order: list[str] = []
    for sentence in answer.sentences:
        if sentence.passage.passage_id not in order:
            order.append(sentence.passage.passage_id)
    if len(order) < 2:
        return []
    hits = {h.passage.passage_id: h for h in answer.hits}
    parts = []
    for pid in order:
        sentences = tuple(s for s in answer.sentences if s.passage.passage_id == pid)
        hit = hits.get(pid) or Hit(sentences[0].passage, sentences[0].score)
        phrase = answer.phrase if sentences[0] is answer.sentences[0] else None
        parts.append(dataclasses.replace(answer, sentences=sentences, hits=(hit,), phrase=phrase))
    return parts


def not_found_result(
    answer: Answer, known_titles: Sequence[str], language: str
) -> InlineQueryResultArticle:
    """One article saying that nothing answers, with a few stories the bot knows (as in a chat)."""
    tr = translator(language)
    return article(
        "not-found",
        tr.gettext(NOT_FOUND_TITLE),
        tr.gettext(NOT_FOUND_DESCRIPTION),
        format_html(answer, known_titles=known_titles, language=language),
    )


def hint_result(tr: Translator, bot_username: str) -> InlineQueryResultArticle:
    """For an empty or too short query: type a question (its message tells how to ask)."""
    return article(
        "hint",
        tr.gettext(HINT_TITLE),
        tr.gettext(HINT_DESCRIPTION),
        _html(tr.gettext(HINT_MESSAGE).format(bot=bot_username or "bot")),
    )


def try_again_result(tr: Translator) -> InlineQueryResultArticle:
    """When no answer is ready within the inline deadline (or the bot is not ready)."""
    return article(
        "try-again",
        tr.gettext(TRY_AGAIN_TITLE),
        tr.gettext(TRY_AGAIN_DESCRIPTION),
        _html(tr.gettext(TRY_AGAIN_DESCRIPTION)),
    )


def _html(text: str) -> str:
    return html.escape(text, quote=False)
