r"""The text formats of the corpus to sections: Markdown, plain text and HTML (the main text,
via trafilatura).

Every pattern run on a document's text is linear in its length. Headings, links and emphasis
are found by the small scanners below instead of the obvious regexes, which backtrack
(``^(#{1,6})\s+(.*?)\s*#*\s*$`` is cubic on "# a" + spaces + "b"; ``!?\[([^\]]*)\]\([^)]*\)``
and ``(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1`` are quadratic on many unclosed "[" or "*")."""

from __future__ import annotations

import re

from .errors import DocumentError
from .front_matter import split_front_matter
from .metadata import MAX_SECTION_CHARS, clip_text
from .passages import Section

__all__ = [
    "markdown_heading",
    "parse_html",
    "parse_markdown",
    "parse_markdown_body",
    "parse_text",
    "strip_emphasis",
    "strip_links",
]

_EMPHASIS_MARKS = ("**", "__", "*", "`")  # tried in this order, as the regex's alternation
_EMPHASIS_OPEN = re.compile(r"(?:\*|__|`)(?=\S)")  # where a mark may open
_EMPHASIS_CLOSE = {mark: re.compile(rf"(?<=\S)(?={re.escape(mark)})") for mark in _EMPHASIS_MARKS}
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SENTENCE_END = (".", "!", "?", "…", ":", ";", ",", '"', "”", "’", "'", ")")


