"""Which earlier answer a new question continues: the conversation rules that the bot, the
terminal chat and the conversation evaluation share."""

from __future__ import annotations

from index.followup import Turn

from .state import AnswerRecord, StateStore

__all__ = ["CONTEXT_TURNS", "continued_answer", "history_of"]

CONTEXT_TURNS = 4  # earlier turns a question is read with, at most


def continued_answer(
    state: StateStore,
    *,
    chat_id: int,
    thread_id: int | None,
    user_id: int | None,
    reply_to_message_id: int | None,
    since: float,
) -> AnswerRecord | None:
    """The answer a question follows up, or None when it starts a new conversation.

    A reply to one of the bot's answers continues that answer's thread (none if the answer is
    older than ``since``). Otherwise the question continues the asker's own newest answer in
    the chat (and forum topic) since ``since``, so that two people asking in one group keep
    their threads apart, or else the chat's newest answer.
    """
    if reply_to_message_id is not None:
        record = state.answer_for_message(chat_id, reply_to_message_id)
        if record is not None:
            return record if record.created >= since else None
    if user_id is not None:
        own = state.latest_answer(chat_id, thread_id, since, user_id=user_id)
        if own is not None:
            return own
    return state.latest_answer(chat_id, thread_id, since)


def history_of(record: AnswerRecord | None) -> tuple[Turn, ...]:
    """The turns a question that continues ``record`` is read with, oldest first."""
    return record.context()[-CONTEXT_TURNS:] if record else ()
