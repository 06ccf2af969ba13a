"""The bot's HTTP client (aiohttp behind python-telegram-bot's request interface): what it sends,
and how transport failures reach python-telegram-bot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import InputFile, Update
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.inbox import DurableQueue, Inbox
from bot.request import AiohttpRequest, UpdatesRequest
from tests.botapi.load import free_port

UPDATES = [
    {
        "update_id": 41,
        "message": {
            "message_id": 7,
            "date": 1_764_000_000,
            "chat": {"id": -100, "type": "group", "title": "Desk"},
            "from": {"id": 9, "is_bot": False, "first_name": "Ada"},
            "text": "/ask Who visited Moscow?",
            "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
            "a_field_this_library_does_not_know": {"x": 1},
        },
    }
]


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    """A real HTTP server on 127.0.0.1 that echoes what it receives, or sleeps first."""

    async def echo(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("sleep", 0)))
        if request.content_type == "application/json":
            fields = await request.json()
        else:
            form = await request.post()
            fields = {
                k: (
                    v
                    if isinstance(v, str)
                    else {"filename": v.filename, "bytes": v.file.read().hex()}
                )
                for k, v in form.items()
            }
        body = {"method": request.method, "type": request.content_type, "fields": fields}
        return web.json_response(body, status=int(request.query.get("status", 200)))

    async def updates(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "result": UPDATES})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("POST", "/bot123:abc/getUpdates", updates)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/echo"
    finally:
        await runner.cleanup()


async def test_parameters_go_as_json_and_any_status_is_returned(echo_server: str) -> None:
    request = AiohttpRequest()
    await request.initialize()
    try:
        data = RequestData(
            [
                RequestParameter.from_input("chat_id", 42),
                RequestParameter.from_input("text", "a & b «é» 🙂"),
                RequestParameter.from_input("reply_markup", {"inline_keyboard": []}),
            ]
        )
        status, body = await request.do_request(f"{echo_server}?status=400", "POST", data)
        assert status == 400
        echoed = json.loads(body)
        assert echoed["type"] == "application/json"
        # Each value as python-telegram-bot encodes it for the Bot API (objects as JSON text).
        assert echoed["fields"] == {
            "chat_id": "42",
            "text": "a & b «é» 🙂",
            "reply_markup": '{"inline_keyboard": []}',
        }
        status, body = await request.do_request(echo_server, "GET")
        assert (status, json.loads(body)["method"]) == (200, "GET")
    finally:
        await request.shutdown()


async def test_files_go_as_multipart(echo_server: str) -> None:
    request = AiohttpRequest()
    await request.initialize()
    try:
        upload = InputFile(b"\x00story\xff", filename="story.txt", attach=True)
        data = RequestData(
            [
                RequestParameter.from_input("chat_id", 7),
                RequestParameter.from_input("document", upload),
            ]
        )
        _, body = await request.do_request(echo_server, "POST", data)
        echoed = json.loads(body)
        assert echoed["type"] == "multipart/form-data"
        assert echoed["fields"]["chat_id"] == "7"
        (sent,) = [v for v in echoed["fields"].values() if isinstance(v, dict)]
        assert sent == {"filename": "story.txt", "bytes": b"\x00story\xff".hex()}
    finally:
        await request.shutdown()


async def test_a_slow_server_times_out_and_a_closed_port_is_a_network_error(
    echo_server: str,
) -> None:
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{echo_server}?sleep=2", "POST")
        # A timeout given for one call wins over the default.
        status, _ = await request.do_request(f"{echo_server}?sleep=0.3", "POST", read_timeout=30)
        assert status == 200
        with pytest.raises(NetworkError, match="aiohttp"):
            await request.do_request(f"http://127.0.0.1:{free_port()}/", "POST")
    finally:
        await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(echo_server, "POST")


async def test_updates_are_stored_as_telegram_sent_them(echo_server: str) -> None:
    """The inbox stores an update polled with getUpdates as it came (not re-encoded from
    python-telegram-bot's objects); one that came another way is encoded from its Update."""
    request = UpdatesRequest()
    await request.initialize()
    inbox = Inbox(":memory:")
    queue = DurableQueue(inbox, request.raw)
    try:
        url = echo_server.replace("/echo", "/bot123:abc/getUpdates")
        status, body = await request.do_request(url, "POST", RequestData([]))
        assert status == 200 and list(request.raw) == [41]
        (update,) = [Update.de_json(u, None) for u in json.loads(body)["result"]]
        queue.put_nowait(update)
        assert [p.data for p in inbox.pending()] == UPDATES and not request.raw
        other = Update.de_json({**UPDATES[0], "update_id": 42}, None)
        queue.put_nowait(other)
        assert inbox.pending()[1].data == other.to_dict()
        queue.put_nowait(update)  # delivered again: dropped
        assert queue.qsize() == 2
    finally:
        await request.shutdown()
        inbox.close()
