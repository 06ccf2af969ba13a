"""Text formatting the way the Bot API does it (it runs on TDLib).

* ``parse_html`` follows TDLib's HTML parser: only the tags Telegram supports, a strict
  tokenizer for tags and attributes, the entities ``&lt; &gt; &amp; &quot;`` and numeric
  references. Errors carry TDLib's wording, with byte offsets into the UTF-8 text.
* ``parse_markdown_v2`` and ``parse_markdown`` cover the two Markdown modes.
* ``find_auto_entities`` finds what Telegram detects by itself in a text: ``bot_command``,
  ``mention``, ``hashtag``, ``cashtag`` and ``url`` (explicit ``http(s)://`` links only).
* ``format_text`` is the whole pipeline that ``sendMessage``/``editMessageText`` apply: parse,
  clean control characters, trim whitespace, add automatic entities, sort.

All entity offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "HTML_TAGS",
    "EntityParseError",
    "find_auto_entities",
    "format_text",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "strip_html",
    "utf16_len",
]

HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)

_TAG_TO_TYPE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}

# TDLib's sort order for entities at the same offset and length.
_PRIORITY = {
    "mention": 50,
    "hashtag": 50,
    "cashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "phone_number": 50,
    "bank_card_number": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
    "code": 20,
    "pre": 11,
    "text_link": 49,
    "text_mention": 49,
    "blockquote": 0,
    "expandable_blockquote": 0,
}

ENTITY_TYPES = frozenset(_PRIORITY)

# Entities inside which Telegram detects nothing automatically.
_OPAQUE_TYPES = frozenset({"code", "pre", "text_link", "text_mention", "custom_emoji", "url"})

# TDLib's is_space (the C string terminator counts as a space there; end of input here).
_SPACES = frozenset(" \t\r\n\v")

_NAMED_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})


class EntityParseError(ValueError):
    """Raised for text that Telegram refuses with "can't parse entities: <message>"."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _utf16_prefix(text: str) -> list[int]:
    """``result[i]`` is the UTF-16 offset of code point ``i``; ``result[len(text)]`` the length."""
    out = [0] * (len(text) + 1)
    acc = 0
    for i, ch in enumerate(text):
        out[i] = acc
        acc += 2 if ord(ch) > 0xFFFF else 1
    out[len(text)] = acc
    return out


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _decode_html_entity(text: str, pos: int) -> tuple[int, int] | None:
    """Decode the character reference at ``text[pos] == '&'`` like TDLib does.

    Returns ``(code point, position after the reference)`` or ``None`` when it is not one.
    """
    n = len(text)
    end = pos + 1
    code = 0
    if end < n and text[end] == "#":
        end += 1
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                code = code * 16 + int(text[end], 16)
                end += 1
        else:
            while end < n and text[end] in "0123456789":
                code = code * 10 + int(text[end])
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[pos + 1 : end]
        if name not in _NAMED_ENTITIES:
            return None
        code = {"lt": 0x3C, "gt": 0x3E, "amp": 0x26, "quot": 0x22}[name]
    if end < n and text[end] == ";":
        end += 1
    return code, end


