"""Which messages are meant for the bot: in groups, a mention or a reply to the bot; commands
addressed as ``/name@bot``."""

from __future__ import annotations

from telegram import Bot, Message
from telegram.constants import ChatType, MessageEntityType

__all__ = ["addressed_to_bot", "command_target", "for_bot"]


def addressed_to_bot(message: Message, bot: Bot) -> bool:
    """Whether a message replies to the bot or mentions it (in its text or its caption)."""
    username = (bot.username or "").lower()
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
        return True
    entities = message.parse_entities([MessageEntityType.MENTION]) if message.text else {}
    if message.caption:
        entities = message.parse_caption_entities([MessageEntityType.MENTION])
    return any(text.lower() == f"@{username}" for text in entities.values())


def for_bot(message: Message, bot: Bot) -> bool:
    """Whether the bot should take a message: every message in a private chat; in a group only
    one addressed to the bot (the others are people talking to each other). Never an answer a
    user sent through the bot's inline mode (``via_bot``): it is the bot's own answer."""
    if message.via_bot is not None and message.via_bot.id == bot.id:
        return False
    return message.chat.type == ChatType.PRIVATE or addressed_to_bot(message, bot)


def command_target(text: str) -> tuple[str, str]:
    """``/name@bot rest`` -> (name, bot); the bot is "" when the command names none."""
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    name, _, target = head.removeprefix("/").partition("@")
    return name, target
