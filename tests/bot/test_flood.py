"""Every reply is rate limited: one user spamming commands, stickers, files, refused admin
commands or buttons gets at most ``chat.flood_questions`` replies and one warning a window."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.flood import SLOW_DOWN
from tests.bot.conftest import BotEnv
from tests.botapi import BotApiServer, SimChat, SimUser

pytestmark = pytest.mark.slow

SPAM = 20


async def settled(server: BotApiServer, state_path: Path) -> None:
    """Every update sent so far was taken in and its handlers have returned."""

    def unfinished() -> int:
        with contextlib.closing(sqlite3.connect(state_path)) as db:
            return int(db.execute("SELECT count(*) FROM inbox WHERE done IS NULL").fetchone()[0])

    await server.wait_until_consumed(60)
    await server.wait_for(lambda: unfinished() == 0, 60, "the bot to finish every update")


SENDERS: dict[str, Callable[[BotApiServer, SimChat, SimUser], Any]] = {
    "/start": lambda s, c, u: s.send_text(c, u, "/start"),
    "/help": lambda s, c, u: s.send_text(c, u, "/help"),
    "/sources": lambda s, c, u: s.send_text(c, u, "/sources"),
    "/latest": lambda s, c, u: s.send_text(c, u, "/latest"),
    "an empty /ask": lambda s, c, u: s.send_text(c, u, "/ask"),
    "stickers": lambda s, c, u: s.send_sticker(c, u),
    "photos": lambda s, c, u: s.send_photo(c, u),
    "an unknown command": lambda s, c, u: s.send_text(c, u, "/weather"),
    "a refused admin command": lambda s, c, u: s.send_text(c, u, "/stats"),
    "a refused /add": lambda s, c, u: s.send_text(c, u, "/add https://example.org/"),
    "files from a non-admin": lambda s, c, u: s.send_document(
        c, u, file_name="story.txt", content=b"A story."
    ),
    "emoji only": lambda s, c, u: s.send_text(c, u, "🙂🙂🙂"),
}


@pytest.mark.parametrize("what", list(SENDERS))
async def test_one_user_spamming_gets_the_limit_of_replies_and_one_warning(
    bot_env: BotEnv, what: str
) -> None:
    server = bot_env.server
    limit = bot_env.config.chat.flood_questions
    spammer, other = server.create_user("Spammer"), server.create_user("Other")
    chat, others = server.create_private_chat(spammer), server.create_private_chat(other)
    for _ in range(SPAM):
        SENDERS[what](server, chat, spammer)
    server.send_text(others, other, "/start")  # someone else is not held up
    await server.wait_for_messages(others, 1, timeout=30)
    await settled(server, bot_env.config.chat.state_path)
    texts = [m.get("text", "") for m in server.sent_messages(chat)]
    assert len(texts) == limit + 1, texts  # the limit's replies, one warning, nothing more
    assert texts.count(SLOW_DOWN) == 1, texts  # (replies run concurrently: in any order)


async def test_one_user_pressing_buttons_gets_the_limit_of_answers_and_one_warning(
    bot_env: BotEnv,
) -> None:
    server, alice = bot_env.server, bot_env.alice
    limit = bot_env.config.chat.flood_questions
    chat = server.create_private_chat(alice)
    server.send_text(chat, alice, "Who will the ministers meet in Moscow?")  # one of the limit
    (answer,) = await server.wait_for_messages(chat, 1, timeout=30)
    buttons = {
        b["text"]: b["callback_data"]
        for row in answer["reply_markup"]["inline_keyboard"]
        for b in row
    }
    presses = [server.press_button(chat, alice, answer, buttons["👍"]) for _ in range(SPAM)]
    presses += [server.press_button(chat, alice, answer, buttons["📄 [1]"]) for _ in range(SPAM)]
    await settled(server, bot_env.config.chat.state_path)
    answered = [server.callback_answers.get(p["id"]) for p in presses]
    answered = [a for a in answered if a is not None]
    warnings = [a for a in answered if a.get("text") == SLOW_DOWN]
    assert len(answered) == limit and len(warnings) == 1, answered  # 5 presses + the warning
    assert len(server.sent_messages(chat)) == 1  # no passage was sent: the 👍 used the limit