def _check_link(url: str) -> str | None:
    """A simplified TDLib ``get_checked_link``: normalise a link or reject it (``None``)."""
    url = url.strip()
    if not url or any(ch in _SPACES for ch in url):
        return None
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(//)?", url)
    if match:
        scheme = match.group(1).lower()
        if scheme in ("tg", "ton", "mailto", "tonsite"):
            return url
        if scheme not in ("http", "https", "ftp"):
            return None
        rest = url[match.end() :]
    else:
        scheme = "http"
        rest = url
    host, sep, tail = re.match(r"^([^/?#]*)([/?#]?)(.*)$", rest, re.DOTALL).groups()
    hostname = host.rsplit("@", 1)[-1].split(":", 1)[0]
    if not hostname or ("." not in hostname and hostname.lower() != "localhost"):
        return None
    if not sep:
        sep = "/"
    elif sep != "/":
        sep = "/" + sep
    return f"{scheme}://{host}{sep}{tail}"


def _link_user_id(url: str) -> int | None:
    match = re.fullmatch(r"tg://user\?id=(\d{1,20})", url.strip(), re.IGNORECASE)
    return int(match.group(1)) if match else None


def parse_html(
    text: str,
    *,
    strict: bool = True,
    user_lookup: Callable[[int], dict[str, Any] | None] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into ``(plain text, entities)`` or raise :class:`EntityParseError`.

    With ``strict=False`` this is TDLib's behaviour exactly: a ``&`` that does not start one of
    the supported character references stays in the text as it is (``"AT&T"``, ``"&nbsp;"``).
    ``strict=True`` refuses those as well, so a bot that forgot to escape its text fails
    loudly in tests; these errors are the only ones here that real Telegram never gives.
    """
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # (tag name, argument, utf16 offset at start, index into ``out`` at start, byte offset)
    stack: list[tuple[str, str, int, int, int]] = []
    n = len(text)
    i = 0

    def append(ch: str) -> None:
        nonlocal u16
        out.append(ch)
        u16 += 2 if ord(ch) > 0xFFFF else 1

    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                code, i = decoded
                if 0xD800 <= code <= 0xDFFF:
                    raise EntityParseError(
                        "Text contains invalid Unicode characters after decoding HTML entities, "
                        "check for unmatched surrogate code units"
                    )
                append(chr(code))
                continue
            if strict:
                end = i + 1
                while end < n and end - i < 12 and (text[end].isalnum() or text[end] == "#"):
                    end += 1
                if end < n and text[end] == ";" and end > i + 1:
                    raise EntityParseError(
                        f'Unsupported HTML entity "{text[i : end + 1]}" at byte offset '
                        f"{_byte_offset(text, i)}"
                    )
                raise EntityParseError(
                    f'Character "&" must be escaped as "&amp;" at byte offset '
                    f"{_byte_offset(text, i)} (strict mode of the test server)"
                )
        if c != "<":
            append(c)
            i += 1
            continue

        begin = i
        begin_byte = _byte_offset(text, begin)
        i += 1
        if i < n and text[i] == "/":
            # An end tag.
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin_byte}")
            j = i + 1
            while j < n and text[j] not in _SPACES and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j] in _SPACES:
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {begin_byte}")
            i = j + 1
            tag, argument, start_u16, start_out, _ = stack.pop()
            if tag == "a" and not argument:
                argument = "".join(out[start_out:])
            if end_name and end_name != tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {begin_byte}, expected "</{tag}>", '
                    f'found "</{end_name}>"'
                )
            if u16 > start_u16:
                _close_html_entity(
                    entities, tag, argument, start_u16, u16 - start_u16, user_lookup
                )
            continue

        # A start tag.
        j = i
        while j < n and text[j] not in _SPACES and text[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin_byte}")
        tag = text[i:j].lower()
        if tag not in HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin_byte}')
        argument = ""
        span_class: str | None = None
        i = j
        while True:
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin_byte}")
            if text[i] == ">":
                i += 1
                break
            name_begin = i
            while i < n and text[i] not in _SPACES and text[i] not in "=>":
                i += 1
            attribute = text[name_begin:i]
            if not attribute:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {begin_byte}'
                )
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n or text[i] != "=":
                if tag == "blockquote" and attribute.lower() == "expandable":
                    argument = "expandable"
                    continue
                raise EntityParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {begin_byte}'
                )
            i += 1
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin_byte}')
            if text[i] not in "'\"":
                token_begin = i
                while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                    i += 1
                value = text[token_begin:i].lower()
                if i >= n or (text[i] not in _SPACES and text[i] != ">"):
                    raise EntityParseError(
                        "Unexpected end of name token at byte offset "
                        f"{_byte_offset(text, token_begin)}"
                    )
            else:
                quote = text[i]
                i += 1
                chars: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        decoded = _decode_html_entity(text, i)
                        if decoded is not None:
                            code, i = decoded
                            chars.append(chr(code))
                            continue
                    chars.append(text[i])
                    i += 1
                if i < n:
                    i += 1
                value = "".join(chars)
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin_byte}")
            attribute = attribute.lower()
            if tag == "a" and attribute == "href":
                argument = value
            elif tag == "code" and attribute == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif tag == "span" and attribute == "class":
                span_class = value
            elif tag == "tg-emoji" and attribute == "emoji-id":
                argument = value
        if tag == "span":
            if span_class != "tg-spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin_byte}'
                )
            argument = "spoiler"
        stack.append((tag, argument, u16, len(out), begin_byte))

    if stack:
        raise EntityParseError(f"Can't find end tag corresponding to start tag {stack[-1][0]}")

    plain = "".join(out)
    result = entities
    for entity in result:
        entity.pop("_language", None)
    # A code inside a pre of the same extent is folded into the pre (see _close_html_entity);
    # other code entities nested in pre are dropped, as Telegram does.
    pres = [(e["offset"], e["offset"] + e["length"]) for e in result if e["type"] == "pre"]
    result = [
        e
        for e in result
        if not (
            e["type"] == "code"
            and any(s <= e["offset"] and e["offset"] + e["length"] <= t for s, t in pres)
        )
    ]
    return plain, _sort_entities(result)


def _close_html_entity(
    entities: list[dict[str, Any]],
    tag: str,
    argument: str,
    offset: int,
    length: int,
    user_lookup: Callable[[int], dict[str, Any] | None] | None,
) -> None:
    if tag in _TAG_TO_TYPE:
        entities.append({"type": _TAG_TO_TYPE[tag], "offset": offset, "length": length})
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": argument,
            }
        )
    elif tag == "a":
        user_id = _link_user_id(argument) if argument else None
        if user_id is not None:
            user = user_lookup(user_id) if user_lookup else None
            if user is not None:
                entities.append(
                    {"type": "text_mention", "offset": offset, "length": length, "user": user}
                )
            return
        url = _check_link(argument) if argument else None
        if url is not None:
            entities.append({"type": "text_link", "offset": offset, "length": length, "url": url})
    elif tag == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and last["offset"] == offset
            and last["length"] == length
            and last.get("_language")
        ):
            last["type"] = "pre"
            last["language"] = last.pop("_language")
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
        if argument:
            entity["_language"] = argument
        entities.append(entity)
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument == "expandable" else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})


def strip_html(text: str, *, strict: bool = True) -> str:
    """The plain text Telegram shows for ``text`` sent with ``parse_mode="HTML"``."""
    return parse_html(text, strict=strict)[0]


# --------------------------------------------------------------------------------------------
# MarkdownV2 and Markdown
# --------------------------------------------------------------------------------------------

_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 into ``(plain text, entities)`` or raise :class:`EntityParseError`."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    # (type, utf16 offset, byte offset of the opening, extra)
    stack: list[list[Any]] = []
    n = len(text)
    i = 0
    blockquote: list[Any] | None = None  # [utf16 offset, expandable]

    def append(ch: str) -> None:
        nonlocal u16
        out.append(ch)
        u16 += 2 if ord(ch) > 0xFFFF else 1

    def top() -> str | None:
        return stack[-1][0] if stack else None

    def at_line_start(pos: int) -> bool:
        return pos == 0 or text[pos - 1] == "\n"

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            append(text[i + 1])
            i += 2
            continue
        kind = top()
        if kind in ("code", "pre") and c != "`":
            if c == "\\":
                raise EntityParseError(
                    "Character '\\' is reserved and must be escaped with the preceding '\\'"
                )
            append(c)
            i += 1
            continue
        if c == "\n" and blockquote is not None:
            # A quote goes on while the next line starts with '>'.
            if not (i + 1 < n and text[i + 1] == ">"):
                if stack:
                    raise EntityParseError(
                        f"Can't find end of {_md_name(stack[-1][0])} entity at byte offset "
                        f"{stack[-1][2]}"
                    )
                _add_quote(entities, blockquote, u16)
                blockquote = None
            append(c)
            i += 1
            continue
        if c == ">" and at_line_start(i):
            if blockquote is None:
                expandable = False
                blockquote = [u16, expandable]
            i += 1
            continue
        if c == "*" and at_line_start(i) and text.startswith("**>", i):
            blockquote = [u16, True]
            i += 3
            continue
        if (
            blockquote is not None
            and blockquote[1]
            and text.startswith("||", i)
            and (i + 2 == n or text[i + 2] == "\n")
            and kind != "spoiler"
        ):
            _add_quote(entities, blockquote, u16)
            blockquote = None
            i += 2
            continue
        if c not in _MDV2_RESERVED:
            append(c)
            i += 1
            continue

        ends = False
        if kind == "bold":
            ends = c == "*"
        elif kind == "italic":
            ends = c == "_" and not text.startswith("__", i)
        elif kind == "underline":
            ends = text.startswith("__", i)
        elif kind == "strikethrough":
            ends = c == "~"
        elif kind == "spoiler":
            ends = text.startswith("||", i)
        elif kind == "code":
            ends = c == "`"
        elif kind == "pre":
            ends = text.startswith("```", i)
        elif kind in ("text_link", "custom_emoji"):
            ends = c == "]"
        # "___" closes italic and underline in the order they were opened.
        if (
            kind == "italic"
            and len(stack) >= 2
            and stack[-2][0] == "underline"
            and text.startswith("___", i)
        ):
            ends = True

        byte_here = _byte_offset(text, i)
        if not ends:
            if c == "_":
                if text.startswith("__", i):
                    stack.append(["underline", u16, byte_here, None])
                    i += 2
                else:
                    stack.append(["italic", u16, byte_here, None])
                    i += 1
            elif c == "*":
                stack.append(["bold", u16, byte_here, None])
                i += 1
            elif c == "~":
                stack.append(["strikethrough", u16, byte_here, None])
                i += 1
            elif c == "|" and text.startswith("||", i):
                stack.append(["spoiler", u16, byte_here, None])
                i += 2
            elif c == "[":
                stack.append(["text_link", u16, byte_here, len(out)])
                i += 1
            elif c == "!" and text.startswith("![", i):
                stack.append(["custom_emoji", u16, byte_here, None])
                i += 2
            elif c == "`":
                if text.startswith("```", i):
                    i += 3
                    lang_end = i
                    while lang_end < n and text[lang_end] not in _SPACES and text[lang_end] != "`":
                        lang_end += 1
                    language = ""
                    if lang_end < n and text[lang_end] == "\n":
                        language = text[i:lang_end]
                        i = lang_end + 1
                    stack.append(["pre", u16, byte_here, language])
                else:
                    stack.append(["code", u16, byte_here, None])
                    i += 1
            else:
                raise EntityParseError(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            continue

        kind, start, _byte, extra = stack.pop()
        if kind in ("underline", "spoiler"):
            i += 2
        elif kind == "pre":
            i += 3
        else:
            i += 1
        length = u16 - start
        if kind in ("text_link", "custom_emoji"):
            url = ""
            if i < n and text[i] == "(":
                i += 1
                chars: list[str] = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        chars.append(text[i + 1])
                        i += 2
                        continue
                    chars.append(text[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                    )
                i += 1
                url = "".join(chars)
            elif kind == "text_link":
                url = "".join(out[extra:])
            if kind == "custom_emoji":
                match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                if not match:
                    raise EntityParseError("Custom emoji URL must have an emoji identifier")
                if length:
                    entities.append(
                        {
                            "type": "custom_emoji",
                            "offset": start,
                            "length": length,
                            "custom_emoji_id": match.group(1),
                        }
                    )
                continue
            if length:
                _close_html_entity(entities, "a", url, start, length, None)
            continue
        if length:
            entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
            if kind == "pre" and extra:
                entity["language"] = extra
            entities.append(entity)

    if stack:
        kind, _start, byte_at, _extra = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_md_name(kind)} entity at byte offset {byte_at}"
        )
    if blockquote is not None:
        _add_quote(entities, blockquote, u16)
    return "".join(out), _sort_entities(entities)


def _md_name(kind: str) -> str:
    return {
        "bold": "Bold",
        "italic": "Italic",
        "underline": "Underline",
        "strikethrough": "Strikethrough",
        "spoiler": "Spoiler",
        "code": "Code",
        "pre": "Pre",
        "text_link": "TextUrl",
        "custom_emoji": "CustomEmoji",
    }.get(kind, kind)


def _add_quote(entities: list[dict[str, Any]], quote: list[Any], end: int) -> None:
    if end > quote[0]:
        entities.append(
            {
                "type": "expandable_blockquote" if quote[1] else "blockquote",
                "offset": quote[0],
                "length": end - quote[0],
            }
        )


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy ``Markdown`` (no nesting; ``*bold* _italic_ `code` ```pre``` [t](url)``)."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0

    def append(s: str) -> None:
        nonlocal u16
        out.append(s)
        u16 += utf16_len(s)

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            append(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            append(c)
            i += 1
            continue
        begin = i
        start = u16
        if c == "`" and text.startswith("```", i):
            i += 3
            lang_end = i
            while lang_end < n and text[lang_end] not in _SPACES and text[lang_end] != "`":
                lang_end += 1
            language = ""
            if lang_end < n and text[lang_end] == "\n":
                language = text[i:lang_end]
                i = lang_end + 1
            end = text.find("```", i)
            if end < 0:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(text, begin)}"
                )
            append(text[i:end])
            entity: dict[str, Any] = {"type": "pre", "offset": start, "length": u16 - start}
            if language:
                entity["language"] = language
            if u16 > start:
                entities.append(entity)
            i = end + 3
            continue
        end_char = "]" if c == "[" else c
        end = text.find(end_char, i + 1)
        if end < 0:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        inner = text[i + 1 : end]
        i = end + 1
        append(inner)
        if c == "[":
            url = ""
            if i < n and text[i] == "(":
                close = text.find(")", i)
                if close >= 0:
                    url = text[i + 1 : close]
                    i = close + 1
            if u16 > start:
                _close_html_entity(entities, "a", url or inner, start, u16 - start, None)
            continue
        kind = {"*": "bold", "_": "italic", "`": "code"}[c]
        if u16 > start:
            entities.append({"type": kind, "offset": start, "length": u16 - start})
    return "".join(out), _sort_entities(entities)


# --------------------------------------------------------------------------------------------
# Automatically detected entities
# --------------------------------------------------------------------------------------------


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_ascii_word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


_SHORT_INLINE_BOTS = frozenset(
    {"gif", "wiki", "vid", "bing", "pic", "bold", "imdb", "coub", "like", "vote"}
)


def _find_mentions(text: str) -> list[tuple[int, int]]:
    found = []
    n = len(text)
    pos = text.find("@")
    while pos >= 0:
        if pos > 0 and _is_word(text[pos - 1]):
            pos = text.find("@", pos + 1)
            continue
        end = pos + 1
        while end < n and _is_ascii_word(text[end]):
            end += 1
        size = end - pos - 1
        if 2 <= size <= 32 and not (end < n and _is_word(text[end])):
            name = text[pos + 1 : end]
            if size >= 4 or name.lower() in _SHORT_INLINE_BOTS:
                found.append((pos, end))
        pos = text.find("@", max(end, pos + 1))
    return found


def _find_bot_commands(text: str) -> list[tuple[int, int]]:
    found = []
    n = len(text)
    pos = text.find("/")
    while pos >= 0:
        if pos > 0 and (_is_word(text[pos - 1]) or text[pos - 1] in "/<>"):
            pos = text.find("/", pos + 1)
            continue
        end = pos + 1
        while end < n and _is_ascii_word(text[end]):
            end += 1
        size = end - pos - 1
        ok = 1 <= size <= 64
        if ok and end < n and text[end] == "@":
            mention_end = end + 1
            while mention_end < n and _is_ascii_word(text[mention_end]):
                mention_end += 1
            if 3 <= mention_end - end - 1 <= 32:
                end = mention_end
            else:
                ok = False
        if ok and end < n and (_is_word(text[end]) or text[end] in "/<>"):
            ok = False
        if ok:
            found.append((pos, end))
        pos = text.find("/", max(end, pos + 1))
    return found


def _find_hashtags(text: str, sign: str) -> list[tuple[int, int]]:
    found = []
    n = len(text)
    pos = text.find(sign)
    while pos >= 0:
        if pos > 0 and (_is_word(text[pos - 1]) or text[pos - 1] == sign):
            pos = text.find(sign, pos + 1)
            continue
        end = pos + 1
        if sign == "#":
            while end < n and _is_word(text[end]) and end - pos - 1 < 256:
                end += 1
            body = text[pos + 1 : end]
            ok = bool(body) and any(ch.isalpha() for ch in body)
            ok = ok and not (end < n and text[end] == "#")
        else:
            while end < n and "A" <= text[end] <= "Z":
                end += 1
            body = text[pos + 1 : end]
            ok = 1 <= len(body) <= 8 and not (
                end < n and (_is_word(text[end]) or text[end] == "$")
            )
        if ok:
            found.append((pos, end))
        pos = text.find(sign, max(end, pos + 1))
    return found


_URL_RE = re.compile(r"(?i)\bhttps?://[^\s<>\"']+")


def _find_urls(text: str) -> list[tuple[int, int]]:
    found = []
    for match in _URL_RE.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in ".,:;!?":
            end -= 1
        while (
            end > start
            and text[end - 1] == ")"
            and text.count("(", start, end) < text.count(")", start, end)
        ):
            end -= 1
        if end - start > len("https://"):
            found.append((start, end))
    return found


def find_auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram finds in ``text`` by itself, with UTF-16 offsets, sorted."""
    prefix = _utf16_prefix(text)
    spans: list[tuple[int, int, str]] = []
    for start, end in _find_urls(text):
        spans.append((start, end, "url"))
    for start, end in _find_bot_commands(text):
        spans.append((start, end, "bot_command"))
    for start, end in _find_mentions(text):
        spans.append((start, end, "mention"))
    for start, end in _find_hashtags(text, "#"):
        spans.append((start, end, "hashtag"))
    for start, end in _find_hashtags(text, "$"):
        spans.append((start, end, "cashtag"))
    # Earlier and longer matches win, intersecting ones are dropped (as TDLib does).
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    chosen: list[tuple[int, int, str]] = []
    for span in spans:
        if chosen and span[0] < max(c[1] for c in chosen):
            continue
        chosen.append(span)
    return [
        {"type": kind, "offset": prefix[start], "length": prefix[end] - prefix[start]}
        for start, end, kind in chosen
    ]


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


def _sort_entities(entities: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        entities, key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50))
    )


