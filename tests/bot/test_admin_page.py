"""The admin page over real HTTP on 127.0.0.1: login, cookies, CSRF and cross-site refusals,
expiry, logout, escaping. (The whole page in a real browser: tests/bot/test_admin_browser.py.)"""

from __future__ import annotations

import asyncio
import html
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.admin_html import documents_html, health_html, login_page
from bot.admin_page import AdminPage
from bot.config import load_config
from bot.i18n import ENGLISH, translator
from bot.services import Services
from bot.state import StateStore
from index.listing import DocumentInfo
from tests.corpus_site import news_site

ADMIN_TOKEN = "admin-page-token-for-tests"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Page:
    url: str
    http: aiohttp.ClientSession
    services: Services
    admin: AdminPage

    async def csrf(self) -> str:
        async with self.http.get(f"{self.url}/admin") as response:
            match = CSRF.search(await response.text())
        assert match is not None
        return match.group(1)

    async def login(self, token: str = ADMIN_TOKEN) -> aiohttp.ClientResponse:
        csrf = await self.csrf()
        async with self.http.post(
            f"{self.url}/admin/login",
            data={"csrf": csrf, "token": token},
            allow_redirects=False,
        ) as response:
            await response.read()
            return response

    async def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        async with self.http.post(
            f"{self.url}{path}", data=data, headers=headers or {}, allow_redirects=False
        ) as response:
            return response.status, await response.text()

    async def page(self) -> str:
        async with self.http.get(f"{self.url}/admin") as response:
            assert response.status == 200
            return await response.text()


