"""Admin page logins: the token check, sessions kept on the server, their cookies, CSRF checks.

A login turns the admin token into a random session id; the cookie holds that id, never the
token, and the server keeps only the id's SHA-256 (a copy of its memory opens no session).
Every POST must come from the page itself: the browser's ``Sec-Fetch-Site`` and ``Origin``
headers must not name another site, and the form must carry the session's synchronizer token
(before login, the login form's token must match the login cookie: a double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass

from .i18n import ENGLISH, Translator

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "AdminSession",
    "LoginLimiter",
    "SessionStore",
    "cookie_options",
    "cross_site_reason",
    "is_https",
    "token_matches",
]

SESSION_COOKIE = "storybot_admin"
LOGIN_COOKIE = "storybot_login"
COOKIE_PATH = "/admin"
MAX_SESSIONS = 64  # logins kept at once; the oldest goes first
MAX_TOKEN_CHARS = 512  # longer cookie values and form tokens are refused unread
SAME_SITE_FETCH = ("same-origin", "none")  # "none": typed in the address bar, a bookmark


@dataclass(slots=True)
class AdminSession:
    """One admin's login: its CSRF token, when it ends, and a notice for the next page view."""

    key: str  # SHA-256 of the cookie's session id
    csrf: str
    expires: float
    notice: str = ""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison; an empty expected token (none configured) matches nothing."""
    if not expected or len(given) > MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class SessionStore:
    """Sessions in memory (a restart logs everyone out), each ending ``lifetime`` seconds after
    its login."""

    def __init__(self, lifetime: float, limit: int = MAX_SESSIONS) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._sessions: OrderedDict[str, AdminSession] = OrderedDict()

    def create(self, now: float | None = None) -> tuple[str, AdminSession]:
        """A new session: (the id for the cookie, the session)."""
        now = time.time() if now is None else now
        self._drop_expired(now)
        session_id = secrets.token_urlsafe(32)
        session = AdminSession(_digest(session_id), secrets.token_urlsafe(32), now + self.lifetime)
        self._sessions[session.key] = session
        while len(self._sessions) > self.limit:
            self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str, now: float | None = None) -> AdminSession | None:
        """The live session of a cookie's id; None when unknown or expired."""
        if not session_id or len(session_id) > MAX_TOKEN_CHARS:
            return None
        now = time.time() if now is None else now
        session = self._sessions.get(_digest(session_id))
        if session is None:
            return None
        if session.expires <= now:
            del self._sessions[session.key]
            return None
        return session

    def end(self, session: AdminSession) -> None:
        self._sessions.pop(session.key, None)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]


class LoginLimiter:
    """At most ``limit`` wrong tokens within ``window`` seconds (from anyone): then logins are
    refused until the window has passed, so the token cannot be guessed at network speed."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: deque[float] = deque()

    def _forget(self, now: float) -> None:
        while self._failures and self._failures[0] <= now - self.window:
            self._failures.popleft()

    def blocked(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        self._forget(now)
        return len(self._failures) >= self.limit

    def failed(self, now: float | None = None) -> None:
        self._failures.append(time.time() if now is None else now)


def is_https(scheme: str, forwarded_proto: str, trust_forwarded: bool) -> bool:
    """Whether the browser reached the page over https: the connection's own scheme, or a
    trusted proxy's ``X-Forwarded-Proto`` (its first value)."""
    if scheme == "https":
        return True
    return trust_forwarded and forwarded_proto.split(",")[0].strip().lower() == "https"


def cookie_options(secure: bool, max_age: float | None) -> dict[str, object]:
    """``set_cookie`` keywords for the admin cookies: script-proof, same-site only, scoped to
    the admin pages, Secure over https."""
    options: dict[str, object] = {
        "httponly": True,
        "samesite": "Strict",
        "path": COOKIE_PATH,
        "secure": secure,
    }
    if max_age is not None:
        options["max_age"] = int(max_age)
    return options


def cross_site_reason(
    headers: Mapping[str, str], scheme: str, host: str, tr: Translator = ENGLISH
) -> str:
    """Why a POST comes from another site, in ``tr``'s language ("" when it does not): the
    browser says so with ``Sec-Fetch-Site``, or its ``Origin`` is not this server's. A client
    that sends neither (not a browser, or an old one) still needs the CSRF token."""
    fetch_site = headers.get("Sec-Fetch-Site", "").strip().lower()
    if fetch_site and fetch_site not in SAME_SITE_FETCH:
        return tr.gettext("the browser says this request comes from another site ({site})").format(
            site=fetch_site[:100]
        )
    origin = headers.get("Origin", "").strip()
    if origin and origin.lower() != f"{scheme}://{host}".lower():
        return tr.gettext("the request comes from another origin ({origin})").format(
            origin=origin[:100]
        )
    return ""