def markdown_heading(line: str) -> tuple[int, str] | None:
    """An ATX heading's (level, text) or None: what ``^(#{1,6})\\s+(.*?)\\s*#*\\s*$`` matches,
    in linear time (the closing run of "#" and the spaces around it are dropped)."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or level == len(line) or not line[level].isspace():
        return None
    return level, line[level:].strip().rstrip("#").rstrip()


def strip_links(text: str) -> str:
    """``[label](target)`` and ``![alt](src)`` replaced by their label, as
    ``re.sub(r"!?\\[([^\\]]*)\\]\\([^)]*\\)", r"\\1", text)`` does, in linear time.

    Every "[" before the same "]" shares that "]" (and every "]" before the same ")" shares that
    ")"), so each is looked for once instead of once per "["."""
    out: list[str] = []
    copied = start = 0
    close = paren = -1  # the first "]" after the current "[", the first ")" after its "("
    paren_from = -1  # where the search for ``paren`` started
    while (i := text.find("[", start)) != -1:
        if close < i:
            close = text.find("]", i + 1)
            if close == -1:
                break  # no "]" after this "[": no link starts here or later
        if not text.startswith("(", close + 1):
            start = close + 1  # every "[" up to ``close`` ends at this "]"
            continue
        if paren_from == -1 or (paren != -1 and paren < close + 2):
            paren_from = close + 2
            paren = text.find(")", paren_from)
        if paren == -1:
            break  # no ")" after this "](": no link completes here or later
        begin = i - 1 if i > copied and text[i - 1] == "!" else i
        out.append(text[copied:begin])
        out.append(text[i + 1 : close])
        copied = start = paren + 1
    out.append(text[copied:])
    return "".join(out)


def _strip_emphasis_line(line: str) -> str:
    # Per mark: (where the last search for a closing mark started, where it found one, -1 for
    # nowhere). Openers come left to right, so a search is reused until the opener passes the
    # close it found: every part of the line is searched at most once per mark.
    searched: dict[str, tuple[int, int]] = {}
    dead = {mark for mark in _EMPHASIS_MARKS if mark not in line}  # no close left

    def first_close(mark: str, start: int) -> int:
        since, at = searched.get(mark, (start + 1, -1))
        if since > start or (at != -1 and at < start):
            found = _EMPHASIS_CLOSE[mark].search(line, start)
            at = found.start() if found else -1
            searched[mark] = (start, at)
            if at == -1:
                dead.add(mark)
        return at

    out: list[str] = []
    copied = i = 0
    while (
        len(dead) < len(_EMPHASIS_MARKS) and (opener := _EMPHASIS_OPEN.search(line, i)) is not None
    ):
        i = opener.start()
        for mark in _EMPHASIS_MARKS:
            inner = i + len(mark)
            if not line.startswith(mark, i) or inner >= len(line) or line[inner].isspace():
                continue
            close = first_close(mark, inner + 1)
            if close != -1:
                out.append(line[copied:i])
                out.append(line[inner:close])
                copied = i = close + len(mark)
                break
        else:
            i += 1
    out.append(line[copied:])
    return "".join(out)


def strip_emphasis(text: str) -> str:
    """``**bold**``, ``__bold__``, ``*italic*`` and ```code``` replaced by their text, as
    ``re.sub(r"(\\*\\*|__|\\*|`)(?=\\S)(.+?)(?<=\\S)\\1", r"\\2", text)`` does, in
    linear time: an opening mark reuses the closing mark found for the one before it."""
    return "\n".join(_strip_emphasis_line(line) for line in text.split("\n"))


def _clean_inline(line: str) -> str:
    line = strip_links(line)
    line = strip_emphasis(line)
    return " ".join(line.split())


def _looks_like_heading(line: str, next_line: str | None) -> bool:
    """A plain-text heading: a short line with no closing punctuation, followed by more text."""
    words = line.split()
    return (
        next_line is not None
        and 1 <= len(words) <= 12
        and len(line) <= 90
        and not line.rstrip().endswith(_SENTENCE_END)
        and line[:1].isupper()
    )


def _sections_from_blocks(blocks: list[tuple[str, str]]) -> tuple[Section, ...]:
    """(kind, text) blocks, kind "h" or "p", into sections; empty sections are dropped."""
    sections: list[Section] = []
    heading, paragraphs = "", list[str]()
    for kind, text in blocks:
        if kind == "h":
            if paragraphs:
                sections.append(Section(heading, tuple(paragraphs)))
            heading, paragraphs = clip_text(text, MAX_SECTION_CHARS), []
        else:
            paragraphs.append(text)
    if paragraphs:
        sections.append(Section(heading, tuple(paragraphs)))
    return tuple(sections)


def parse_markdown_body(body: str) -> tuple[str, tuple[Section, ...]]:
    """Markdown to (first level-1 heading or "", sections); blank lines separate paragraphs."""
    blocks: list[tuple[str, str]] = []
    title = ""
    current: list[str] = []

    def flush() -> None:
        if current:
            text = _clean_inline(" ".join(current))
            if text:
                blocks.append(("p", text))
            current.clear()

    for raw in body.split("\n"):
        line = raw.strip()
        heading = markdown_heading(line)
        if heading:
            flush()
            level, text = heading[0], _clean_inline(heading[1])
            if level == 1 and not title and not blocks:
                title = text
            elif text:
                blocks.append(("h", text))
        elif not line:
            flush()
        elif _LIST_MARK.match(line):
            flush()
            current.append(_LIST_MARK.sub("", line))
        else:
            current.append(line)
    flush()
    return title, _sections_from_blocks(blocks)


def parse_markdown(text: str) -> tuple[dict[str, str], tuple[Section, ...]]:
    """A Markdown document with optional YAML front matter to (metadata, sections)."""
    meta, body = split_front_matter(text)
    title, sections = parse_markdown_body(body)
    if title and "title" not in meta:
        meta["title"] = title
    return meta, sections


def parse_text(text: str) -> tuple[dict[str, str], tuple[Section, ...]]:
    """Plain text: one paragraph per non-blank line; short unpunctuated lines are headings."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line]
    blocks: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else None
        is_heading = i > 0 and _looks_like_heading(line, following)
        blocks.append(("h" if is_heading else "p", line))
    return {}, _sections_from_blocks(blocks)


def parse_html(text: str) -> tuple[dict[str, str], tuple[Section, ...]]:
    """HTML: main text (no navigation, scripts, boilerplate) and metadata, via trafilatura."""
    import trafilatura

    # With include_formatting the text comes back as Markdown (headings kept as "#" lines).
    extracted = trafilatura.bare_extraction(text, with_metadata=True, include_formatting=True)
    body = str(getattr(extracted, "text", "") or "")
    if not body.strip():
        raise DocumentError("no main text could be extracted from the HTML")
    meta = {
        key: str(value)
        for key in ("title", "date", "url", "sitename", "author")
        if (value := getattr(extracted, key, None))
    }
    if "sitename" in meta:
        meta.setdefault("source", meta.pop("sitename"))
    body_title, sections = parse_markdown_body(body)
    if body_title:
        meta.setdefault("title", body_title)
    return meta, sections
