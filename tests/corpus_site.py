"""Test helpers for adding stories: a local news site on 127.0.0.1 and small real PDFs."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

LAVROV = (
    "The foreign ministers of Mali, Burkina Faso and Niger met Russian Foreign Minister Sergei "
    "Lavrov in Moscow on Friday for the first consultations between the Alliance of Sahel States "
    "and Russia. The talks covered security cooperation, energy projects and grain deliveries, "
    "officials said after the meeting. Lavrov promised more military instructors for the region."
)
LAVROV_MORE = (
    "Diplomats in Bamako described the visit as a turning point for the confederation, which "
    "was formed in 2024 after the three countries left the Economic Community of West African "
    "States. A joint statement is expected to be published next week."
)
FLOOD = (
    "Heavy rain flooded the harbour district of Porto Nuevo overnight, forcing three hundred "
    "families to leave their homes. The river rose four metres above its normal level, the "
    "regional water authority said, and the mayor opened two schools as shelters. Engineers "
    "expect the water to fall by Thursday if the rain stops as forecast."
)


def article_html(
    title: str, paragraphs: list[str], date: str = "", author: str = "", site: str = "Daily Wire"
) -> str:
    """A news article page with the metadata that real sites carry, plus boilerplate."""
    meta = [f'<meta property="og:title" content="{html.escape(title)}">']
    meta.append(f'<meta property="og:site_name" content="{html.escape(site)}">')
    if date:
        meta.append(f'<meta property="article:published_time" content="{date}T08:00:00Z">')
    if author:
        meta.append(f'<meta name="author" content="{html.escape(author)}">')
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="en"><head><title>{html.escape(title)} | {site}</title>
{"".join(meta)}</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>{html.escape(title)}</h1>{body}</article>
<footer>Copyright {site}. All rights reserved. <a href="/privacy">Privacy</a></footer>
</body></html>"""


def make_pdf(lines: list[str], title: str = "") -> bytes:
    """A minimal, valid one-page PDF whose text pypdf (or any reader) extracts."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 11 Tf 40 800 Td 14 TL " + " ".join(f"({esc(x)}) '" for x in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        f"<< /Title ({esc(title)}) /CreationDate (D:20250402120000Z) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return out


def wrap(text: str, width: int = 80) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


@asynccontextmanager
async def news_site(slow_seconds: float = 5.0) -> AsyncIterator[str]:
    """A local site: /lavrov.html and /flood.html (articles), /slow.html (answers after
    ``slow_seconds``), /huge.html (8 MB, streamed without a length), /loop (redirects to
    itself), /moved (redirects to /lavrov.html), /data.json, /menu.html (no article), /gone."""

    async def lavrov(_request: web.Request) -> web.Response:
        page = article_html(
            "Sahel ministers meet Lavrov in Moscow",
            [LAVROV, LAVROV_MORE],
            date="2025-04-04",
            author="Jane Doe",
        )
        return web.Response(text=page, content_type="text/html")

    async def flood(_request: web.Request) -> web.Response:
        page = article_html("Floods in Porto Nuevo", [FLOOD], date="2025-05-01", site="Coast FM")
        return web.Response(text=page, content_type="text/html")

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(slow_seconds)
        return web.Response(text=article_html("Late", [FLOOD]), content_type="text/html")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = ("<p>" + "filler text " * 5000 + "</p>").encode()
        try:
            for _ in range(8 * 1024 * 1024 // len(chunk) + 1):
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client stopped reading at its size cap, as it should
        return response

    async def loop(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def moved(_request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/lavrov.html")

    async def data(_request: web.Request) -> web.Response:
        return web.json_response({"title": "not a page"})

    async def menu(_request: web.Request) -> web.Response:
        page = (
            "<html><head><title>Menu</title></head><body><nav><a href='/a'>News</a>"
            "<a href='/b'>Sport</a></nav><p>Sign in to continue.</p></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    for path, handler in (
        ("/lavrov.html", lavrov),
        ("/flood.html", flood),
        ("/slow.html", slow),
        ("/huge.html", huge),
        ("/loop", loop),
        ("/moved", moved),
        ("/data.json", data),
        ("/menu.html", menu),
    ):
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
