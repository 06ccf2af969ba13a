"""A small round-robin HTTP proxy on 127.0.0.1, standing in for nginx in front of webhook
replicas: each post goes to the next target, or the one after when that one does not answer
(as nginx's upstream does with ``proxy_next_upstream error``)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from .load import free_port

__all__ = ["round_robin"]

PASSED_HEADERS = ("x-telegram-bot-api-secret-token", "content-type")


@contextlib.asynccontextmanager
async def round_robin(targets: list[str]) -> AsyncIterator[str]:
    """Serve the proxy while the block runs; yields its URL. ``targets`` (base URLs) is read
    at each post, so the caller can add or remove replicas meanwhile."""
    turn = itertools.count()
    http = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED_HEADERS}
        first = next(turn)
        for i in range(len(targets)):
            target = targets[(first + i) % len(targets)]
            try:
                url = f"{target}{request.path}"
                async with http.post(url, data=body, headers=headers) as upstream:
                    return web.Response(status=upstream.status, body=await upstream.read())
            except aiohttp.ClientError:
                continue
        return web.Response(status=502)

    app = web.Application()
    app.router.add_post("/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await http.close()
