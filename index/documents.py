"""Read corpus files (.txt, .md with front matter, .html) into Documents, skipping broken ones."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import DocumentError
from .passages import Document, Section
from .settings import MAX_DOCUMENT_BYTES

__all__ = [
    "MAX_DATE_CHARS",
    "MAX_FRONT_MATTER_CHARS",
    "MAX_SECTION_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_TITLE_CHARS",
    "MAX_URL_CHARS",
    "SUPPORTED_SUFFIXES",
    "CorpusScan",
    "capped_url",
    "clip_text",
    "load_document",
    "load_front_matter",
    "parse_html",
    "parse_markdown",
    "parse_text",
    "scan_corpus",
]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")

# Metadata is shown in every citation: a longer value is cut (a URL is dropped) where it is read.
MAX_TITLE_CHARS = 300
MAX_SECTION_CHARS = 200
MAX_SOURCE_CHARS = 200
MAX_DATE_CHARS = 40
MAX_URL_CHARS = 2048
MAX_FRONT_MATTER_CHARS = 64 * 1024  # a story's front matter is a few lines

# Every pattern run on a document's text is linear in its length. Headings, links and emphasis
# are found by the small scanners below instead of the obvious regexes, which backtrack
# (``^(#{1,6})\s+(.*?)\s*#*\s*$`` is cubic on "# a" + spaces + "b"; ``!?\[([^\]]*)\]\([^)]*\)``
# and ``(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1`` are quadratic on many unclosed "[" or "*").
_EMPHASIS_MARKS = ("**", "__", "*", "`")  # tried in this order, as the regex's alternation
_EMPHASIS_OPEN = re.compile(r"(?:\*|__|`)(?=\S)")  # where a mark may open
_EMPHASIS_CLOSE = {mark: re.compile(rf"(?<=\S)(?={re.escape(mark)})") for mark in _EMPHASIS_MARKS}
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_DATE = re.compile(r"^\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:$|[T\s])")
_SENTENCE_END = (".", "!", "?", "…", ":", ";", ",", '"', "”", "’", "'", ")")


@dataclass(frozen=True, slots=True)
class CorpusScan:
    """What a scan of the corpus folder found: readable documents, skipped files and why."""

    documents: tuple[Document, ...]
    skipped: tuple[tuple[str, str], ...]  # (relative path, reason)
    reused: tuple[str, ...] = ()  # files not read: the caller knows them unchanged (``reuse``)


def clip_text(value: object, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters (a longer one ends with "…")."""
    text = " ".join(str(value or "").split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def capped_url(value: object, what: str = "a document") -> str:
    """A URL as read, or "" (with a warning) when it is over MAX_URL_CHARS: a cut URL would lead
    somewhere else, and no real page has such an address."""
    url = str(value or "").strip()
    if len(url) > MAX_URL_CHARS:
        logger.warning(
            "Dropping the URL of %s: %d characters, over the limit of %d",
            what,
            len(url),
            MAX_URL_CHARS,
        )
        return ""
    return url


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases: a few hundred bytes of nested aliases expand to
    gigabytes ("billion laughs"), and a story's metadata never needs them."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def load_front_matter(text: str) -> dict[str, str]:
    """YAML front matter to a mapping of strings; DocumentError when it is too long, not YAML,
    uses anchors or aliases, nests too deep, or is not a mapping."""
    if len(text) > MAX_FRONT_MATTER_CHARS:
        raise DocumentError(
            f"the front matter is {len(text):,} characters long, over the limit of "
            f"{MAX_FRONT_MATTER_CHARS:,}"
        )
    try:
        loaded = yaml.load(text, Loader=_FrontMatterLoader) or {}  # a SafeLoader
    except yaml.YAMLError as exc:
        raise DocumentError(f"the front matter is not valid YAML: {exc}") from None
    except RecursionError:
        raise DocumentError("the front matter is nested too deep") from None
    except (ValueError, OverflowError) as exc:  # a date like 2024-13-45, a 5,000-digit number
        reason = clip_text(f"{type(exc).__name__}: {exc}", 200)
        raise DocumentError(
            f"the front matter holds a value that cannot be read ({reason})"
        ) from None
    if not isinstance(loaded, dict):
        raise DocumentError("the front matter must be a mapping of keys to values")
    return {str(k): "" if v is None else str(v) for k, v in loaded.items()}


def normalize_date(value: object) -> str:
    """A date as YYYY-MM-DD (or YYYY-MM, YYYY when that is all there is); "" if unreadable."""
    match = _DATE.match(str(value or ""))
    if not match:
        return ""
    year, month, day = match.groups()
    if month and not 1 <= int(month) <= 12:
        return ""
    if day and not 1 <= int(day) <= 31:
        return ""
    parts = [year] + [f"{int(p):02d}" for p in (month, day) if p]
    return "-".join(parts)


def file_fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_text(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM) only; binary data is refused."""
    if not data.strip():
        raise DocumentError("the file is empty")
    if b"\x00" in data[:8192]:
        raise DocumentError("the file looks binary (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"the file is not valid UTF-8 (bad byte at offset {exc.start})"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\t\f")
    if controls > max(8, len(text) // 100):
        raise DocumentError("the file looks binary (too many control characters), not text")
    return text


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
    heading, paragraphs = "", []
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
    meta: dict[str, str] = {}
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end == -1:
            raise DocumentError("the front matter opened with '---' is never closed")
        meta = load_front_matter(text[4:end])
        text = text[end + 4 :].split("\n", 1)[1] if "\n" in text[end + 4 :] else ""
    title, sections = parse_markdown_body(text)
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
    if extracted is None or not (getattr(extracted, "text", "") or "").strip():
        raise DocumentError("no main text could be extracted from the HTML")
    meta = {
        key: str(value)
        for key in ("title", "date", "url", "sitename", "author")
        if (value := getattr(extracted, key, None))
    }
    if "sitename" in meta:
        meta.setdefault("source", meta.pop("sitename"))
    body_title, sections = parse_markdown_body(extracted.text)
    if body_title:
        meta.setdefault("title", body_title)
    return meta, sections


def _title_from_path(path: Path) -> str:
    stem = re.sub(r"[_\-]+", " ", path.stem).strip()
    return stem[:1].upper() + stem[1:] if stem else path.name


def load_document(path: Path, doc_id: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    """Read one file into a Document; raises DocumentError saying what is wrong with it."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"unsupported file type {suffix or '(none)'}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"the file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"the file cannot be read: {exc.strerror or exc}") from None
    text = decode_text(data)
    if suffix in (".md", ".markdown"):
        meta, sections = parse_markdown(text)
    elif suffix in (".html", ".htm"):
        meta, sections = parse_html(text)
    else:
        meta, sections = parse_text(text)
    if not sections:
        raise DocumentError("the file has no text to index")
    date = meta.get("date", "")
    return Document(
        doc_id=doc_id,
        title=clip_text(meta.get("title") or _title_from_path(path), MAX_TITLE_CHARS),
        sections=sections,
        source=clip_text(meta.get("source", ""), MAX_SOURCE_CHARS),
        date=normalize_date(date) or clip_text(date, MAX_DATE_CHARS),
        url=capped_url(meta.get("url", ""), doc_id),
        fingerprint=file_fingerprint(data),
    )


def iter_corpus_files(corpus: Path) -> Iterator[tuple[Path, str]]:
    """Files under ``corpus`` (sorted, hidden ones skipped) with their ids, symlinks included."""
    for path in sorted(corpus.rglob("*")):
        rel = path.relative_to(corpus)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() in SUPPORTED_SUFFIXES:
            yield path, rel.as_posix()


def scan_corpus(
    corpus: Path, max_bytes: int = MAX_DOCUMENT_BYTES, reuse: Container[str] = frozenset()
) -> CorpusScan:
    """Load every supported file of ``corpus``; a file that fails is skipped with a warning.

    Files whose id is in ``reuse`` (unchanged since the previous index) are not read, only
    listed in ``reused``."""
    if not corpus.is_dir():
        raise DocumentError(f"the corpus folder {corpus} does not exist")
    root = corpus.resolve()
    documents: list[Document] = []
    skipped: list[tuple[str, str]] = []
    reused: list[str] = []
    for path, doc_id in iter_corpus_files(corpus):
        try:
            if not path.resolve().is_relative_to(root):
                raise DocumentError("it is a link to a file outside the corpus folder")
            if doc_id in reuse:
                reused.append(doc_id)
                continue
            documents.append(load_document(path, doc_id, max_bytes))
        except DocumentError as exc:
            logger.warning("Skipping %s: %s", doc_id, exc)
            skipped.append((doc_id, str(exc)))
        except Exception as exc:  # a reader crashing on one file must not stop the others
            logger.warning("Skipping %s: reading it failed", doc_id, exc_info=True)
            skipped.append((doc_id, f"reading it failed ({type(exc).__name__}: {exc})"))
    return CorpusScan(tuple(documents), tuple(skipped), tuple(reused))