@pytest.fixture
async def admin_page(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    web_settings = getattr(request, "param", {})
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "kept.md").write_text("# Kept\n\nA story that stays in the corpus.\n")
    config = load_config(
        {
            "corpus": {"path": str(corpus)},
            "index": {"path": str(tmp_path / "index")},
            "chat": {"state_path": str(tmp_path / "state.sqlite3")},
            "web": web_settings,
        },
        environ={"STORYBOT_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    services = Services(config=config, state=StateStore(config.chat.state_path))
    app = web.Application()
    admin = AdminPage(services)
    admin.register(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies set by an IP address
    try:
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            yield Page(str(server.make_url("")).rstrip("/"), http, services, admin)
    finally:
        await server.close()
        services.state.close()
        services.answering.shutdown()


async def test_login_sets_a_strict_session_cookie_that_is_not_the_token(admin_page: Page) -> None:
    response = await admin_page.login()
    assert response.status == 303 and response.headers["Location"] == "/admin"
    cookie = next(c for c in response.headers.getall("Set-Cookie") if "storybot_admin=" in c)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http, no trusted proxy
    assert ADMIN_TOKEN not in cookie
    page = await admin_page.page()
    assert 'id="logout"' in page and 'id="health"' in page and 'id="feedback"' in page
    assert ADMIN_TOKEN not in page


async def test_the_page_has_a_strict_content_security_policy(admin_page: Page) -> None:
    await admin_page.login()
    async with admin_page.http.get(f"{admin_page.url}/admin") as response:
        policy = response.headers["Content-Security-Policy"]
        page = await response.text()
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce is not None
    assert page.count("<script") == 1 and f'<script nonce="{nonce.group(1)}">' in page
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("admin_page", [{"trust_forwarded_proto": True}], indirect=True)
async def test_cookies_are_secure_behind_a_trusted_https_proxy(admin_page: Page) -> None:
    async with admin_page.http.get(
        f"{admin_page.url}/admin", headers={"X-Forwarded-Proto": "https"}
    ) as response:
        assert "Secure" in response.headers["Set-Cookie"]


async def test_a_wrong_token_is_refused(admin_page: Page) -> None:
    response = await admin_page.login("not-the-token")
    assert response.status == 401
    assert "storybot_admin=" not in " ".join(response.headers.getall("Set-Cookie", []))
    assert 'id="login"' in await admin_page.page()  # still the login form


async def test_wrong_tokens_are_limited(admin_page: Page) -> None:
    statuses = [(await admin_page.login("guess")).status for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert (await admin_page.login()).status == 429  # even the right one, for a minute


async def test_a_login_without_the_forms_csrf_token_is_refused(admin_page: Page) -> None:
    await admin_page.csrf()  # the login cookie is set
    status, text = await admin_page.post("/admin/login", {"token": ADMIN_TOKEN})
    assert status == 403 and "CSRF token is missing" in text
    status, text = await admin_page.post("/admin/login", {"token": ADMIN_TOKEN, "csrf": "forged"})
    assert status == 403 and "does not match its cookie" in text


async def test_posts_need_a_session_and_its_csrf_token(admin_page: Page) -> None:
    status, text = await admin_page.post("/admin/start-reindex", {"csrf": "x"})
    assert status == 401 and "not logged in" in text
    await admin_page.login()
    status, text = await admin_page.post("/admin/start-reindex", {})
    assert status == 403 and "the form has no CSRF token" in text
    status, text = await admin_page.post("/admin/start-reindex", {"csrf": "wrong"})
    assert status == 403 and "does not match your session" in text
    status, text = await admin_page.post(
        "/admin/documents/remove", {"csrf": "wrong", "document": "kept.md"}
    )
    assert status == 403
    assert not admin_page.services.reindexer.jobs  # nothing was started
    assert (Path(admin_page.services.config.corpus.path) / "kept.md").exists()  # nor removed


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    ],
)
async def test_cross_site_posts_are_refused_even_with_the_token(
    admin_page: Page, headers: dict[str, str]
) -> None:
    await admin_page.login()
    csrf = CSRF.search(await admin_page.page())
    assert csrf is not None
    status, text = await admin_page.post(
        "/admin/documents/remove", {"csrf": csrf.group(1), "document": "kept.md"}, headers
    )
    assert status == 403 and "another" in text
    assert (Path(admin_page.services.config.corpus.path) / "kept.md").exists()
    status, text = await admin_page.post("/admin/login", {"token": ADMIN_TOKEN}, headers)
    assert status == 403


async def test_same_origin_posts_with_the_token_are_done(admin_page: Page) -> None:
    await admin_page.login()
    csrf = CSRF.search(await admin_page.page())
    assert csrf is not None
    headers = {"Origin": admin_page.url, "Sec-Fetch-Site": "same-origin"}
    status, _ = await admin_page.post(
        "/admin/documents/remove", {"csrf": csrf.group(1), "document": "nope.md"}, headers
    )
    assert status == 303
    page = await admin_page.page()
    assert "Nothing was removed: There is no document" in page
    assert "Nothing was removed" not in await admin_page.page()  # a notice is shown once


async def test_add_follows_the_fetch_rules_for_private_addresses(admin_page: Page) -> None:
    """The page adds with /add's code: a loopback site is refused (fetch.allow_private_networks
    is off), and nothing is saved."""
    await admin_page.login()
    csrf = CSRF.search(await admin_page.page())
    assert csrf is not None
    async with news_site() as site:
        status, _ = await admin_page.post(
            "/admin/documents/add", {"csrf": csrf.group(1), "url": f"{site}/lavrov.html"}
        )
    assert status == 303
    page = await admin_page.page()
    assert "Nothing was added" in page and "private" in page
    corpus = admin_page.services.config.corpus.path
    assert sorted(await asyncio.to_thread(os.listdir, corpus)) == ["kept.md"]


@pytest.mark.parametrize("admin_page", [{"admin_session_minutes": 0.02}], indirect=True)
async def test_sessions_expire(admin_page: Page) -> None:
    """The server ends a session at its time, even for a client that keeps its cookie."""
    response = await admin_page.login()
    assert response.status == 303
    cookie = response.cookies["storybot_admin"].value
    pages: list[str] = []
    deadline = time.monotonic() + 30  # the session lasts 1.2 s
    while time.monotonic() < deadline and 'id="login"' not in (pages or [""])[-1]:
        async with admin_page.http.get(
            f"{admin_page.url}/admin", cookies={"storybot_admin": cookie}
        ) as page:
            pages.append(await page.text())
        await asyncio.sleep(0.05)
    assert 'id="logout"' in pages[0]  # it was open
    assert "Your session has ended" in pages[-1]
    status, text = await admin_page.post("/admin/start-reindex", {"csrf": "x"})
    assert status == 401 and "session expired" in text


async def test_logout_ends_the_session(admin_page: Page) -> None:
    await admin_page.login()
    cookie = next(c for c in admin_page.http.cookie_jar if c.key == "storybot_admin").value
    csrf = CSRF.search(await admin_page.page())
    assert csrf is not None
    status, _ = await admin_page.post("/admin/logout", {"csrf": csrf.group(1)})
    assert status == 303
    assert 'id="login"' in await admin_page.page()
    async with admin_page.http.get(
        f"{admin_page.url}/admin", cookies={"storybot_admin": cookie}
    ) as response:
        assert 'id="logout"' not in await response.text()  # the old id opens nothing


async def test_progress_needs_a_session(admin_page: Page) -> None:
    async with admin_page.http.get(f"{admin_page.url}/admin/progress/abc") as response:
        assert response.status == 401
    await admin_page.login()
    async with admin_page.http.get(f"{admin_page.url}/admin/progress/abc") as response:
        assert response.status == 404


def test_outside_text_is_escaped() -> None:
    info = DocumentInfo(
        doc_id='x"><script>1</script>.md',
        title="<script>alert(1)</script>",
        date="2026-01-01",
        source="<b>Wire</b>",
        url="javascript:alert(1)",
        passages=3,
    )
    page = documents_html([info], "csrf-token", ENGLISH) + health_html(
        503, {"reason": "<img src=x>"}, ENGLISH
    )
    assert "<script>" not in page and "<img" not in page and "<b>Wire" not in page
    assert "javascript:" not in page  # only http(s) URLs become links
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_long_lists_and_texts_are_bounded() -> None:
    infos = [DocumentInfo(f"d{i}.md", "T" * 5000, "", "", "", 1) for i in range(600)]
    page = documents_html(infos, "c", ENGLISH)
    assert page.count("<tr data-doc=") == 500 and "… and 100 more." in page
    assert "T" * 201 not in page


async def test_the_page_charts_the_feedback_of_the_last_days(admin_page: Page) -> None:
    state = admin_page.services.state
    state.set_feedback("answer-1", 1, 1)
    state.set_feedback("answer-1", 2, -1)
    state.set_feedback("answer-2", 3, 1)
    await admin_page.login()
    page = await admin_page.page()
    assert '<b id="helpful">2</b>' in page and '<b id="not-helpful">1</b>' in page
    assert page.count("<rect ") == 2  # today's two bars, up and down


def test_without_an_admin_token_the_page_says_how_to_set_one() -> None:
    page = login_page("csrf", "", "nonce", ENGLISH, configured=False, language="en")
    assert "STORYBOT_ADMIN_TOKEN" in page and 'id="token"' not in page


# -- the page's language (bot/admin_language.py) --------------------------------------------

FRENCH = {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}


async def get_page(page: Page, headers: dict[str, str] | None = None) -> str:
    async with page.http.get(f"{page.url}/admin", headers=headers or {}) as response:
        assert response.status == 200
        return await response.text()


def shown(text: str) -> str:
    """A translated text as the page writes it (escaped)."""
    return html.escape(text)


async def test_accept_language_fr_gives_the_french_login_page(admin_page: Page) -> None:
    fr = translator("fr")
    english = await get_page(admin_page)
    assert '<html lang="en">' in english and shown("Log in") in english
    french = await get_page(admin_page, FRENCH)
    assert '<html lang="fr">' in french
    for text in ("Log in", "Admin token", "storybot admin: log in"):
        assert fr.gettext(text) != text and shown(fr.gettext(text)) in french
    assert "Log in" not in french and 'id="lang-fr"' in french
    status, text = await admin_page.post("/admin/login", {"token": "guess"}, FRENCH)
    assert status == 403 and '<html lang="fr">' in text
    missing = fr.gettext("the login form's CSRF token is missing or does not match its cookie.")
    assert shown(missing) in text and "CSRF token is missing" not in text


async def test_refusals_are_in_french(admin_page: Page) -> None:
    fr = translator("fr")
    status, text = await admin_page.post("/admin/start-reindex", {"csrf": "x"}, FRENCH)
    logged_out = fr.gettext("you are not logged in, or your session expired. Log in again.")
    assert status == 401 and shown(logged_out) in text and "not logged in" not in text
    assert shown(fr.gettext("Refused")) in text and '<html lang="fr">' in text
    await admin_page.login()
    status, text = await admin_page.post(
        "/admin/start-reindex", {"csrf": "x"}, {**FRENCH, "Origin": "http://evil.example"}
    )
    assert status == 403 and "http://evil.example" in text
    use_the_form = fr.gettext("{reason}. Use the form on the admin page.").split("{reason}")[1]
    origin = fr.gettext("the request comes from another origin ({origin})").split(" (")[0]
    assert shown(use_the_form) in text and shown(origin) in text
    assert "another origin" not in text
    async with admin_page.http.get(
        f"{admin_page.url}/admin/progress/nope", headers=FRENCH
    ) as response:
        assert (await response.json())["error"] == fr.gettext("no such job") != "no such job"


async def test_the_switch_keeps_the_choice_and_needs_the_forms_token(admin_page: Page) -> None:
    fr = translator("fr")
    await get_page(admin_page)  # sets the login form's cookie
    status, _ = await admin_page.post("/admin/language", {"lang": "fr", "csrf": "forged"})
    assert status == 403
    english = await get_page(admin_page)
    assert '<html lang="en">' in english  # unchanged
    login_csrf = CSRF.search(english)  # the login form's token (a new one each time)
    assert login_csrf is not None
    status, _ = await admin_page.post(
        "/admin/language", {"lang": "fr", "csrf": login_csrf.group(1)}
    )
    assert status == 303
    cookie = next(c for c in admin_page.http.cookie_jar if c.key == "storybot_admin_lang")
    assert cookie.value == "fr" and cookie["samesite"] == "Strict" and cookie["httponly"]
    english_browser = {"Accept-Language": "en-US,en"}
    assert '<html lang="fr">' in await get_page(admin_page, english_browser)  # the choice wins
    await admin_page.login()
    page = await get_page(admin_page, english_browser)
    assert shown(fr.gettext("Log out")) in page and shown(fr.gettext("Reindex now")) in page
    assert fr.gettext("Feedback per day") in page  # the chart's accessible title
    csrf = CSRF.search(page)
    assert csrf is not None
    status, text = await admin_page.post("/admin/language", {"lang": "de", "csrf": csrf.group(1)})
    assert status == 400 and '<html lang="fr">' in text
    status, _ = await admin_page.post(
        "/admin/language", {"lang": "en", "csrf": csrf.group(1)}, {"Origin": "http://evil.example"}
    )
    assert status == 403
    status, _ = await admin_page.post("/admin/language", {"lang": "en", "csrf": csrf.group(1)})
    assert status == 303
    page = await get_page(admin_page, FRENCH)
    assert '<html lang="en">' in page and 'id="logout">Log out<' in page


@pytest.mark.parametrize(
    "header",
    [
        "a" * 8000,  # one long, bogus tag
        "de," * 2000 + "fr",  # French past the entries read
        ";" * 600 + ",fr",  # French past the characters read
        "fr;q=abc, fr;q=0, *;q=1, ;;;,, =",
        "fr-\u00e9",  # not ASCII
    ],
)
async def test_a_hostile_accept_language_gives_the_english_page(
    admin_page: Page, header: str
) -> None:
    page = await get_page(admin_page, {"Accept-Language": header})
    assert '<html lang="en">' in page and 'id="login">Log in<' in page
    status, text = await admin_page.post(
        "/admin/start-reindex", {"csrf": "x"}, {"Accept-Language": header}
    )
    assert status == 401 and "not logged in" in text
