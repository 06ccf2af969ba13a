"""End to end: the real Application over real HTTP against the Bot API test server."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.commands import ADMIN_COMMANDS
from bot.config import Config
from bot.runtime import reindex
from index.embedder import Embedder
from index.engine import Engine
from index.store import IndexStore
from tests.bot.conftest import (
    TOKEN,
    BotEnv,
    make_config,
    start_bot,
    stop_bot,
    wait_until_handled,
)
from tests.botapi import BotApiServer, SimUser

pytestmark = pytest.mark.slow


def _text(message: dict) -> str:  # type: ignore[type-arg]
    return str(message.get("text", ""))


def _first_line(message: dict) -> str:  # type: ignore[type-arg]
    """The reply's leading answer sentence (after the "not sure" preface, if any)."""
    lines = _text(message).split("\n")
    return lines[1] if lines[0].startswith("I am not sure") else lines[0]


def _buttons(message: dict) -> list[dict]:  # type: ignore[type-arg]
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def test_private_question_is_answered_with_citation(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
    (reply,) = await server.wait_for_messages(chat, 1)
    first_line = _first_line(reply)
    assert "Sergei Lavrov" in first_line
    assert "Amnewsworld" in _text(reply)
    assert "[1]" in _text(reply)
    assert any(e["type"] == "blockquote" for e in reply.get("entities", []))
    assert server.calls("sendChatAction")  # typing indicator
    labels = [b["text"] for b in _buttons(reply)]
    assert "👍" in labels and "👎" in labels and "📄 [1]" in labels


async def test_the_exact_torch_float32_path_answers_too(
    tmp_path: Path, corpus_dir: Path, torch_embedder: Embedder
) -> None:
    """config.toml ships ONNX int8 (what the other bot tests run); the exact path, torch in
    float32, indexes and answers as well."""
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        config = make_config(tmp_path, server, 1, tmp_path / "index", corpus_dir)
        exact = dataclasses.replace(config.index, backend="torch", precision="float32")
        config = dataclasses.replace(config, index=exact)
        assert config.embedding_id == torch_embedder.name
        report = reindex(config, lambda: torch_embedder)
        assert report.embedded == report.passages > 0
        store = IndexStore.load(config.index.path, config.embedding_id)
        engine = Engine(store, torch_embedder, config.ranking_settings())
        application, state = await start_bot(config, engine, torch_embedder)
        try:
            alice = server.create_user("Alice")
            chat = server.create_private_chat(alice)
            server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
            (reply,) = await server.wait_for_messages(chat, 1)
            assert "Sergei Lavrov" in _first_line(reply)
        finally:
            await stop_bot(application, state)


async def test_sources_pages_and_bad_page_numbers(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    count = bot_env.engine.document_count()
    for command in ("/sources", "/sources 2", "/sources two"):
        server.send_text(chat, alice, command)
    # Commands are handled concurrently: the replies may come in any order.
    replies = sorted(_text(m) for m in await server.wait_for_messages(chat, 3))
    listing, usage, beyond = replies
    assert listing.startswith(f"{count} document")
    (title, _, _) = bot_env.engine.document_titles(1)[0]
    assert f"• {title}" in listing
    assert beyond == "There is only 1 page of documents: /sources 1 is the last."
    assert usage.startswith("Send /sources for the first page")


async def test_group_follow_up_pair_is_answered_in_context(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    group = server.create_group("Newsroom", members=[alice], supergroup=True)
    asked = server.send_text(group, alice, "@storybot What is the AES?")
    (first,) = await server.wait_for_messages(group, 1)
    assert "Confederation of Sahel States" in _text(first)
    assert first["reply_to_message"]["message_id"] == asked["message_id"]
    server.send_text(group, alice, "@storybot When was it formed?")
    replies = await server.wait_for_messages(group, 2)
    assert "2024" in _first_line(replies[1])


async def test_two_interleaved_threads_in_one_group_stay_apart(bot_env: BotEnv) -> None:
    server, alice, bob = bot_env.server, bot_env.alice, bot_env.bob
    group = server.create_group("Desk", members=[alice, bob], supergroup=True)
    server.send_text(group, alice, "/ask What is the AES?")
    (aes,) = await server.wait_for_messages(group, 1)
    server.send_text(group, bob, "/ask Through which group has Russia supplied military aid?")
    _, wagner = await server.wait_for_messages(group, 2)
    assert "Wagner" in _text(wagner)
    # Each replies to their own answer: each follow-up continues its own thread.
    server.send_text(group, alice, "When was it formed?", reply_to=aes)
    server.send_text(group, bob, "What role has that group played?", reply_to=wagner)
    replies = await server.wait_for_messages(group, 4)
    assert "2024" in _first_line(replies[2])
    assert "counterterrorism" in _first_line(replies[3])


async def test_mentions_by_two_people_keep_their_own_threads(bot_env: BotEnv) -> None:
    """With no reply to lean on, a mention continues the asker's own thread, not the newest
    answer in the group; a bare "and when?" asks the asker's question again for a date, and
    the date is in bold."""
    server, alice, bob = bot_env.server, bot_env.alice, bot_env.bob
    group = server.create_group("Desk", members=[alice, bob], supergroup=True)
    server.send_text(group, alice, "@storybot Who are the ministers meeting in Moscow?")
    (lavrov,) = await server.wait_for_messages(group, 1)
    assert "Lavrov" in _first_line(lavrov)
    server.send_text(group, bob, "@storybot What is the Wagner Group?")
    await server.wait_for_messages(group, 2)
    server.send_text(group, alice, "@storybot and when?")
    replies = await server.wait_for_messages(group, 3)
    when = replies[2]
    assert "April 3-4" in _first_line(when)
    bold = [
        when["text"][e["offset"] : e["offset"] + e["length"]]
        for e in when.get("entities", [])
        if e["type"] == "bold"
    ]
    assert "April 3-4" in bold


async def test_privacy_mode_plain_group_chatter_is_ignored(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    group = server.create_group("Chatter", members=[alice])
    plain = server.send_text(group, alice, "What is the AES?")
    assert not server.was_delivered(plain)
    server.send_text(group, alice, "/ask@otherbot What is the AES?")
    server.send_text(group, alice, "/ask@storybot What is the AES?")
    (reply,) = await server.wait_for_messages(group, 1)
    assert "AES" in _text(reply)


async def test_forum_topic_reply_stays_in_topic(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    forum = server.create_group("Forum", members=[alice], supergroup=True, forum=True)
    topic = server.create_topic(forum, "Sahel")
    server.send_text(
        forum, alice, "@storybot How big is the joint military force?", thread_id=topic
    )
    (reply,) = await server.wait_for_messages(forum, 1)
    assert reply.get("message_thread_id") == topic.thread_id
    assert "5,000" in _text(reply)


async def test_buttons_full_passage_more_sources_and_feedback(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    server.send_text(chat, alice, "What is the Wagner Group doing for the AES?")
    (answer,) = await server.wait_for_messages(chat, 1)
    buttons = {b["text"]: b["callback_data"] for b in _buttons(answer)}

    query = server.press_button(chat, alice, answer, buttons["📄 [1]"])
    await server.wait_for_callback_answer(query)
    _, passage = await server.wait_for_messages(chat, 2)
    assert "[1]" in _text(passage) and len(_text(passage)) > 100

    query = server.press_button(chat, alice, answer, buttons["👍"])
    assert "Thanks" in (await server.wait_for_callback_answer(query)).get("text", "")
    query = server.press_button(chat, alice, answer, buttons["👎"])  # changes the vote
    await server.wait_for_callback_answer(query)
    stats = bot_env.state.stats()
    assert (stats["thumbs_up"], stats["thumbs_down"]) == (0, 1)

    # The story has more passages about Wagner than an answer cites: the rest are one press away.
    query = server.press_button(chat, alice, answer, buttons["📚 More sources"])
    await server.wait_for_callback_answer(query)
    more = (await server.wait_for_messages(chat, 3))[2]
    assert "[4]" in _text(more)


async def test_forged_and_expired_buttons_are_refused(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    server.send_text(chat, alice, "What is the AES?")
    (answer,) = await server.wait_for_messages(chat, 1)
    for data in ("p:ffffffffffff:1", "f:../../etc/passwd:+", "garbage", "m:", "p:x:999"):
        query = server.press_button(chat, alice, answer, data, forged=True)
        reply = await server.wait_for_callback_answer(query)
        assert reply.get("show_alert") is True
    assert len(server.sent_messages(chat)) == 1


async def test_non_admin_is_refused_reindex_and_stats(
    bot_env: BotEnv, caplog: pytest.LogCaptureFixture
) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    with caplog.at_level(logging.WARNING):
        server.send_text(chat, alice, "/reindex")
        server.send_text(chat, alice, "/stats")
        replies = await server.wait_for_messages(chat, 2)
    assert all("only the bot's admins" in _text(r) for r in replies)
    assert f"Refused /stats from non-admin user {alice.id}" in caplog.text
    assert f"Refused /reindex from non-admin user {alice.id}" in caplog.text
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert not bot_env.application.bot_data.services.reindexer.jobs  # no reindex was started


async def test_admin_reindex_completes_while_questions_are_answered(bot_env: BotEnv) -> None:
    server, admin, alice = bot_env.server, bot_env.admin, bot_env.alice
    (bot_env.corpus / "harbour.md").write_text(
        "---\ntitle: Harbour reopens\nsource: Port Gazette\ndate: 2025-05-02\n---\n\n"
        "The old harbour of Saint-Louis reopened on Friday after three years of repairs, and "
        "the first ship to dock was a grain carrier from Dakar carrying twelve thousand tonnes.\n"
    )
    admin_chat = server.create_private_chat(admin)
    alice_chat = server.create_private_chat(alice)
    server.send_text(admin_chat, admin, "/reindex")
    server.send_text(admin_chat, admin, "/reindex")
    server.send_text(alice_chat, alice, "Who will the ministers meet in Moscow?")
    (answer,) = await server.wait_for_messages(alice_chat, 1)
    assert "Lavrov" in _text(answer)

    reindexer = bot_env.application.bot_data.services.reindexer
    await server.wait_for_messages(admin_chat, 2)
    await reindexer.wait()
    progress, second = server.sent_messages(admin_chat)[:2]
    assert "already running" in _text(second)
    await server.wait_for(
        lambda: "Reindex finished" in _text(server.message(admin_chat, progress["message_id"])),
        timeout=10,
        what="the progress message to show the summary",
    )
    final = _text(server.message(admin_chat, progress["message_id"]))
    assert "1 added" in final and "passages" in final

    server.send_text(alice_chat, alice, "Which ship docked first at the reopened harbour?")
    replies = await server.wait_for_messages(alice_chat, 2)
    assert "grain carrier" in _text(replies[1]) and "Port Gazette" in _text(replies[1])

    server.send_text(admin_chat, admin, "/stats")
    stats = (await server.wait_for_messages(admin_chat, 3))[2]
    assert "Documents: 2" in _text(stats) and "Questions answered: 2" in _text(stats)


async def test_admin_commands_only_in_admin_menus(bot_env: BotEnv) -> None:
    server = bot_env.server
    # English and French default menus; the admin's failed: no chat with them yet
    await server.wait_for_calls("setMyCommands", 3)
    assert "reindex" not in {c["command"] for c in server.commands()}
    admin_chat = server.create_private_chat(bot_env.admin)
    server.send_text(admin_chat, bot_env.admin, "/start")
    await server.wait_for_calls("setMyCommands", 5)
    public = {c["command"] for c in server.commands()}
    assert "reindex" not in public and "ask" in public and "language" in public
    admin_scope = {"type": "chat", "chat_id": bot_env.admin.id}
    for language in ("", "fr"):
        admin = {c["command"] for c in server.commands(admin_scope, language)}
        assert admin == {c.command for c in ADMIN_COMMANDS}


async def test_odd_messages_get_friendly_explanations(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    # One at a time: a refusal goes out as soon as it is decided, so refusals of messages sent
    # together may arrive in any order (only answers keep the order asked).
    server.send_sticker(chat, alice)
    (reply,) = await server.wait_for_messages(chat, 1)
    assert "only read text" in _text(reply)
    odd = [("🙂🙂🙂", "in words"), ("x" * 1500 + "?", "too long"), ("\u200b\u200b", "in words")]
    for count, (text, expected) in enumerate(odd, start=2):
        server.send_text(chat, alice, text)
        replies = await server.wait_for_messages(chat, count)
        assert expected in _text(replies[-1]), (text[:20], _text(replies[-1]))


async def test_edited_question_is_answered_again(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    message = server.send_text(chat, alice, "Who will the ministers meat?")
    await server.wait_for_messages(chat, 1)
    server.edit_text(message, "How big is the joint military force?")
    replies = await server.wait_for_messages(chat, 2)
    assert "5,000" in _text(replies[1])


async def test_html_hostile_question_and_corpus_are_delivered(
    bot_env: BotEnv, embedder: Embedder
) -> None:
    server, alice, admin = bot_env.server, bot_env.alice, bot_env.admin
    (bot_env.corpus / "hostile.md").write_text(
        '---\ntitle: "Tags <b>unclosed & <script>alert(1)</script>"\nsource: A & B <i>\n---\n'
        "\nThe parser test story says that 3 < 5 && 7 > 2 <b>always, and that the "
        "&nbsp; entity and <a href='x'>links</a> must never reach Telegram unescaped.\n"
    )
    admin_chat = server.create_private_chat(admin)
    server.send_text(admin_chat, admin, "/reindex")
    await server.wait_for_messages(admin_chat, 1)
    await bot_env.application.bot_data.services.reindexer.wait()

    chat = server.create_private_chat(alice)
    server.send_text(
        chat,
        alice,
        "<script>alert(1)</script> & <b> what does the parser test story say about 3 < 5?",
    )
    server.send_text(chat, alice, "**bold** _it_ `code` [link](http://x) </b> &amp;")
    replies = await server.wait_for_messages(chat, 2)
    assert "3 < 5 && 7 > 2 <b>always" in _text(replies[0])
    sent = server.calls("sendMessage") + server.calls("editMessageText")
    assert not [c.error for c in sent if c.error]


@contextlib.asynccontextmanager
async def private_setup(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path, **chat: float
) -> AsyncIterator[tuple[BotApiServer, Config, Engine, SimUser]]:
    """A test server and a config of their own (for tests that start and stop the bot)."""
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        config = make_config(tmp_path, server, 1, index_dir, corpus_dir)
        config = dataclasses.replace(config, chat=dataclasses.replace(config.chat, **chat))
        engine = Engine(
            IndexStore.load(index_dir, embedder.name), embedder, config.ranking_settings()
        )
        yield server, config, engine, server.create_user("Alice")


async def test_context_survives_a_restart(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> None:
    async with private_setup(tmp_path, story_index, embedder, corpus_dir) as setup:
        server, config, engine, alice = setup
        chat = server.create_private_chat(alice)
        application, state = await start_bot(config, engine, embedder)
        server.send_text(chat, alice, "What is the AES?")
        (first,) = await server.wait_for_messages(chat, 1)
        server.press_button(chat, alice, first, _buttons(first)[-1]["callback_data"])
        await server.wait_for_calls("answerCallbackQuery", 1)
        await stop_bot(application, state)

        application, state = await start_bot(config, engine, embedder)
        try:
            server.send_text(chat, alice, "When was it formed?", reply_to=first)
            replies = await server.wait_for_messages(chat, 2)
            assert "2024" in _first_line(replies[1])
            assert state.stats()["thumbs_down"] == 1
        finally:
            await stop_bot(application, state)


async def test_context_expires_after_the_configured_time(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> None:
    async with private_setup(
        tmp_path, story_index, embedder, corpus_dir, context_minutes=0
    ) as setup:
        server, config, engine, alice = setup
        chat = server.create_private_chat(alice)
        application, state = await start_bot(config, engine, embedder)
        try:
            server.send_text(chat, alice, "What is the AES?")
            await server.wait_for_messages(chat, 1)
            server.send_text(chat, alice, "When was it formed?")
            await server.wait_for_messages(chat, 2)
            latest = state.latest_answer(chat.id, None, 0)
            assert latest is not None and latest.question == "When was it formed?"
            assert latest.query == "When was it formed?"  # the old turn had expired
            assert latest.history == ()
        finally:
            await stop_bot(application, state)


async def test_a_flooding_user_is_throttled_politely_without_starving_others(
    bot_env: BotEnv,
) -> None:
    server, alice, bob = bot_env.server, bot_env.alice, bot_env.bob
    alice_chat = server.create_private_chat(alice)
    bob_chat = server.create_private_chat(bob)
    for i in range(100):  # 100 messages in well under a second
        server.send_text(alice_chat, alice, f"What is the AES? ({i})")
    server.send_text(bob_chat, bob, "Who will the ministers meet in Moscow?")
    (answer,) = await server.wait_for_messages(bob_chat, 1, timeout=30)
    assert "Lavrov" in answer["text"]
    limit = bot_env.config.chat.flood_questions
    await server.wait_for_messages(alice_chat, limit + 1, timeout=30)
    await wait_until_handled(server, bot_env.config.chat.state_path)
    texts = [m["text"] for m in server.sent_messages(alice_chat)]
    assert len(texts) == limit + 1  # the allowed answers and one polite notice, nothing more
    assert sum("faster than I can answer" in t for t in texts) == 1


async def test_typing_indicator_only_for_answers_slower_than_the_setting(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> None:
    """A quick answer needs no "typing...": with typing_after_seconds far above the answer's
    time, none is sent; with a delay shorter than any answer, one is."""
    async with private_setup(
        tmp_path, story_index, embedder, corpus_dir, typing_after_seconds=60.0
    ) as setup:
        server, config, engine, alice = setup
        chat = server.create_private_chat(alice)
        application, state = await start_bot(config, engine, embedder)
        try:
            server.send_text(chat, alice, "What is the AES?")
            await server.wait_for_messages(chat, 1)
        finally:
            await stop_bot(application, state)
        assert not server.calls("sendChatAction")  # the bot has stopped: it sent all it would
        config = dataclasses.replace(
            config, chat=dataclasses.replace(config.chat, typing_after_seconds=1e-6)
        )
        application, state = await start_bot(config, engine, embedder)
        try:
            server.send_text(chat, alice, "Who will the ministers meet?")
            await server.wait_for_messages(chat, 2)
            await server.wait_for_calls("sendChatAction", 1)
        finally:
            await stop_bot(application, state)
