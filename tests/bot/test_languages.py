"""Replies in the reader's language, through the Bot API test server: French fixed texts for a
French question or a French Telegram, /language to choose, the menus in both languages, and
quoted sentences left in the language of their source."""

from __future__ import annotations

import pytest

from bot.commands import PUBLIC_COMMANDS
from tests.bot.conftest import BotEnv

pytestmark = pytest.mark.slow


def _text(message: dict) -> str:  # type: ignore[type-arg]
    return str(message.get("text", ""))


async def test_a_user_whose_telegram_is_in_french_gets_french_help(bot_env: BotEnv) -> None:
    server = bot_env.server
    fatou = server.create_user("Fatou", language_code="fr")
    chat = server.create_private_chat(fatou)
    server.send_text(chat, fatou, "/start")
    (start,) = await server.wait_for_messages(chat, 1)
    assert _text(start).startswith("Bonjour ! Je réponds aux questions")
    assert "Je connais 1 article :" in _text(start)
    server.send_text(chat, fatou, "/help")
    _, help_text = await server.wait_for_messages(chat, 2)
    assert _text(help_text).startswith("Comment poser une question")
    assert "/language fr" in _text(help_text)


async def test_the_command_menus_are_in_english_and_french(bot_env: BotEnv) -> None:
    server = bot_env.server
    await server.wait_for_calls("setMyCommands", 2)
    english = {c["command"]: c["description"] for c in server.commands()}
    french = {c["command"]: c["description"] for c in server.commands(None, "fr")}
    assert set(english) == set(french) == {c.command for c in PUBLIC_COMMANDS}
    assert english["language"] == "The language of my replies"
    assert french["language"] == "La langue de mes réponses"
    assert french["sources"] == "Les documents que je connais"


async def test_language_command_switches_the_chat(bot_env: BotEnv) -> None:
    """/language fr makes an English user's chat French; /language en and auto go back; a
    wrong argument gets the usage, in the chat's current language. (Six commands: the flood
    limit.)"""
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    steps = [
        ("/language", "I reply in the language of each question"),
        ("/language fr", "Désormais, je réponds ici en français."),
        ("/help", "Comment poser une question"),
        ("/language klingon", "Ici, je réponds en français."),
        ("/language en", "From now on I reply in English here."),
        ("/language auto", "From now on I reply in the language of each question"),
    ]
    for count, (command, expected) in enumerate(steps, start=1):
        server.send_text(chat, alice, command)
        replies = await server.wait_for_messages(chat, count)
        assert expected in _text(replies[-1]), (command, _text(replies[-1]))
    assert bot_env.state.chat_language(chat.id) is None
