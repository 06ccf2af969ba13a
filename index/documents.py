"""Read corpus files (.txt, .md with front matter, .html) into Documents, skipping broken ones."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DocumentError
from .markup import parse_html, parse_markdown, parse_text
from .metadata import (
    MAX_DATE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    capped_url,
    clip_text,
    normalize_date,
)
from .passages import Document
from .settings import MAX_DOCUMENT_BYTES

__all__ = [
    "SUPPORTED_SUFFIXES",
    "CorpusScan",
    "decode_text",
    "file_fingerprint",
    "iter_corpus_files",
    "load_document",
    "scan_corpus",
]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")


@dataclass(frozen=True, slots=True)
class CorpusScan:
    """What a scan of the corpus folder found: readable documents, skipped files and why."""

    documents: tuple[Document, ...]
    skipped: tuple[tuple[str, str], ...]  # (relative path, reason)
    reused: tuple[str, ...] = ()  # files not read: the caller knows them unchanged (``reuse``)


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
