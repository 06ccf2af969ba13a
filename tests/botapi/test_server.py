"""Tests of the Bot API test server, driven by the real python-telegram-bot over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import telegram
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, TelegramObject
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from . import BotApiServer, FaultKind

pytestmark = pytest.mark.asyncio

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(token=TOKEN, bot_username="storybot") as srv:
        yield srv


@pytest_asyncio.fixture
async def bot(server: BotApiServer) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(
        TOKEN, base_url=server.base_url, base_file_url=server.base_file_url
    ) as the_bot:
        yield the_bot


@contextlib.asynccontextmanager
async def running_app(server: BotApiServer, *handlers: Any) -> AsyncIterator[Application]:
    """A real Application polling the server; fails the test if a handler raised."""
    errors: list[BaseException] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    for handler in handlers:
        app.add_handler(handler)
    app.add_error_handler(on_error)
    async with app:
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()
    assert not errors, errors


async def raw_call(
    server: BotApiServer,
    method: str,
    *,
    token: str = TOKEN,
    http: str = "POST",
    **kwargs: Any,
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(http, f"{server.base_url}{token}/{method}", **kwargs) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def assert_known_fields(obj: Any, path: str = "") -> None:
    """Every field the server sent is one python-telegram-bot knows (nothing in api_kwargs)."""
    if isinstance(obj, TelegramObject):
        assert not obj.api_kwargs, f"{path or type(obj).__name__}: unknown {obj.api_kwargs}"
        for name, value in obj._get_attrs(recursive=False).items():
            assert_known_fields(value, f"{path}.{name}")
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            assert_known_fields(item, f"{path}[{i}]")


# ------------------------------------------------------------------------------ basics


async def test_get_me_through_real_bot(server: BotApiServer, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert isinstance(me, telegram.User)
    assert me.is_bot is True
    assert me.id == 123456789 == bot.id
    assert me.username == "storybot"
    assert me.can_read_all_group_messages is False
    assert me.can_join_groups is True
    assert me.supports_inline_queries is False
    assert_known_fields(me)
    assert server.calls("getMe")[0].ok


async def test_wrong_token_and_unknown_method(server: BotApiServer) -> None:
    status, body = await raw_call(server, "getMe", token="1:" + "x" * 35)
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = await raw_call(server, "sendTelepathy")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = await raw_call(server, "getme", http="GET")  # names are case-insensitive
    assert status == 200
    assert body["result"]["username"] == "storybot"
    wrong = telegram.Bot("1:" + "x" * 35, base_url=server.base_url)
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with wrong:
            pass


async def test_json_form_query_and_multipart_bodies(server: BotApiServer) -> None:
    user = server.create_user("Dana", username="dana")
    chat = server.create_private_chat(user)
    status, body = await raw_call(server, "sendMessage", json={"chat_id": chat.id, "text": "json"})
    assert status == 200
    assert body["result"]["text"] == "json"
    status, body = await raw_call(
        server, "sendMessage", data={"chat_id": str(chat.id), "text": "form"}
    )
    assert body["result"]["text"] == "form"
    status, body = await raw_call(
        server, "sendMessage", http="GET", params={"chat_id": str(chat.id), "text": "query"}
    )
    assert body["result"]["text"] == "query"
    form = aiohttp.FormData()
    form.add_field("chat_id", str(chat.id))
    form.add_field("text", "multipart")
    form.add_field("unused", b"\x00\x01", filename="blob.bin")
    status, body = await raw_call(server, "sendMessage", data=form)
    assert body["result"]["text"] == "multipart"
    texts = [m["text"] for m in server.sent_messages(chat)]
    assert texts == ["json", "form", "query", "multipart"]
    assert server.calls("sendMessage")[1].params["chat_id"] == chat.id  # decoded like Telegram


# ------------------------------------------------------------------------------ a real Application


async def test_application_polling_echoes_a_private_message(server: BotApiServer) -> None:
    async def echo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"echo: {update.message.text}")

    alice = server.create_user("Alice", username="alice")
    chat = server.create_private_chat(alice)
    async with running_app(server, MessageHandler(filters.TEXT & ~filters.COMMAND, echo)):
        sent = server.send_text(chat, alice, "hello 👋 bot")
        [reply] = await server.wait_for_messages(chat.id, 1)
        await server.wait_until_consumed()
    assert reply["text"] == "echo: hello 👋 bot"
    assert reply["from"] == server.bot_user
    assert reply["chat"] == {
        "id": chat.id,
        "first_name": "Alice",
        "username": "alice",
        "type": "private",
    }
    assert "reply_to_message" not in reply  # PTB does not quote in private chats
    assert [c.params["text"] for c in server.calls("sendMessage")] == ["echo: hello 👋 bot"]
    # deleteWebhook first, then long polls confirming the update by offset
    methods = [c.method for c in server.calls()]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    assert server.delivered_updates[0]["message"] == sent
    assert server.pending_updates == []


async def test_callback_query_round_trip(server: BotApiServer) -> None:
    async def menu(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
        await update.message.reply_text("Pick one", reply_markup=keyboard)

    async def pressed(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert query.message is not None
        await query.answer("Loading…")
        await query.edit_message_text(f"You chose {query.data}")

    bob = server.create_user("Bob", username="bob")
    chat = server.create_private_chat(bob)
    async with running_app(server, CommandHandler("menu", menu), CallbackQueryHandler(pressed)):
        server.send_text(chat, bob, "/menu")
        [message] = await server.wait_for_messages(chat, 1)
        assert message["reply_markup"] == {
            "inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]
        }
        query = server.press_button(chat, bob, message, "more:1")
        answer = await server.wait_for_callback_answer(query)
        await server.wait_for(
            lambda: server.message(chat, message["message_id"])["text"] != "Pick one"
        )
    assert isinstance(query["id"], str)
    assert isinstance(query["chat_instance"], str)
    assert query["from"]["id"] == bob.id
    assert query["message"]["message_id"] == message["message_id"]
    assert answer["text"] == "Loading…"
    assert answer["show_alert"] is False
    edited = server.message(chat, message["message_id"])
    assert edited["text"] == "You chose more:1"
    assert "reply_markup" not in edited  # editMessageText without reply_markup drops it
    assert isinstance(edited["edit_date"], int)
    assert len(server.message_versions(chat, message["message_id"])) == 2
    parsed = telegram.CallbackQuery.de_json(query, None)
    assert_known_fields(parsed)
    # answering twice is refused, as by Telegram
    status, body = await raw_call(
        server, "answerCallbackQuery", json={"callback_query_id": query["id"]}
    )
    assert status == 400
    assert "query is too old" in body["description"]


# ------------------------------------------------------------------------------ Telegram's checks


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<script>alert(1)</script>", 'unsupported start tag "script" at byte offset 0'),
        ("<b>bold", "can't find end tag corresponding to start tag b"),
        ("1 < 2", 'unsupported start tag "" at byte offset 2'),
        ("Tom & Jerry", 'character "&" must be escaped'),
        ("a&nbsp;b", 'unsupported html entity "&nbsp;"'),
        ("<b><i>x</b></i>", 'unmatched end tag at byte offset 7, expected "</i>"'),
        ('<span class="x">s</span>', 'tag "span" must have class "tg-spoiler"'),
        ("</b>", "unexpected end tag at byte offset 0"),
        ("<a href>x</a>", "expected equal sign"),
    ],
)
async def test_html_that_telegram_refuses(
    server: BotApiServer, bot: telegram.Bot, text: str, error: str
) -> None:
    chat = server.create_private_chat(server.create_user())
    with pytest.raises(BadRequest, match=r"^Can't parse entities: ") as info:
        await bot.send_message(chat.id, text, parse_mode="HTML")
    assert error in info.value.message
    assert server.sent_messages(chat) == []
    call = server.calls("sendMessage")[-1]
    assert call.status == 400
    assert call.response["description"].startswith("Bad Request: can't parse entities: ")


async def test_escaped_html_is_accepted_with_entities(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    chat = server.create_private_chat(server.create_user())
    text = (
        '<b>1 &lt; 2</b> &amp; <i>"q"</i> &quot;x&quot; &#128512; <a href="https://t.me/x?a=1&amp;b=2">'
        'link</a> <code>c</code> <pre><code class="language-py">p</code></pre> '
        "<tg-spoiler>s</tg-spoiler> <blockquote expandable>q</blockquote> 😀<u>u</u>"
    )
    message = await bot.send_message(chat.id, text, parse_mode="HTML")
    assert message.text == '1 < 2 & "q" "x" 😀 link c p s q 😀u'
    types = [(e.type, e.offset, e.length) for e in message.entities]
    assert types == [
        ("bold", 0, 5),
        ("italic", 8, 3),
        ("text_link", 19, 4),  # after an emoji: two UTF-16 units
        ("code", 24, 1),
        ("pre", 26, 1),
        ("spoiler", 28, 1),
        ("expandable_blockquote", 30, 1),
        ("underline", 34, 1),
    ]
    assert message.entities[2].url == "https://t.me/x?a=1&b=2"
    assert message.entities[4].language == "py"
    assert_known_fields(message)


async def test_lenient_html_mode_is_tdlib_exactly(server: BotApiServer, bot: telegram.Bot) -> None:
    server.strict_html = False
    chat = server.create_private_chat(server.create_user())
    message = await bot.send_message(chat.id, "Tom & Jerry&nbsp;<b>x</b>", parse_mode="HTML")
    assert message.text == "Tom & Jerry&nbsp;x"
    with pytest.raises(BadRequest):
        await bot.send_message(chat.id, "<br>", parse_mode="HTML")


async def test_message_length_limit(server: BotApiServer, bot: telegram.Bot) -> None:
    chat = server.create_private_chat(server.create_user())
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(chat.id, "a" * 4097)
    assert (await bot.send_message(chat.id, "a" * 4096)).text == "a" * 4096
    # Telegram counts characters after entity parsing, not markup; emoji count once
    accepted = await bot.send_message(chat.id, f"<b>{'a' * 4096}</b>", parse_mode="HTML")
    assert len(accepted.text) == 4096
    assert len((await bot.send_message(chat.id, "😀" * 4096)).text) == 4096
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(chat.id, "&amp;" * 4097, parse_mode="HTML")


async def test_empty_text_is_refused(server: BotApiServer, bot: telegram.Bot) -> None:
    chat = server.create_private_chat(server.create_user())
    for text in ("", "  \n ", "<b></b>"):
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(chat.id, text, parse_mode="HTML")
    trimmed = await bot.send_message(chat.id, "\n  hi \r\n")
    assert trimmed.text == "hi"


async def test_unknown_blocked_and_unstarted_chats(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "hi")
    stranger = server.create_user("Stranger")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "hi")
    server.block_bot(stranger)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(stranger.id, "hi")
    group = server.create_group("Old", [stranger])
    supergroup = server.migrate_to_supergroup(group)
    with pytest.raises(telegram.error.ChatMigrated) as info:
        await bot.send_message(group.id, "hi")
    assert info.value.new_chat_id == supergroup.id


async def test_reply_markup_is_validated(server: BotApiServer, bot: telegram.Bot) -> None:
    chat = server.create_private_chat(server.create_user())
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(chat.id, "hi", reply_markup=too_long)
    status, body = await raw_call(
        server,
        "sendMessage",
        json={
            "chat_id": chat.id,
            "text": "hi",
            "reply_markup": {"inline_keyboard": [[{"text": "x"}]]},
        },
    )
    assert status == 400
    assert "Text buttons are unallowed" in body["description"]
    fits = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 32)]])
    message = await bot.send_message(chat.id, "hi", reply_markup=fits)
    assert message.reply_markup == fits
    removed = await bot.send_message(chat.id, "hi", reply_markup=telegram.ReplyKeyboardRemove())
    assert removed.reply_markup is None  # only inline keyboards are echoed


async def test_edit_and_delete_errors(server: BotApiServer, bot: telegram.Bot) -> None:
    chat = server.create_private_chat(server.create_user())
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]])
    message = await bot.send_message(
        chat.id, "<b>same</b>", parse_mode="HTML", reply_markup=keyboard
    )
    with pytest.raises(BadRequest, match="Message is not modified: specified new message content"):
        await bot.edit_message_text(
            "<b>same</b>", chat.id, message.message_id, parse_mode="HTML", reply_markup=keyboard
        )
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat.id, 9999)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(chat.id, message.message_id, reply_markup=keyboard)
    edited = await bot.edit_message_reply_markup(chat.id, message.message_id)
    assert edited.reply_markup is None
    assert await bot.delete_message(chat.id, message.message_id) is True
    assert server.message(chat, message.message_id) is None
    assert server.is_deleted(chat, message.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(chat.id, message.message_id)


async def test_replies(server: BotApiServer, bot: telegram.Bot) -> None:
    carol = server.create_user("Carol", username="carol")
    group = server.create_group("Book club", [carol], supergroup=True)
    question = server.send_text(group, carol, "/ask what happened?")
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(group.id, "x", reply_parameters=ReplyParameters(9999))
    lost = await bot.send_message(
        group.id, "x", reply_parameters=ReplyParameters(9999, allow_sending_without_reply=True)
    )
    assert lost.reply_to_message is None
    answer = await bot.send_message(
        group.id, "it rained", reply_parameters=ReplyParameters(question["message_id"])
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "/ask what happened?"
    assert answer.reply_to_message.from_user.id == carol.id
    # replies in a supergroup start a thread (not a topic)
    assert answer.message_thread_id == question["message_id"]
    assert answer.is_topic_message is None
    legacy = await bot.send_message(group.id, "legacy", reply_to_message_id=question["message_id"])
    assert legacy.reply_to_message.message_id == question["message_id"]
    quoted = await bot.send_message(
        group.id,
        "q",
        reply_parameters=ReplyParameters(question["message_id"], quote="what happened"),
    )
    assert quoted.quote.text == "what happened"
    assert quoted.quote.position == 5
    assert_known_fields(quoted)


async def test_forum_topics(server: BotApiServer, bot: telegram.Bot) -> None:
    async def answer(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("answer")

    dave = server.create_user("Dave", username="dave")
    forum = server.create_group("Newsroom", [dave], forum=True)
    topic = server.create_topic(forum, "Elections")
    async with running_app(server, CommandHandler("ask", answer)):
        asked = server.send_text(forum, dave, "/ask who won?", thread_id=topic)
        [reply] = await server.wait_for_messages(forum, 1)
    assert asked["message_thread_id"] == topic.thread_id
    assert asked["is_topic_message"] is True
    # a topic message replies to the topic's creation message unless it replies to another
    assert asked["reply_to_message"]["forum_topic_created"]["name"] == "Elections"
    assert reply["message_thread_id"] == topic.thread_id
    assert reply["is_topic_message"] is True
    assert reply["reply_to_message"]["message_id"] == asked["message_id"]  # PTB quotes in groups
    assert server.calls("sendMessage")[0].params["message_thread_id"] == topic.thread_id
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(forum.id, "general?", message_thread_id=1)
    general = await bot.send_message(forum.id, "general")
    assert general.message_thread_id is None
    assert general.chat.is_forum is True


async def test_privacy_mode_in_groups(server: BotApiServer, bot: telegram.Bot) -> None:
    erin = server.create_user("Erin", username="erin")
    group = server.create_group("Readers", [erin])
    plain = server.send_text(group, erin, "just chatting")
    mention = server.send_text(group, erin, "hey @StoryBot, what's new?")
    command = server.send_text(group, erin, "/news")
    addressed = server.send_text(group, erin, "/news@storybot today")
    other_bot = server.send_text(group, erin, "/news@otherbot")
    mine = await bot.send_message(group.id, "I am here")
    reply = server.send_text(group, erin, "thanks", reply_to=mine.message_id)
    updates = await bot.get_updates(timeout=0)
    got = [u.message.message_id for u in updates]
    assert got == [
        mention["message_id"],
        command["message_id"],
        addressed["message_id"],
        reply["message_id"],
    ]
    assert not server.was_delivered(plain)
    assert not server.was_delivered(other_bot)
    assert server.was_delivered(reply)
    command_entities = updates[2].message.parse_entities(["bot_command"])
    assert list(command_entities.values()) == ["/news@storybot"]
    assert updates[0].message.entities[0].type == "mention"
    assert updates[0].message.entities[0].offset == 4

    server.can_read_all_group_messages = True
    seen = server.send_text(group, erin, "just chatting again")
    assert server.was_delivered(seen)
    assert (await bot.get_me()).can_read_all_group_messages is True


async def test_user_messages_have_telegram_shapes(
    server: BotApiServer, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # Voice.duration & co. without deprecation noise
    frank = server.create_user("Frank", username="frank", last_name="Li")
    chat = server.create_private_chat(frank)
    text = server.send_text(
        chat, frank, "😀 /start@storybot and #news from @someone https://t.me/x"
    )
    photo = server.send_photo(chat, frank, caption="look @storybot", content=b"jpeg-bytes")
    sticker = server.send_sticker(chat, frank)
    voice = server.send_voice(chat, frank, duration=4)
    document = server.send_document(chat, frank, "a.txt", b"abc")
    edited = server.edit_text(text, "😀 edited")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)
    for update in updates:
        assert_known_fields(update)
    entities = updates[0].message.parse_entities()
    assert list(entities.values()) == ["/start@storybot", "#news", "@someone", "https://t.me/x"]
    first = updates[0].message.entities[0]
    assert (first.type, first.offset, first.length) == ("bot_command", 3, 15)  # 😀 is 2 units
    assert updates[1].message.photo[-1].file_unique_id == photo["photo"][-1]["file_unique_id"]
    assert updates[1].message.caption_entities[0].type == "mention"
    assert updates[2].message.sticker.emoji == sticker["sticker"]["emoji"]
    assert updates[3].message.voice.duration == dtm.timedelta(seconds=4)
    assert voice["voice"]["mime_type"] == "audio/ogg"
    assert updates[4].message.document.file_name == "a.txt"
    assert updates[5].edited_message.text == "😀 edited"
    assert updates[5].edited_message.edit_date is not None
    assert edited["message_id"] == text["message_id"]
    # files can be fetched like from api.telegram.org/file/bot<token>/<path>
    file = await bot.get_file(document["document"]["file_id"])
    assert file.file_path.startswith(server.base_file_url)
    assert bytes(await file.download_as_bytearray()) == b"abc"
    async with telegram.Bot(
        TOKEN, base_url=server.base_url, base_file_url=server.base_url
    ) as same:
        other = await same.get_file(document["document"]["file_id"])
        assert bytes(await other.download_as_bytearray()) == b"abc"


async def test_documents_are_downloaded_through_get_file_up_to_20_mb(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    user = server.create_user("Ann")
    chat = server.create_private_chat(user)
    small = server.send_document(chat, user, "story.pdf", b"%PDF-1.4 x", mime_type=None)
    assert "mime_type" not in small["document"]
    assert small["document"]["file_size"] == 10
    big = server.send_document(chat, user, "big.txt", b"a" * (20 * 1024 * 1024 + 1))
    # A file's path is not served before getFile hands it out.
    async with aiohttp.ClientSession() as session:
        url = f"{server.base_file_url}{TOKEN}/documents/file_0.pdf"
        async with session.get(url) as response:
            assert response.status == 404
    file = await bot.get_file(small["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 x"
    with pytest.raises(telegram.error.BadRequest, match="too big"):
        await bot.get_file(big["document"]["file_id"])


# ------------------------------------------------------------------------------ getUpdates


async def test_long_polling_waits_and_returns_early(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    user = server.create_user()
    chat = server.create_private_chat(user)
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 10  # it waited its second, and no more than that

    poll = asyncio.create_task(bot.get_updates(timeout=60))
    await server.wait_for(lambda: server._current_poll is not None, what="the poll to wait")
    started = time.monotonic()
    server.send_text(chat, user, "ping")
    updates = await poll
    assert time.monotonic() - started < 30  # answered at once, not after its 60 s
    assert [u.message.text for u in updates] == ["ping"]


async def test_offset_limit_and_negative_offset(server: BotApiServer, bot: telegram.Bot) -> None:
    user = server.create_user()
    chat = server.create_private_chat(user)
    for i in range(5):
        server.send_text(chat, user, f"m{i}")
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["m0", "m1"]
    again = await bot.get_updates(limit=2)  # not confirmed yet: same updates
    assert [u.update_id for u in again] == [u.update_id for u in first]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["m2", "m3", "m4"]
    last = await bot.get_updates(offset=-1)
    assert [u.message.text for u in last] == ["m4"]
    assert len(server.pending_updates) == 1
    assert await bot.get_updates(offset=last[0].update_id + 1) == ()


async def test_second_getupdates_terminates_the_first(server: BotApiServer) -> None:
    first = asyncio.create_task(raw_call(server, "getUpdates", json={"timeout": 5}))
    await server.wait_for(lambda: server._current_poll is not None, what="the first to wait")
    second = await raw_call(server, "getUpdates", json={"timeout": 0})
    status, body = await first
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")
    assert second == (200, {"ok": True, "result": []})


# ------------------------------------------------------------------------------ webhooks


async def test_webhook_delivery_with_secret(server: BotApiServer, bot: telegram.Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    fail_next = [True]

    async def hook(request: web.Request) -> web.Response:
        if fail_next[0]:
            fail_next[0] = False
            return web.Response(status=500)
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        user = server.create_user()
        chat = server.create_private_chat(user)
        assert await bot.set_webhook(url, secret_token="s3cr3t_-x") is True
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()
        sent = server.send_text(chat, user, "via webhook")
        await server.wait_for(lambda: received, what="a webhook delivery")
        secret, update = received[0]
        assert secret == "s3cr3t_-x"
        assert update["message"] == sent
        info = await bot.get_webhook_info()
        assert info.url == url
        assert info.pending_update_count == 0
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert await bot.delete_webhook() is True
        assert (await bot.get_webhook_info()).url == ""
        server.send_text(chat, user, "polled")
        assert [u.message.text for u in await bot.get_updates()] == ["polled"]
        with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed characters"):
            await bot.set_webhook(url, secret_token="no spaces")
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------ commands & misc


async def test_commands_per_scope(server: BotApiServer, bot: telegram.Bot) -> None:
    group = server.create_group("G", [server.create_user()])
    await bot.set_my_commands([("ask", "Ask a question"), ("help", "How to use me")])
    await bot.set_my_commands(
        [("ask", "Frage stellen")],
        scope=telegram.BotCommandScopeAllPrivateChats(),
        language_code="de",
    )
    await bot.set_my_commands([("ask", "Ask here")], scope=telegram.BotCommandScopeChat(group.id))
    default = await bot.get_my_commands()
    assert [(c.command, c.description) for c in default] == [
        ("ask", "Ask a question"),
        ("help", "How to use me"),
    ]
    german = await bot.get_my_commands(telegram.BotCommandScopeAllPrivateChats(), "de")
    assert [c.description for c in german] == ["Frage stellen"]
    assert server.commands({"type": "chat", "chat_id": group.id}) == [
        {"command": "ask", "description": "Ask here"}
    ]
    assert await bot.get_my_commands(telegram.BotCommandScopeAllGroupChats()) == ()
    assert await bot.delete_my_commands() is True
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Ask", "capital letters are refused")])
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.set_my_commands([("a", "b")], scope=telegram.BotCommandScopeChat(-5))


async def test_chat_action_get_chat_and_menu_button(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    user = server.create_user("Gina", username="gina")
    chat = server.create_private_chat(user)
    assert await bot.send_chat_action(chat.id, "typing") is True
    assert server.chat_actions[-1]["action"] == "typing"
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(chat.id, "dancing")
    full = await bot.get_chat(chat.id)
    assert (full.id, full.type, full.first_name, full.username) == (
        chat.id,
        "private",
        "Gina",
        "gina",
    )
    assert_known_fields(full)
    group = server.create_group("Forum", [user], forum=True)
    full_group = await bot.get_chat(group.id)
    assert full_group.is_forum is True
    assert full_group.title == "Forum"
    assert await bot.set_chat_menu_button(chat.id, telegram.MenuButtonCommands()) is True
    assert (await bot.get_chat_menu_button(chat.id)).type == "commands"
    member = await bot.get_chat_member(group.id, user.id)
    assert member.status == "creator"


# ------------------------------------------------------------------------------ fault injection


async def test_injected_429_raises_retry_after(
    server: BotApiServer, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as a timedelta
    chat = server.create_private_chat(server.create_user())
    fault = server.inject_fault(FaultKind.RATE_LIMIT, "sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(chat.id, "flood")
    assert info.value.retry_after == dtm.timedelta(seconds=3)
    call = server.calls("sendMessage")[0]
    assert call.fault == "429"
    assert call.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert server.sent_messages(chat) == []
    assert fault.applied == 1
    assert server.fault_counts["429"] == 1
    assert (await bot.send_message(chat.id, "fine now")).text == "fine now"  # times=1 ran out


async def test_injected_errors_and_dropped_connections(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    chat = server.create_private_chat(server.create_user())
    server.inject_fault(FaultKind.SERVER_ERROR, "sendMessage")
    server.inject_fault(FaultKind.BAD_GATEWAY, "sendMessage")
    server.inject_fault(FaultKind.DROP, "sendMessage")
    server.inject_fault(FaultKind.ACCEPT_THEN_DROP, "sendMessage")
    server.inject_fault(
        FaultKind.ERROR,
        None,
        status=403,
        description="Forbidden: nope",
        match=lambda method, params: params.get("text") == "global",
    )
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(chat.id, "one")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(chat.id, "two")
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.send_message(chat.id, "three")
    assert server.sent_messages(chat) == []
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.send_message(chat.id, "four")
    assert [m["text"] for m in server.sent_messages(chat)] == ["four"]  # stored, answer lost
    with pytest.raises(Forbidden, match="nope"):
        await bot.send_message(chat.id, "global")
    assert server.fault_counts == {
        "500": 1,
        "502": 1,
        "drop": 1,
        "accept_then_drop": 1,
        "error": 1,
    }
    assert [c.fault for c in server.calls("sendMessage")] == [
        "500",
        "502",
        "drop",
        "accept_then_drop",
        "error",
    ]


async def test_injected_timeout(server: BotApiServer) -> None:
    chat = server.create_private_chat(server.create_user())
    server.inject_fault(FaultKind.TIMEOUT, "sendMessage", delay=5, process=True)
    server.inject_fault(FaultKind.TIMEOUT, "sendMessage", delay=5, process=False)
    request = HTTPXRequest(read_timeout=0.3)
    async with telegram.Bot(
        TOKEN, base_url=server.base_url, base_file_url=server.base_file_url, request=request
    ) as slow:
        with pytest.raises(TimedOut):
            await slow.send_message(chat.id, "processed")
        with pytest.raises(TimedOut):
            await slow.send_message(chat.id, "lost")
    assert [m["text"] for m in server.sent_messages(chat)] == ["processed"]
    assert server.fault_counts["timeout"] == 2


async def test_an_answer_the_bot_gave_up_on_is_marked_unheard(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    """A client that closes the connection before the answer (its timeout ran out, under
    load) had its message sent all the same; the server notes that the answer went unheard,
    as the fault soak counts such calls with the answers it dropped on purpose."""
    chat = server.create_private_chat(server.create_user())
    await bot.send_message(chat.id, "heard")
    body = json.dumps({"chat_id": chat.id, "text": "unheard"}).encode()
    with socket.create_connection((server.host, server.port)) as raw:
        raw.sendall(  # the whole request, then gone before the server could answer
            f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: {server.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    await server.wait_for(lambda: server.calls()[-1].unheard, 10, "the answer noted unheard")
    assert [m["text"] for m in server.sent_messages(chat)] == ["heard", "unheard"]
    assert [c.unheard for c in server.calls("sendMessage")] == [False, True]
