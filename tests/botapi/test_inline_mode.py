"""The test server's inline mode and reactions, driven by the real python-telegram-bot over
HTTP: what Telegram delivers, answers and refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import telegram
from telegram import InlineQueryResultArticle, InputTextMessageContent
from telegram.constants import ParseMode
from telegram.error import BadRequest

from . import BotApiServer

pytestmark = pytest.mark.asyncio

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(
        token=TOKEN, supports_inline_queries=True, inline_feedback=True, inline_query_timeout=5
    ) as srv:
        yield srv


@pytest_asyncio.fixture
async def bot(server: BotApiServer) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=server.base_url) as the_bot:
        yield the_bot


def article(rid: str, text: str = "<b>An</b> answer", title: str = "A title") -> Any:
    return InlineQueryResultArticle(
        rid, title, InputTextMessageContent(text, parse_mode=ParseMode.HTML)
    )


async def test_inline_queries_arrive_are_answered_and_chosen(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    alice = server.create_user("Alice")
    query = server.send_inline_query(alice, "who is it", chat_type="group")
    (update,) = await bot.get_updates()
    assert update.inline_query is not None
    assert (update.inline_query.query, update.inline_query.chat_type) == ("who is it", "group")
    assert update.inline_query.from_user.id == alice.id
    assert await bot.answer_inline_query(query["id"], [article("a"), article("b")])
    answer = await server.wait_for_inline_answer(query)
    assert [r["id"] for r in answer.results] == ["a", "b"]
    assert answer.messages["a"][0] == "An answer"  # the HTML as Telegram shows it
    assert answer.messages["a"][1] == [{"type": "bold", "offset": 0, "length": 2}]
    assert (answer.cache_time, answer.is_personal) == (300, False)

    group = server.create_group("News", [alice])
    sent = server.choose_inline_result(query, "b", chat=group)
    assert sent is not None and sent["via_bot"]["id"] == server.bot_id
    updates = await bot.get_updates(offset=update.update_id + 1)
    chosen = [u.chosen_inline_result for u in updates if u.chosen_inline_result]
    assert [(c.result_id, c.query) for c in chosen] == [("b", "who is it")]
    # In a group with privacy mode, a message sent via the bot reaches it.
    assert any(u.message and u.message.via_bot for u in updates)
    with pytest.raises(ValueError, match="no result"):
        server.choose_inline_result(query, "zzz")


async def test_answers_are_cached_for_their_cache_time(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    alice, bob = server.create_user("Alice"), server.create_user("Bob")
    first = server.send_inline_query(alice, "weather ")
    await bot.answer_inline_query(first["id"], [article("a")], cache_time=60, is_personal=True)
    again = server.send_inline_query(alice, " weather")  # the same for the cache
    assert (await server.wait_for_inline_answer(again)).cached
    other = server.send_inline_query(bob, "weather")  # personal: Bob's query reaches the bot
    assert other["id"] not in server.inline_answers
    await bot.answer_inline_query(other["id"], [article("b")], cache_time=0)
    assert server.send_inline_query(bob, "weather")["id"] not in server.inline_answers
    assert len([u for u in await bot.get_updates() if u.inline_query]) == 3


@pytest.mark.parametrize(
    ("results", "error"),
    [
        ([article(f"r{i}") for i in range(51)], "Bad Request: too many inline query results"),
        ([article("x" * 65)], "Bad Request: RESULT_ID_INVALID"),
        ([article("é" * 33)], "Bad Request: RESULT_ID_INVALID"),  # 66 bytes
        ([article("same"), article("same")], "Bad Request: RESULT_ID_DUPLICATE"),
        ([article("a", text="<b>unclosed")], "Bad Request: can't parse entities"),
        ([article("a", text="<blink>x</blink>")], "Bad Request: can't parse entities"),
        ([article("a", text="x" * 4097)], "Bad Request: MESSAGE_TOO_LONG"),
        ([article("a", title=" ")], "Bad Request: ARTICLE_TITLE_EMPTY"),
    ],
)
async def test_answers_telegram_refuses_are_refused(
    server: BotApiServer, bot: telegram.Bot, results: list[Any], error: str
) -> None:
    query = server.send_inline_query(server.create_user("Alice"), "q")
    with pytest.raises(BadRequest):
        await bot.answer_inline_query(query["id"], results)
    assert query["id"] not in server.inline_answers
    (call,) = server.calls("answerInlineQuery")
    assert call.error is not None and call.error.startswith(error)
    assert await bot.answer_inline_query(query["id"], [article("ok")])  # still answerable


async def test_unknown_expired_and_twice_answered_queries_are_refused(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    server.inline_query_timeout = 0.0
    late = server.send_inline_query(server.create_user("Alice"), "q")
    for query_id in ("12345", late["id"]):
        with pytest.raises(BadRequest, match="too old"):
            await bot.answer_inline_query(query_id, [article("a")])
    server.inline_query_timeout = 10.0
    query = server.send_inline_query(server.create_user("Bob"), "q")
    assert await bot.answer_inline_query(query["id"], [article("a")], cache_time=10**6)
    assert (await server.wait_for_inline_answer(query)).cache_time == 86400  # clamped
    with pytest.raises(BadRequest, match="too old"):
        await bot.answer_inline_query(query["id"], [article("a")])
    assert [c.error for c in server.calls("answerInlineQuery") if c.error] == [TOO_OLD] * 3


async def test_reactions_arrive_only_when_asked_for_and_where_telegram_sends_them(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    alice = server.create_user("Alice")
    chat = server.create_private_chat(alice)
    sent = await bot.send_message(chat.id, "An answer")
    assert server.react(chat, alice, sent.message_id, "👍") is None  # not in the defaults
    assert await bot.get_updates(allowed_updates=["message", "message_reaction"]) == ()
    server.react(chat, alice, sent.message_id, "👎")
    server.react(chat, alice, sent.message_id)  # removed
    updates = await bot.get_updates(allowed_updates=["message", "message_reaction"])
    changes = [
        (
            [r.emoji for r in u.message_reaction.old_reaction],
            [r.emoji for r in u.message_reaction.new_reaction],
        )
        for u in updates
    ]
    assert changes == [(["👍"], ["👎"]), (["👎"], [])]

    group = server.create_group("News", [alice])
    in_group = await bot.send_message(group.id, "An answer")
    assert server.react(group, alice, in_group.message_id, "👍") is None  # not an admin
    server.set_bot_status(group, "administrator")
    assert server.react(group, alice, in_group.message_id, "👎") is not None
    with pytest.raises(ValueError, match="too many"):
        server.react(group, alice, in_group.message_id, ["👍", "🔥"])  # not premium
