"""The buttons under an answer: their callback data, the keyboard, and what a press does
(show a cited passage, show more sources, record feedback)."""

from __future__ import annotations

import asyncio

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from index.engine import Engine
from index.passages import Passage

from .context import Context
from .feedback import record_vote
from .flood import admit
from .formatting import format_passage_html, format_sources_html
from .i18n import ENGLISH, Translator, language_for, translator, translator_for
from .replies import reply

__all__ = ["MORE_SOURCES", "answer_keyboard", "button", "parse_callback"]

MORE_SOURCES = 5  # extra passages behind the "More sources" button

# Callback data names the answer by its key in the state store (so a button keeps working
# after a restart, and data from elsewhere finds no answer):
#   p:<key>:<n>   show cited passage n (1-based)
#   m:<key>       show the passages after the cited ones
#   f:<key>:+|-   feedback on the answer


def answer_keyboard(
    key: str, citations: int, more: bool, tr: Translator = ENGLISH
) -> InlineKeyboardMarkup:
    """📄 [1] … [n] for the cited passages; then 📚 More sources (when there are more), 👍, 👎."""
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
        label = "📚 " + tr.gettext("More sources")
        last.insert(0, InlineKeyboardButton(label, callback_data=f"m:{key}"))
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


async def button(update: Update, context: Context) -> None:
    """Inline buttons: full passage, more sources, feedback. Forged or stale data is refused."""
    query = update.callback_query
    if query is None or not await admit(update, context):
        return
    svc = context.services
    kind, key, arg = parse_callback(query.data or "")
    record = await asyncio.to_thread(svc.state.answer, key) if kind else None
    if record is None or (query.message is not None and record.chat_id != query.message.chat.id):
        _ = translator_for(update, context).gettext
        await query.answer(_("This button has expired. Please ask again."), show_alert=True)
        return
    # In the language of the question the answer answered (or the chat's /language choice).
    language = language_for(update, context, record.question)
    _ = translator(language).gettext
    if kind == "f":
        if arg not in ("+", "-"):
            await query.answer(_("Unknown feedback."), show_alert=True)
            return
        await record_vote(
            svc,
            record,
            query.from_user.id,
            1 if arg == "+" else -1,
            source="button",
            chat_type=query.message.chat.type if query.message is not None else None,
        )
        await query.answer(_("Thanks for the feedback!"))
        return
    # The first lookup builds an id -> passage map over the whole index: not on the loop.
    passages = await asyncio.to_thread(_passages, svc.ready_engine(), record.passage_ids)
    k = svc.config.retrieval.top_k
    if kind == "p":
        index = int(arg) - 1 if arg.isdigit() else -1
        if not 0 <= index < min(len(record.passage_ids), k + MORE_SOURCES):
            await query.answer(_("There is no such source."), show_alert=True)
            return
        passage = passages.get(record.passage_ids[index])
        if passage is None:
            await query.answer(_("That passage is no longer in the index."), show_alert=True)
            return
        await query.answer()
        await _send_to(query.message, format_passage_html(passage, index + 1, language=language))
        return
    extra = [passages[p] for p in record.passage_ids[k:] if p in passages]
    if not extra:
        await query.answer(_("No more sources for this answer."), show_alert=True)
        return
    await query.answer()
    await _send_to(query.message, format_sources_html(extra, start=k + 1, language=language))


def _passages(engine: Engine, ids: tuple[str, ...]) -> dict[str, Passage]:
    by_id = engine.store.passage_by_id
    return {pid: by_id[pid] for pid in ids if pid in by_id}


async def _send_to(message: object, text: str) -> None:
    """Reply to the answer a button is under (not when it is too old for the bot to reach)."""
    if isinstance(message, Message):
        await reply(message, text)
