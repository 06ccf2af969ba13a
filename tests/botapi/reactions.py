"""Message reactions for the Bot API test server: a user sets, changes or removes their
reaction to a message (``react``), and the bot gets a ``message_reaction`` update.

As Telegram does (https://core.telegram.org/bots/api#messagereactionupdated): the update comes
only when the bot asked for it in ``allowed_updates`` (it is not among the default types), in
groups only when the bot is an administrator there, never for reactions set by bots, and not
when nothing changed. Non-premium users set at most one reaction; premium users up to three.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import SimChat, SimUser, StoredMessage

__all__ = ["ReactionsMixin"]

MAX_REACTIONS = 1
MAX_PREMIUM_REACTIONS = 3


class ReactionsMixin:
    """Users' reactions to messages; mixed into ``BotApiServer``."""

    def _init_reactions(self) -> None:
        #: The reactions on each message by user: (chat id, message id) -> user id -> emoji.
        self.reactions: dict[tuple[int, int], dict[int, list[str]]] = {}

    def react(
        self,
        chat: int | SimChat,
        user: SimUser,
        message: dict[str, Any] | int,
        emoji: str | Sequence[str] = (),
    ) -> dict[str, Any] | None:
        """``user`` sets their reaction on ``message`` to ``emoji`` (one, or several for a
        premium user; nothing removes it). Returns the update's MessageReactionUpdated, or
        None when the bot does not get one."""
        sim = self.chat(chat)
        mid = message if isinstance(message, int) else message["message_id"]
        stored = self._messages.get((sim.id, mid))
        if stored is None or stored.deleted:
            raise ValueError(f"no message {mid} in chat {sim.id}")
        new = [emoji] if isinstance(emoji, str) else list(emoji)
        if len(new) > (MAX_PREMIUM_REACTIONS if user.is_premium else MAX_REACTIONS):
            raise ValueError("too many reactions for this user")
        if len(set(new)) != len(new):
            raise ValueError("the same reaction twice")
        on_message = self.reactions.setdefault((sim.id, mid), {})
        old = on_message.get(user.id, [])
        if old == new:
            return None
        if new:
            on_message[user.id] = new
        else:
            on_message.pop(user.id, None)
        if user.is_bot or not self._reaction_reaches_bot(sim):
            return None
        payload = {
            "chat": sim.to_dict(),
            "message_id": mid,
            "user": user.to_dict(),
            "date": int(time.time()),
            "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
            "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
        }
        update = self._enqueue("message_reaction", payload)
        return payload if update is not None else None

    def _reaction_reaches_bot(self, chat: SimChat) -> bool:
        """In groups the bot must be an administrator to get reactions."""
        if chat.type == "private":
            return not chat.blocked
        return chat.bot_status == "administrator" and not chat.migrated_to

    if TYPE_CHECKING:
        _messages: dict[tuple[int, int], StoredMessage]

        def chat(self, chat_id: int | SimChat) -> SimChat: ...
        def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None: ...
