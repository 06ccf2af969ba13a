"""Fetching a story's web page with aiohttp: http(s) only, public addresses only, timeouts, a
size cap, few redirects (each one checked again).

Server-side request forgery is refused by default: a link (or any redirect it leads to) whose
host is, or resolves to, a loopback, private, link-local (the cloud metadata address), shared
(CGNAT), multicast, unspecified or reserved address is never connected to, in IPv4 or IPv6 or an
IPv6 form that carries an IPv4 address. The host is resolved once per fetch and the connection
goes to the address that was checked, so a name that resolves to a public address when checked
and to 127.0.0.1 a moment later (DNS rebinding) gains nothing.

Every failure is a DocumentError. What users see says "refused: address not allowed" or "could
not fetch", never a port, an errno, a status code or a content type: those would turn /add into a
port scanner. The details go to the log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from .errors import DocumentError
from .extraction import Article, article_from_html, megabytes
from .ingest import add_article
from .isolation import run_isolated
from .settings import FetchSettings

__all__ = [
    "COULD_NOT_FETCH",
    "REFUSED",
    "AddressNotAllowedError",
    "AddressPolicy",
    "Fetched",
    "GuardedResolver",
    "add_url",
    "address_allowed",
    "check_url",
    "fetch_page",
    "is_html",
]

logger = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "storybot/0.1 (+corpus ingestion; admin-requested)"
REDIRECTS = (301, 302, 303, 307, 308)

REFUSED = (
    "Refused: address not allowed (the link leads to a local, private or reserved network "
    "address)."
)
COULD_NOT_FETCH = (
    "Could not fetch that link: no web page came back from it (a .txt, .md or .pdf document "
    "can be sent as a file instead)."
)

# Not reachable from outside, or not a single host, beyond what Python's is_global covers
# (Python 3.11 counts multicast and some special blocks as global).
_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, with the cloud metadata address 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/8",  # unspecified, loopback, IPv4-compatible (deprecated) and other reserved forms
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo among them)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "fc00::/7",  # unique local addresses (private); fd00:ec2::254 is AWS's metadata
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: the last 32 bits are IPv4


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if it does."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str) -> bool:
    """Whether a fetch may connect to this IP address: a global unicast address, where an IPv6
    form that carries an IPv4 address (::ffff:a.b.c.d, 2002:…, 64:ff9b::…) is judged by that
    IPv4 address. Not an IP address at all: False."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_allowed(str(embedded))
        refused: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = _REFUSED_V6
    else:
        refused = _REFUSED_V4
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in refused)


