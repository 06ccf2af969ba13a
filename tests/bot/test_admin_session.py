"""Admin page logins, pure parts: sessions and their expiry, token checks, cookies, and the
cross-site decision."""

from __future__ import annotations

import pytest

from bot.admin_session import (
    LoginLimiter,
    SessionStore,
    cookie_options,
    cross_site_reason,
    is_https,
    token_matches,
)


def test_a_session_lives_until_it_expires_and_keeps_no_id_in_clear() -> None:
    store = SessionStore(lifetime=60)
    session_id, session = store.create(now=1000)
    assert store.get(session_id, now=1059) is session
    assert session_id not in repr(store._sessions)  # only its digest is kept
    assert store.get(session_id, now=1060) is None  # expired, and forgotten
    assert store.get(session_id, now=1000) is None


def test_sessions_are_bounded_and_end_on_logout() -> None:
    store = SessionStore(lifetime=60, limit=3)
    ids = [store.create(now=1000)[0] for _ in range(5)]
    assert [store.get(i, now=1001) is not None for i in ids] == [False, False, True, True, True]
    session = store.get(ids[-1], now=1001)
    assert session is not None
    store.end(session)
    assert store.get(ids[-1], now=1001) is None
    assert store.get("", now=1001) is None
    assert store.get("x" * 10_000, now=1001) is None


def test_each_session_has_its_own_csrf_token() -> None:
    store = SessionStore(lifetime=60)
    (_, a), (_, b) = store.create(), store.create()
    assert a.csrf != b.csrf and len(a.csrf) >= 40


@pytest.mark.parametrize(
    ("given", "expected", "matches"),
    [
        ("secret", "secret", True),
        ("secret ", "secret", False),
        ("Secret", "secret", False),
        ("", "", False),  # no token configured: nobody logs in
        ("anything", "", False),
        ("s" * 600, "s" * 600, False),  # over the size bound: refused unread
    ],
)
def test_token_matches(given: str, expected: str, matches: bool) -> None:
    assert token_matches(given, expected) is matches


def test_the_login_limiter_blocks_after_too_many_wrong_tokens_then_forgets() -> None:
    limiter = LoginLimiter(limit=3, window=60)
    for t in (0, 1, 2):
        assert not limiter.blocked(now=t)
        limiter.failed(now=t)
    assert limiter.blocked(now=3)
    assert not limiter.blocked(now=61)


@pytest.mark.parametrize(
    ("scheme", "forwarded", "trusted", "https"),
    [
        ("https", "", False, True),
        ("http", "https", False, False),  # a client may send the header itself
        ("http", "https", True, True),
        ("http", "HTTPS, http", True, True),
        ("http", "http", True, False),
    ],
)
def test_is_https(scheme: str, forwarded: str, trusted: bool, https: bool) -> None:
    assert is_https(scheme, forwarded, trusted) is https


def test_cookie_options_are_strict() -> None:
    options = cookie_options(secure=True, max_age=3600.5)
    assert options == {
        "httponly": True,
        "samesite": "Strict",
        "path": "/admin",
        "secure": True,
        "max_age": 3600,
    }
    assert cookie_options(secure=False, max_age=None)["secure"] is False


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),  # not a browser: the CSRF token still decides
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://bot.test:8080"}, False),
        ({"Sec-Fetch-Site": "none"}, False),
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Sec-Fetch-Site": "same-site"}, True),  # a sibling subdomain is another site here
        ({"Origin": "http://evil.test"}, True),
        ({"Origin": "https://bot.test:8080"}, True),  # another scheme is another origin
        ({"Origin": "null"}, True),
        ({"Origin": "HTTP://BOT.TEST:8080"}, False),
    ],
)
def test_cross_site_reason(headers: dict[str, str], refused: bool) -> None:
    reason = cross_site_reason(headers, "http", "bot.test:8080")
    assert bool(reason) is refused
    if refused:
        assert "another" in reason
