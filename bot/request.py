"""How the bot talks HTTP to the Bot API: python-telegram-bot's request interface on aiohttp.

python-telegram-bot's default, ``HTTPXRequest``, spends 3.6-4.7 ms of CPU per request with 50
requests in flight on this machine (httpx's connection pool does not scale with concurrency);
aiohttp's client spends 0.35-0.40 ms on the same requests (docs/performance.md). At a few hundred
answers a second that is most of a core, so the bot sends through aiohttp, which it already
depends on for its web endpoints. Behaviour follows ``HTTPXRequest`` (the same timeouts,
``TimedOut`` for timeouts and ``NetworkError`` for every other transport failure), except that
the parameters go as a JSON object rather than form-encoded (multipart when a file is uploaded).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest", "UpdatesRequest"]


_JSON = {"Content-Type": "application/json"}

# A timeout as python-telegram-bot passes it to ``do_request``: seconds, None for no limit, or
# ``BaseRequest.DEFAULT_NONE`` for "this request's own setting" (PTB's name for that type is
# private).
TimeoutArg = object


def _timeout(value: TimeoutArg, configured: float | None) -> float | None:
    """The timeout PTB asked for, or ``configured`` when it asked for none."""
    if value is None or isinstance(value, int | float):
        return value
    return configured  # BaseRequest.DEFAULT_NONE


def _body(
    request_data: RequestData | None,
) -> tuple[aiohttp.FormData | bytes | None, dict[str, str]]:
    """The request body and its headers: the parameters as a JSON object (encoded in C, where
    url-encoding a long reply cost more than the rest of sending it), or multipart/form-data
    with the files. The Bot API takes both."""
    if request_data is None:
        return None, {}
    files = request_data.multipart_data
    if not files:
        return request_data.json_payload, _JSON
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form, {}


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one ``aiohttp.ClientSession`` (created in the running event loop by
    ``initialize``, closed by ``shutdown``)."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                # Telegram's answers are JSON whatever their status; let PTB judge them.
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        write_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        connect_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        pool_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        uploads = bool(request_data and request_data.multipart_data)
        read = _timeout(read_timeout, self._read_timeout)
        connect = _timeout(connect_timeout, self._connect_timeout)
        pool = _timeout(pool_timeout, self._pool_timeout)
        own_write = self._media_write_timeout if uploads else self._write_timeout
        write = _timeout(write_timeout, own_write)
        # aiohttp has no write timeout of its own: the request as a whole gets the sum of the
        # phases' timeouts as its deadline; waiting for a pooled connection plus connecting gets
        # pool + connect.
        phases = [p for p in (pool, connect, write, read) if p is not None]
        timeout = aiohttp.ClientTimeout(
            total=sum(phases) if len(phases) == 4 else None,
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        body, headers = _body(request_data)
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc


class UpdatesRequest(AiohttpRequest):
    """The ``AiohttpRequest`` for getUpdates: it also keeps each received update as Telegram sent
    it (``raw``, by update id), for the inbox to store (``DurableQueue``). Re-encoding PTB's
    Update objects with ``to_dict`` took a tenth of the event loop's time at full load."""

    __slots__ = ("raw",)

    KEEP = 1000  # updates kept until the queue takes them (getUpdates returns at most 100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw: OrderedDict[int, dict[str, Any]] = OrderedDict()

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        status, body = await super().do_request(url, method, *args, **kwargs)
        if status == 200 and url.endswith("/getUpdates"):
            try:
                updates = json.loads(body).get("result")
            except (ValueError, AttributeError):
                updates = None  # PTB reports what is wrong with the answer
            for update in updates if isinstance(updates, list) else ():
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    self.raw[update["update_id"]] = update
            while len(self.raw) > self.KEEP:
                self.raw.popitem(last=False)
        return status, body