class AddressNotAllowedError(OSError):
    """A fetch was about to connect to an address that is not allowed."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which addresses a fetch may connect to: public ones, plus ``networks`` (an intranet
    site's, say), or any with ``allow_private``."""

    allow_private: bool = False
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: FetchSettings) -> AddressPolicy:
        networks = tuple(ipaddress.ip_network(n) for n in settings.allowed_networks)
        return cls(settings.allow_private_networks, networks)

    def allows(self, address: str) -> bool:
        if self.allow_private or address_allowed(address):
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that passes on only the addresses a fetch may connect to: the
    connector then connects to exactly those (no second lookup that could answer otherwise).
    Raises AddressNotAllowedError when none is left."""

    def __init__(self, resolver: AbstractResolver, policy: AddressPolicy | None = None) -> None:
        self._resolver = resolver
        self._policy = policy or AddressPolicy()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if self._policy.allows(r["host"])]
        if not allowed:
            logger.info("Refused to fetch from %s: it resolves to %s", host, results)
            raise AddressNotAllowedError(f"{host} resolves to no allowed address")
        if len(allowed) < len(results):
            logger.info("Fetching from %s: left out addresses that are not allowed", host)
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def _socket_factory(policy: AddressPolicy) -> Any:
    """The connector's last check: no socket is made for an address that is not allowed,
    whatever path (a cached lookup, an IP literal) the address came by."""

    def make_socket(addr_info: Any) -> socket.socket:
        family, type_, proto, _, address = addr_info
        if not policy.allows(str(address[0])):
            raise AddressNotAllowedError(f"{address[0]} is not allowed")
        return socket.socket(family=family, type=type_, proto=proto)

    return make_socket


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


def _check_host(url: URL, policy: AddressPolicy) -> None:
    """An IP literal is connected to without a lookup, so it is checked here; a name is checked
    by the resolver."""
    host = (url.host or "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    if not policy.allows(host):
        logger.info("Refused to fetch %s: the address is not allowed", url)
        raise DocumentError(REFUSED)


def is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in HTML_TYPES


def _could_not_fetch(url: str, detail: str) -> DocumentError:
    logger.info("Could not fetch %s: %s", url, detail)
    return DocumentError(COULD_NOT_FETCH)


async def _next_url(response: aiohttp.ClientResponse, url: str) -> str:
    location = response.headers.get("Location", "")
    try:
        target = str(response.url.join(URL(location)))
    except ValueError:
        raise _could_not_fetch(url, f"redirect to a bad address {location!r}") from None
    if not location or URL(target).scheme not in ("http", "https") or not URL(target).host:
        raise _could_not_fetch(url, f"redirect to {location!r}, not an http(s) page")
    return target


async def _get(session: aiohttp.ClientSession, url: str, settings: FetchSettings) -> Fetched:
    """GET ``url``, following at most ``max_redirects`` redirects, each checked again."""
    policy = AddressPolicy.from_settings(settings)
    limit = settings.max_bytes
    for _ in range(settings.max_redirects + 1):
        _check_host(URL(url), policy)
        async with session.get(url, allow_redirects=False) as response:
            if response.status in REDIRECTS:
                url = await _next_url(response, url)
                continue
            if response.status >= 400:
                raise _could_not_fetch(url, f"status {response.status} {response.reason}")
            content_type = response.headers.get("Content-Type", "")
            if content_type and not is_html(content_type):
                raise _could_not_fetch(url, f"content type {content_type}")
            if response.content_length is not None and response.content_length > limit:
                raise DocumentError(_too_big(response.content_length, limit))
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body.extend(chunk)
                if len(body) > limit:
                    raise DocumentError(_too_big(None, limit))
            return Fetched(str(response.url), content_type, response.charset, bytes(body))
    raise DocumentError(
        f"The link redirects too many times (more than {settings.max_redirects}); "
        "it may be a redirect loop."
    )


async def fetch_page(
    url: str, settings: FetchSettings | None = None, *, resolver: AbstractResolver | None = None
) -> Fetched:
    """GET ``url`` and return its body, checked against the settings. ``resolver`` looks names
    up (aiohttp's default: the system's); its answers are checked before any connection."""
    settings = settings or FetchSettings()
    url = check_url(url)
    policy = AddressPolicy.from_settings(settings)
    inner = resolver or DefaultResolver()
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(inner, policy), socket_factory=_socket_factory(policy)
    )
    try:
        async with (
            asyncio.timeout(settings.timeout),
            aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=settings.timeout),
                headers={"User-Agent": USER_AGENT},
                trust_env=False,  # no proxy from the environment: we connect where we checked
            ) as session,
        ):
            return await _get(session, url, settings)
    except DocumentError:
        raise
    except TimeoutError:
        raise DocumentError(
            f"Could not fetch that link: the page did not arrive within {settings.timeout:g} "
            "seconds; try again later."
        ) from None
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, AddressNotAllowedError):
            raise DocumentError(REFUSED) from None
        raise _could_not_fetch(url, f"{type(exc).__name__}: {exc}") from None
    except (aiohttp.ClientError, ValueError) as exc:
        raise _could_not_fetch(url, f"{type(exc).__name__}: {exc}") from None
    finally:
        if resolver is None:
            await inner.close()


def _too_big(size: int | None, limit: int) -> str:
    said = f" ({megabytes(size)})" if size else ""
    return f"The page is too big{said}: the limit is {megabytes(limit)}."


async def add_url(
    corpus: Path,
    url: str,
    settings: FetchSettings | None = None,
    *,
    resolver: AbstractResolver | None = None,
) -> tuple[str, Article]:
    """Fetch a story's page, extract it (in a child process with limits) and save it into the
    corpus: (document id, article)."""
    settings = settings or FetchSettings()
    fetched = await fetch_page(url, settings, resolver=resolver)
    article = await asyncio.to_thread(
        run_isolated,
        article_from_html,
        fetched.text(),
        fetched.url,
        limits=settings.read_limits,
    )
    doc_id = await asyncio.to_thread(add_article, corpus, article)
    return doc_id, article
