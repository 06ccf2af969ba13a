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

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "CorpusScan",
    "load_document",
    "parse_html",
    "parse_markdown",
    "parse_text",
    "scan_corpus",
]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_DATE = re.compile(r"^\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:$|[T\s])")
_SENTENCE_END = (".", "!", "?", "…", ":", ";", ",", '"', "”", "’", "'", ")")


@dataclass(frozen=True, slots=True)
class CorpusScan:
    """What a scan of the corpus folder found: readable documents, skipped files and why."""

    documents: tuple[Document, ...]
    skipped: tuple[tuple[str, str], ...]  # (relative path, reason)
    reused: tuple[str, ...] = ()  # files not read: the caller knows them unchanged (``reuse``)


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


def _clean_inline(line: str) -> str:
    line = _LINK.sub(r"\1", line)
    line = _EMPHASIS.sub(r"\2", line)
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
            heading, paragraphs = text, []
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
        match = _HEADING.match(line)
        if match:
            flush()
            text = _clean_inline(match.group(2))
            if len(match.group(1)) == 1 and not title and not blocks:
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
        try:
            loaded = yaml.safe_load(text[4:end]) or {}
        except yaml.YAMLError as exc:
            raise DocumentError(f"the front matter is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise DocumentError("the front matter must be a mapping of keys to values")
        meta = {str(k): "" if v is None else str(v) for k, v in loaded.items()}
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
    return Document(
        doc_id=doc_id,
        title=meta.get("title") or _title_from_path(path),
        sections=sections,
        source=meta.get("source", ""),
        date=normalize_date(meta.get("date", "")) or meta.get("date", ""),
        url=meta.get("url", ""),
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
