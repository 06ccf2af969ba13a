"""Replies in the reader's language, through the Bot API test server: French fixed texts for a
French question or a French Telegram, /language to choose, the menus in both languages, and
quoted sentences left in the language of their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.admin import notify_admins
from bot.app import admin_language
from bot.commands import PUBLIC_COMMANDS
from bot.config import load_config
from bot.runtime import install_other, reindex
from index.embedder import Embedder
from index.engine import Engine
from index.models import E5_MODEL
from index.store import IndexStore
from tests.bot.conftest import TOKEN, BotEnv, start_bot, stop_bot
from tests.botapi import BotApiServer
from tests.conftest import EMBEDDING, SHIPPED

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


async def test_a_french_question_gets_french_texts_and_the_english_sentence(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder, e5: Embedder
) -> None:
    """On the shipped config (the split: MiniLM for English, e5 for other languages), asked in
    French by a user whose Telegram is in English: e5's index answers, the fixed texts are
    French, the quoted sentence stays English, and the reply says its source is in English;
    after /language en the same question gets English texts, with no note."""
    other = SHIPPED.index.other_languages_model
    assert other == E5_MODEL
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        config = load_config(
            {
                "corpus": {"path": str(corpus_dir)},
                "index": {
                    "path": str(tmp_path / "index"),
                    **EMBEDDING,
                    "other_languages_model": other,
                },
                "chat": {"state_path": str(tmp_path / "state.sqlite3"), "typing_after_seconds": 0},
                "telegram": {"base_url": server.root_url, "admins": [1]},
            },
            environ={"TELEGRAM_BOT_TOKEN": TOKEN},
        )
        reindex(config, lambda: embedder, None, lambda: e5)
        store = IndexStore.load(config.index.path, config.embedding_id)
        engine = Engine(store, embedder, config.ranking_settings())
        install_other(config, engine, e5)
        question = "Quand les ministres se rendent-ils à Moscou ?"
        assert engine.other is not None and engine.for_question(question) is engine.other
        assert engine.for_question("When will the ministers go to Moscow?") is engine
        application, state = await start_bot(config, engine, embedder)
        try:
            alice = server.create_user("Alice", language_code="en")
            chat = server.create_private_chat(alice)
            server.send_text(chat, alice, question)
            (french,) = await server.wait_for_messages(chat, 1)
            server.send_text(chat, alice, "/language en")
            await server.wait_for_messages(chat, 2)
            server.send_text(chat, alice, question)
            english = (await server.wait_for_messages(chat, 3))[2]
        finally:
            await stop_bot(application, state)
    sentence = next(s for s in store.passages[0].sentences if "April 3-4" in s)
    lines = _text(french).split("\n")
    if lines[0].startswith("Je ne suis pas sûr que cela réponde"):
        lines = lines[1:]
    assert lines[0] == f"{sentence} [1]"  # the English sentence, as the story has it
    assert "Sources en anglais." in lines
    assert "partie 1 sur 5" in _text(french)
    assert sentence in _text(english)
    assert "anglais" not in _text(english) and "Je ne suis" not in _text(english)
    assert "part 1 of 5" in _text(english)


async def test_admins_get_notices_in_their_chats_language(bot_env: BotEnv) -> None:
    """A notice written per language reaches each admin in their private chat's /language
    choice, else chat.default_language (English)."""
    server, admin = bot_env.server, bot_env.admin
    services = bot_env.application.bot_data.services  # type: ignore[attr-defined]
    chat = server.create_private_chat(admin)
    server.send_text(chat, admin, "/language fr")
    await server.wait_for_messages(chat, 1)
    other = server.create_user("Olu", language_code="fr")
    other_chat = server.create_private_chat(other)
    await notify_admins(
        bot_env.application.bot,  # type: ignore[attr-defined]
        [admin.id, other.id],
        lambda tr: tr.gettext("I still cannot answer questions."),
        language_of=admin_language(services),
    )
    (_, french) = await server.wait_for_messages(chat, 2)
    assert _text(french) == "Je ne peux toujours pas répondre aux questions."
    (english,) = await server.wait_for_messages(other_chat, 1)
    assert _text(english) == "I still cannot answer questions."
