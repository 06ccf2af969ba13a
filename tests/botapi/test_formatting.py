"""Unit tests of the Bot API text parsers (HTML, MarkdownV2, automatic entities)."""

from __future__ import annotations

import pytest

from .formatting import (
    EntityParseError,
    find_auto_entities,
    format_text,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
    strip_html,
    utf16_len,
)


def test_html_parser_units() -> None:
    assert strip_html("a &lt;b&gt; &#x41;&#66;&amp") == "a <b> AB&"
    assert parse_html("<b>x</>") == ("x", [{"type": "bold", "offset": 0, "length": 1}])
    assert parse_html('<a href="tg://user?id=1">u</a>') == ("u", [])
    assert parse_html("<a>example.com</a>")[1][0]["url"] == "http://example.com/"
    with pytest.raises(EntityParseError, match="Unclosed start tag"):
        parse_html("<b")
    with pytest.raises(EntityParseError, match="surrogate"):
        parse_html("&#xD83D;")
    assert parse_html("AT&T", strict=False)[0] == "AT&T"
    assert utf16_len("a😀") == 3


def test_markdown_v2_units() -> None:
    assert parse_markdown_v2("*b* _i_ 1\\.5")[0] == "b i 1.5"
    with pytest.raises(EntityParseError, match=r"Character '\.' is reserved"):
        parse_markdown_v2("1.5")
    text, entities = format_text("[site](https://example.com) `x`", "MarkdownV2")
    assert text == "site x"
    assert [e["type"] for e in entities] == ["text_link", "code"]
    with pytest.raises(ValueError, match="unsupported parse_mode"):
        format_text("x", "BBCode")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", [("bot_command", "/start")]),
        ("/start@storybot now", [("bot_command", "/start@storybot")]),
        ("ask /help please", [("bot_command", "/help")]),
        ("a/b and x/y", []),
        ("/cmd@ab", []),  # the bot name is too short: no command at all
        ("mail me@host.com", []),
        ("hi @bob_the_user!", [("mention", "@bob_the_user")]),
        ("@abc", []),  # usernames have at least four characters (except a few inline bots)
        ("@gif cats", [("mention", "@gif")]),
        ("#news #2024 #a1", [("hashtag", "#news"), ("hashtag", "#a1")]),
        ("$USD and $usd", [("cashtag", "$USD")]),
        ("see https://example.com/a_(b)), ok", [("url", "https://example.com/a_(b)")]),
    ],
)
def test_auto_entities(text: str, expected: list[tuple[str, str]]) -> None:
    found = find_auto_entities(text)
    encoded = text.encode("utf-16-le")
    pieces = [
        (e["type"], encoded[e["offset"] * 2 : (e["offset"] + e["length"]) * 2].decode("utf-16-le"))
        for e in found
    ]
    assert pieces == expected


def test_format_text_cleans_and_trims_like_telegram() -> None:
    text, entities = format_text("  <b>bold</b>\r\n\x07x  ", "HTML")
    assert text == "bold\n x"
    assert entities == [{"type": "bold", "offset": 0, "length": 4}]
    text, entities = format_text(" /go ", None)
    assert (text, entities) == ("/go", [{"type": "bot_command", "offset": 0, "length": 3}])
    # nothing is detected inside code or links
    text, entities = format_text("<code>/cmd @user_name</code>", "HTML")
    assert [e["type"] for e in entities] == ["code"]


def test_legacy_markdown() -> None:
    text, entities = parse_markdown("*b* _i_ `c` [l](https://x.com) \\*")
    assert text == "b i c l *"
    assert [e["type"] for e in entities] == ["bold", "italic", "code", "text_link"]
    with pytest.raises(EntityParseError, match="Can't find end of the entity starting at byte"):
        parse_markdown("a *b")


def test_markdown_v2_blockquote_and_pre() -> None:
    text, entities = parse_markdown_v2(">quoted\n>lines\nafter")
    assert text == "quoted\nlines\nafter"
    assert entities == [{"type": "blockquote", "offset": 0, "length": 12}]
    text, entities = parse_markdown_v2("```python\nprint(1)\n```")
    assert text == "print(1)\n"
    assert entities == [{"type": "pre", "offset": 0, "length": 9, "language": "python"}]
    with pytest.raises(EntityParseError, match="Can't find end of Bold entity at byte offset 0"):
        parse_markdown_v2("*open")
