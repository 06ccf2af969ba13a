"""What admins see of an error: its class and text, never a URL or a token."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram.error import NetworkError

from bot.redact import ERROR_TEXT_LIMIT, TokenFilter, describe_error

TOKEN = "123456:TEST-token-that-must-never-be-logged"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            NetworkError(
                "aiohttp.TooManyRedirects: 0, message='', url='http://127.0.0.1:8081/file/"
                f"bot{TOKEN}/documents/file_0.txt'"
            ),
            "NetworkError: aiohttp.TooManyRedirects: 0, message='', url='[address]'",
        ),
        (RuntimeError(f"choked on {TOKEN} here"), "RuntimeError: choked on [token] here"),
        (ValueError("two\n  lines"), "ValueError: two lines"),
        (KeyError(), "KeyError"),
    ],
)
def test_errors_are_shown_without_urls_or_tokens(error: BaseException, shown: str) -> None:
    assert describe_error(error) == shown


@given(
    before=st.text(max_size=400),
    scheme=st.sampled_from(["http", "https", "ftp", "file", "HTTP"]),
    rest=st.text(st.characters(blacklist_characters=" \t\n\r'\"<>()[]"), max_size=80),
    after=st.text(max_size=400),
)
def test_no_url_or_token_survives_and_the_text_is_one_bounded_line(
    before: str, scheme: str, rest: str, after: str
) -> None:
    text = f"{before} {scheme}://host/bot{TOKEN}/{rest} {after}"
    shown = describe_error(RuntimeError(text))
    assert TOKEN not in shown and "://host" not in shown
    assert "\n" not in shown
    assert len(shown) <= len("RuntimeError: ") + ERROR_TEXT_LIMIT


def test_the_log_filter_masks_every_secret_it_was_given() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "token %s secret %s", (TOKEN, "s3cr3t"), None
    )
    assert TokenFilter(TOKEN, "s3cr3t", "").filter(record)
    assert record.getMessage() == "token [REDACTED] secret [REDACTED]"
