"""Fetching pages safely: local, private and reserved addresses are refused on the first request
and on every redirect, a name is resolved once, and errors give no port, status or type away.
Real HTTP on 127.0.0.1 (and 127.0.0.2 standing in for a public site)."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given, settings
from hypothesis import strategies as st

from index.documents import load_document
from index.errors import DocumentError
from index.fetch import (
    COULD_NOT_FETCH,
    REFUSED,
    AddressPolicy,
    FetchSettings,
    add_url,
    address_allowed,
    fetch_page,
)
from index.metadata import MAX_TITLE_CHARS
from tests.corpus_site import FLOOD, LAVROV, article_html

LOCAL = FetchSettings(timeout=5.0, allow_private_networks=True)
# 127.0.0.2 plays a public web site: the one private address these settings let through.
PUBLIC = FetchSettings(timeout=5.0, allowed_networks=("127.0.0.2/32",))


class StaticResolver(AbstractResolver):
    """A DNS stand-in (aiohttp's resolver interface): made-up names with fixed answers, one list
    per lookup in turn (the last one repeats), and a record of the names looked up."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        turn = self.lookups.count(host)
        self.lookups.append(host)
        addresses = self.answers[host][min(turn, len(self.answers[host]) - 1)]
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass


@dataclass
class Site:
    root: str
    port: int
    requests: list[str] = field(default_factory=list)


@asynccontextmanager
async def site(
    host: str = "127.0.0.1", title: str = "Floods in Porto Nuevo"
) -> AsyncIterator[Site]:
    """A news site: /story (an article), /r1 -> /r2 -> /r3 -> /story (302, 301, 307),
    /go?to=URL (302 to anything), /gone (404), /data.json, and a log of the paths asked for."""
    requests: list[str] = []

    @web.middleware
    async def log(request: web.Request, handler):  # type: ignore[no-untyped-def]
        requests.append(request.path_qs)
        return await handler(request)

    async def story(_request: web.Request) -> web.Response:
        page = article_html(title, [FLOOD, LAVROV], date="2025-05-01", site="Coast FM")
        return web.Response(text=page, content_type="text/html")

    def redirect(target: str, status: type[web.HTTPRedirection]):  # type: ignore[no-untyped-def]
        async def handler(_request: web.Request) -> web.Response:
            raise status(target)

        return handler

    async def go(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def data(_request: web.Request) -> web.Response:
        return web.json_response({"title": "not a page"})

    app = web.Application(middlewares=[log])
    app.router.add_get("/story", story)
    app.router.add_get("/r1", redirect("/r2", web.HTTPFound))
    app.router.add_get("/r2", redirect("/r3", web.HTTPMovedPermanently))
    app.router.add_get("/r3", redirect("/story", web.HTTPTemporaryRedirect))
    app.router.add_get("/go", go)
    app.router.add_get("/data.json", data)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    tcp = web.TCPSite(runner, host, 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Site(f"http://{host}:{port}", port, requests)
    finally:
        await runner.cleanup()


# -- which addresses ------------------------------------------------------------------------------

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::a9fe:a9fe",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",  # local-use NAT64
    "2001::1",  # Teredo
    "localhost",  # not an address at all
]
ALLOWED_ADDRESSES = [
    "93.184.215.14",
    "1.1.1.1",
    "8.8.8.8",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_local_private_and_reserved_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address)
    assert not AddressPolicy().allows(address)
    assert AddressPolicy(allow_private=True).allows(address)


@pytest.mark.parametrize("address", ALLOWED_ADDRESSES)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(address)


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=300)
def test_an_ipv6_form_of_an_ipv4_address_is_judged_as_that_address(value: int) -> None:
    ipv4 = ipaddress.IPv4Address(value)
    verdict = address_allowed(str(ipv4))
    assert address_allowed(f"::ffff:{ipv4}") == verdict  # mapped
    assert address_allowed(str(ipaddress.IPv6Address((0x64FF9B << 96) | value))) == verdict
    assert address_allowed(str(ipaddress.IPv6Address((0x2002 << 112) | (value << 80)))) == verdict
    assert not address_allowed(str(ipaddress.IPv6Address(value)))  # ::a.b.c.d, deprecated


# -- the first request ----------------------------------------------------------------------------


async def test_local_addresses_are_refused_before_any_request() -> None:
    async with site() as local:
        port = local.port
        for url in (
            f"{local.root}/story",
            f"http://localhost:{port}/story",
            f"http://[::1]:{port}/story",
            f"http://[::ffff:127.0.0.1]:{port}/story",
            f"http://[::ffff:7f00:1]:{port}/story",
            f"http://0.0.0.0:{port}/story",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
        ):
            with pytest.raises(DocumentError) as caught:
                await fetch_page(url, FetchSettings(timeout=5.0))
            assert str(caught.value) == REFUSED, url
        for url in (
            f"http://2130706433:{port}/story",
            f"http://127.1:{port}/story",
            f"http://0x7f.0.0.1:{port}/story",
            f"http://127.0.0.1.:{port}/story",
        ):
            with pytest.raises(DocumentError):  # odd IPv4 forms: refused or not understood
                await fetch_page(url, FetchSettings(timeout=5.0))
    assert local.requests == []


async def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    resolver = StaticResolver(
        {
            "news.example": [["127.0.0.1"]],
            "intranet.example": [["10.0.0.5"]],
            "metadata.example": [["169.254.169.254"]],
            "mapped.example": [["::ffff:127.0.0.1"]],
        }
    )
    async with site() as local:
        for name in ("news", "intranet", "metadata", "mapped"):
            with pytest.raises(DocumentError) as caught:
                await fetch_page(f"http://{name}.example:{local.port}/story", resolver=resolver)
            assert str(caught.value) == REFUSED
    assert local.requests == []


async def test_only_the_allowed_addresses_of_a_name_are_connected_to() -> None:
    resolver = StaticResolver({"news.example": [["127.0.0.1", "127.0.0.2"]]})
    async with site("127.0.0.2") as public:
        page = await fetch_page(
            f"http://news.example:{public.port}/story", PUBLIC, resolver=resolver
        )
    assert b"Porto Nuevo" in page.body and public.requests == ["/story"]


# -- redirects ------------------------------------------------------------------------------------


async def test_a_redirect_chain_is_followed_and_capped() -> None:
    async with site() as local:
        page = await fetch_page(f"{local.root}/r1", LOCAL)
        assert page.url == f"{local.root}/story" and b"Porto Nuevo" in page.body
        assert local.requests == ["/r1", "/r2", "/r3", "/story"]
        capped = FetchSettings(timeout=5.0, max_redirects=2, allow_private_networks=True)
        with pytest.raises(DocumentError, match="redirects too many times"):
            await fetch_page(f"{local.root}/r1", capped)


async def test_a_public_site_redirecting_to_a_local_address_is_refused() -> None:
    resolver = StaticResolver(
        {
            "news.example": [["127.0.0.2"]],
            "evil.example": [["127.0.0.1"]],
            "localhost": [["127.0.0.1", "::1"]],
        }
    )
    async with site() as internal, site("127.0.0.2") as public:
        root = f"http://news.example:{public.port}"
        ok = await fetch_page(f"{root}/r1", PUBLIC, resolver=resolver)
        assert ok.url == f"{root}/story"
        for target in (
            f"{internal.root}/story",
            f"http://localhost:{internal.port}/story",
            f"http://[::1]:{internal.port}/story",
            f"http://[::ffff:127.0.0.1]:{internal.port}/story",
            f"http://evil.example:{internal.port}/story",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            f"{root}/go?to=http://127.0.0.1:{internal.port}/story",  # two hops
        ):
            with pytest.raises(DocumentError) as caught:
                await fetch_page(f"{root}/go?to={target}", PUBLIC, resolver=resolver)
            assert str(caught.value) == REFUSED, target
    assert internal.requests == []


async def test_a_name_is_looked_up_once_so_a_rebinding_answer_is_never_used() -> None:
    # The second answer would point at the internal site: it is never asked for.
    resolver = StaticResolver({"news.example": [["127.0.0.2"], ["127.0.0.1"]]})
    async with site() as internal, site("127.0.0.2") as public:
        page = await fetch_page(f"http://news.example:{public.port}/r1", PUBLIC, resolver=resolver)
    assert b"Porto Nuevo" in page.body
    assert resolver.lookups == ["news.example"]
    assert public.requests == ["/r1", "/r2", "/r3", "/story"] and internal.requests == []


# -- what errors say ------------------------------------------------------------------------------


async def test_errors_give_no_port_status_errno_or_type_away() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]  # bound, never listening: connection refused
    try:
        async with site() as local:
            for url in (
                f"{local.root}/gone",
                f"{local.root}/data.json",
                f"{local.root}/go?to=ftp://127.0.0.1/file",
                f"{local.root}/go?to=file:///etc/passwd",
                f"http://127.0.0.1:{closed_port}/story",
                f"http://no-such-host.invalid:{local.port}/story",
            ):
                with pytest.raises(DocumentError) as caught:
                    await fetch_page(url, LOCAL, resolver=StaticResolver({}))
                assert str(caught.value) == COULD_NOT_FETCH, url
    finally:
        closed.close()
    for word in ("404", "json", "Errno", "111", str(closed_port), "ftp", "refused"):
        assert word not in COULD_NOT_FETCH + REFUSED.replace("Refused", "")


# -- adding -----------------------------------------------------------------------------------


async def test_a_story_behind_redirects_is_added_with_its_metadata_capped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "corpus"
    long_title = "Floods " + "and more floods " * 400  # 6,400 characters
    async with site(title=long_title) as local:
        doc_id, article = await add_url(corpus, f"{local.root}/r1", LOCAL)
        assert len(article.title) <= MAX_TITLE_CHARS and article.url == f"{local.root}/story"
        saved = load_document(corpus / doc_id, doc_id)
        assert saved.title == article.title and "three hundred families" in saved.text

        # A redirect to a 4,100-character address: the story is added without a URL.
        far = f"{local.root}/story?{'x' * 4100}"
        with caplog.at_level(logging.WARNING, logger="index"):
            _, article = await add_url(tmp_path / "other", f"{local.root}/go?to={far}", LOCAL)
    assert article.url == "" and "Dropping the URL" in caplog.text
