"""What the bot must never show: its secrets in a log line, a URL or a token in a chat message.

The log filter is built with every secret the process will hold (the bot token, the admin
token, the webhook secret, generated or configured) before anything is logged. Errors shown to
admins in Telegram go through ``describe_error``: the error's class and its text, with every
URL and anything shaped like a bot token taken out (a Bot API file URL holds the token).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "TokenFilter",
    "describe_error",
    "install_token_filter",
    "url_password",
    "without_password",
]

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,20}://[^\s'\"<>()\[\]]*")
_BOT_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}")
_WHITESPACE = re.compile(r"\s+")
ERROR_TEXT_LIMIT = 300


def describe_error(error: BaseException, limit: int = ERROR_TEXT_LIMIT) -> str:
    """``Class: text`` of an error, fit to show an admin: no URL, no token, one line, at most
    ``limit`` characters of text."""
    text = _URL.sub("[address]", str(error))
    text = _BOT_TOKEN.sub("[token]", text)
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    name = type(error).__name__
    return f"{name}: {text}" if text else name


class TokenFilter(logging.Filter):
    """Masks the secrets in every log record that passes a handler, wherever they appear."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        parts = [re.escape(s) for s in secrets if s]
        self._pattern = re.compile("|".join(parts)) if parts else None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        message = record.getMessage()
        if self._pattern.search(message):
            record.msg = self._pattern.sub("[REDACTED]", message)
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if self._pattern.search(text):
                record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}, redacted)"
                record.exc_info = None
                record.exc_text = None
        return True


def install_token_filter(*secrets: str) -> None:
    """Attach the secrets' mask to every handler of the root logger (call it with every secret
    the process will hold, before the first is used)."""
    token_filter = TokenFilter(*secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(token_filter)


def url_password(url: str) -> str:
    """The password in a URL such as ``postgresql://user:password@host/db`` ("" when none)."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def without_password(url: str) -> str:
    """A URL fit for a log line: its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "[an address that cannot be read]"
    if not password:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
