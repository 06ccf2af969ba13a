"""Fetching a story's web page with aiohttp: http(s) only, timeouts, a size cap, few redirects.

Every failure is a DocumentError whose message says what went wrong in words an admin can act
on (bad address, no answer in time, too big, not a web page, ...).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from .errors import DocumentError
from .ingest import Article, add_article, article_from_html, megabytes

__all__ = ["FetchSettings", "Fetched", "add_url", "check_url", "fetch_page", "is_html"]

logger = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "storybot/0.1 (+corpus ingestion; admin-requested)"


@dataclass(frozen=True, slots=True)
class FetchSettings:
    timeout: float = 20.0  # seconds for the whole request, body included
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    content_type: str
    charset: str | None
    body: bytes

    def text(self) -> str:
        for encoding in (self.charset, "utf-8"):
            if encoding:
                try:
                    return self.body.decode(encoding)
                except (UnicodeDecodeError, LookupError):
                    continue
        return self.body.decode("utf-8", errors="replace")


def check_url(url: str) -> str:
    """The URL if it is an absolute http(s) address with a host; DocumentError saying why not."""
    url = url.strip()
    if not url:
        raise DocumentError("Send a link, e.g. /add https://example.org/news/story.html")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise DocumentError(f"{url!r} is not a valid web address.") from None
    if not parts.scheme:
        raise DocumentError(
            f"{url!r} is not a full web address: it should start with https:// or http://."
        )
    if parts.scheme.lower() not in ("http", "https"):
        raise DocumentError(
            f"Only http:// and https:// links can be added, not {parts.scheme}: links."
        )
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise DocumentError(f"{url!r} is not a valid web address (it has no host).")
    return url


def is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in HTML_TYPES


async def fetch_page(url: str, settings: FetchSettings | None = None) -> Fetched:
    """GET ``url`` and return its body, checked against the settings."""
    settings = settings or FetchSettings()
    url = check_url(url)
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    limit = settings.max_bytes
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as session,
            session.get(url, max_redirects=settings.max_redirects) as response,
        ):
            if response.status >= 400:
                raise DocumentError(
                    f"The site answered {response.status} {response.reason or ''}".rstrip()
                    + f" for {url}."
                )
            content_type = response.headers.get("Content-Type", "")
            if content_type and not is_html(content_type):
                raise DocumentError(
                    f"That link is not a web page (it is {content_type.split(';')[0]}); "
                    "send it as a file instead if it is a .txt, .md or .pdf document."
                )
            if response.content_length is not None and response.content_length > limit:
                raise DocumentError(_too_big(response.content_length, limit))
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body.extend(chunk)
                if len(body) > limit:
                    raise DocumentError(_too_big(None, limit))
            return Fetched(str(response.url), content_type, response.charset, bytes(body))
    except DocumentError:
        raise
    except aiohttp.TooManyRedirects:
        raise DocumentError(
            f"The link redirects too many times (more than {settings.max_redirects}); "
            "it may be a redirect loop."
        ) from None
    except aiohttp.NonHttpUrlRedirectClientError as exc:
        raise DocumentError(f"The link redirects to {exc}, not to an http(s) page.") from None
    except TimeoutError:
        raise DocumentError(
            f"The site did not send the page within {settings.timeout:g} seconds; try again later."
        ) from None
    except aiohttp.InvalidURL as exc:
        raise DocumentError(f"{exc} is not a valid web address.") from None
    except aiohttp.ClientConnectorError as exc:
        raise DocumentError(f"Could not connect to {exc.host}: {exc.os_error}.") from None
    except aiohttp.ClientError as exc:
        raise DocumentError(f"Could not fetch {url}: {type(exc).__name__} {exc}.") from None


def _too_big(size: int | None, limit: int) -> str:
    said = f" ({megabytes(size)})" if size else ""
    return f"The page is too big{said}: the limit is {megabytes(limit)}."


async def add_url(
    corpus: Path, url: str, settings: FetchSettings | None = None
) -> tuple[str, Article]:
    """Fetch a story's page, extract it and save it into the corpus: (document id, article)."""
    fetched = await fetch_page(url, settings)
    article = await asyncio.to_thread(article_from_html, fetched.text(), fetched.url)
    if fetched.url != url and not article.url:
        article = dataclasses.replace(article, url=fetched.url)
    doc_id = await asyncio.to_thread(add_article, corpus, article)
    return doc_id, article