def _remap(
    text: str, entities: Sequence[dict[str, Any]], keep: Callable[[int, str], str]
) -> tuple[str, list[dict[str, Any]]]:
    """Rebuild ``text`` with ``keep(i, ch)`` (returns the replacement, "" to drop ``ch``)."""
    old_to_new = [0] * (utf16_len(text) + 1)
    out: list[str] = []
    old = new = 0
    for i, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        replacement = keep(i, ch)
        for k in range(width):
            old_to_new[old + k] = new
        out.append(replacement)
        old += width
        new += utf16_len(replacement)
    old_to_new[old] = new
    result = []
    for entity in entities:
        start = old_to_new[min(entity["offset"], old)]
        end = old_to_new[min(entity["offset"] + entity["length"], old)]
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return "".join(out), result


_REMOVED_CHARS = frozenset(
    {"\r", "\u0333", "\u033f", "\u030a"} | {chr(c) for c in range(0x2028, 0x202F)}
)


def _clean(text: str, entities: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """TDLib's clean_input_string: drop ``\\r`` and a few marks, control chars become spaces."""

    def keep(_i: int, ch: str) -> str:
        if ch in _REMOVED_CHARS:
            return ""
        if ord(ch) < 32 and ch not in "\t\n":
            return " "
        return ch

    if not any(ch in _REMOVED_CHARS or (ord(ch) < 32 and ch not in "\t\n") for ch in text):
        return text, list(entities)
    return _remap(text, entities, keep)


_TRIM = " \t\n"


def _trim(text: str, entities: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    left = len(text) - len(text.lstrip(_TRIM))
    right = len(text.rstrip(_TRIM))
    if left == 0 and right == len(text):
        return text, list(entities)
    return _remap(text, entities, lambda i, ch: ch if left <= i < right else "")


def validate_entities(text: str, raw: Any) -> list[dict[str, Any]]:
    """Check the ``entities`` parameter a bot sent; returns them clipped to the text."""
    if not isinstance(raw, list):
        raise EntityParseError("entities must be an Array")
    total = utf16_len(text)
    result = []
    for item in raw:
        if not isinstance(item, dict):
            raise EntityParseError("MessageEntity must be an Object")
        kind = item.get("type")
        offset = item.get("offset")
        length = item.get("length")
        if kind not in ENTITY_TYPES:
            raise EntityParseError(f'Unsupported entity type "{kind}"')
        if not isinstance(offset, int) or not isinstance(length, int):
            raise EntityParseError("Entity offset and length must be Integer")
        if offset < 0 or length <= 0 or offset >= total:
            continue
        entity = {"type": kind, "offset": offset, "length": min(length, total - offset)}
        if kind == "text_link":
            url = _check_link(str(item.get("url", "")))
            if url is None:
                continue
            entity["url"] = url
        elif kind == "text_mention":
            user = item.get("user")
            if not isinstance(user, dict) or "id" not in user:
                raise EntityParseError('Can\'t find field "user"')
            entity["user"] = user
        elif kind == "pre" and item.get("language"):
            entity["language"] = str(item["language"])
        elif kind == "custom_emoji":
            if not str(item.get("custom_emoji_id", "")).isdigit():
                raise EntityParseError("Invalid custom emoji identifier specified")
            entity["custom_emoji_id"] = str(item["custom_emoji_id"])
        result.append(entity)
    return _sort_entities(result)


def format_text(
    text: str,
    parse_mode: str | None = None,
    entities: Any = None,
    *,
    strict_html: bool = True,
    user_lookup: Callable[[int], dict[str, Any] | None] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Apply what Telegram applies to a message text.

    Raises :class:`EntityParseError` for unparsable markup, :class:`ValueError` with the Bot API
    description for an unsupported ``parse_mode``.
    """
    mode = (parse_mode or "").lower()
    if mode and mode != "none":
        if mode == "html":
            plain, found = parse_html(text, strict=strict_html, user_lookup=user_lookup)
        elif mode == "markdownv2":
            plain, found = parse_markdown_v2(text)
        elif mode == "markdown":
            plain, found = parse_markdown(text)
        else:
            raise ValueError("unsupported parse_mode")
    elif entities is not None:
        plain, found = text, validate_entities(text, entities)
    else:
        plain, found = text, []
    plain, found = _clean(plain, found)
    plain, found = _trim(plain, found)
    opaque = [
        (e["offset"], e["offset"] + e["length"]) for e in found if e["type"] in _OPAQUE_TYPES
    ]
    for auto in find_auto_entities(plain):
        start, end = auto["offset"], auto["offset"] + auto["length"]
        if any(start < t and s < end for s, t in opaque):
            continue
        if any(
            e["type"] == auto["type"] and e["offset"] == start and e["length"] == auto["length"]
            for e in found
        ):
            continue
        found.append(auto)
    return plain, _sort_entities(found)
