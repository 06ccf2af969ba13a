"""Adding stories to the corpus and listing or removing them: extraction, checks, safe saving.

Shared by the command line (``storybot add|docs|remove``) and the Telegram bot; nothing here
knows about either. Decisions are small pure functions (file names, type checks, metadata to
front matter); :func:`save_document` and :func:`remove_document` are the only ones that touch
the corpus folder, and both do it atomically.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .documents import (
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    SUPPORTED_SUFFIXES,
    capped_url,
    clip_text,
    decode_text,
    file_fingerprint,
    iter_corpus_files,
    load_front_matter,
    normalize_date,
    parse_html,
    parse_markdown,
    parse_text,
)
from .errors import DocumentError
from .isolation import ReadLimits, run_isolated
from .passages import Section

if TYPE_CHECKING:
    from .store import IndexStore

__all__ = [
    "MAX_PDF_CHARS",
    "MAX_PDF_PAGES",
    "MIN_ARTICLE_WORDS",
    "UPLOAD_SUFFIXES",
    "Article",
    "DocumentInfo",
    "add_article",
    "add_upload",
    "article_from_html",
    "article_from_pdf",
    "article_to_markdown",
    "capped_article",
    "date_key",
    "find_document",
    "find_duplicate_file",
    "find_url",
    "indexed_documents",
    "latest_documents",
    "list_documents",
    "megabytes",
    "normalize_date",
    "prepare_upload",
    "remove_document",
    "resolve_document",
    "safe_filename",
    "save_document",
]

logger = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MIN_ARTICLE_WORDS = 40  # less main text than this is not a story (a login page, a video page)
MAX_PDF_PAGES = 500  # pages of a PDF that are read; the rest is left out, with a warning
MAX_PDF_CHARS = 1_000_000  # text kept from a PDF (a long report has a few hundred thousand)
_MAX_NAME = 60


@dataclass(frozen=True, slots=True)
class Article:
    """A story ready to be saved: its metadata and its text as Markdown."""

    title: str
    text: str  # Markdown body (paragraphs separated by blank lines, "## " headings)
    source: str = ""
    date: str = ""  # YYYY-MM-DD when known
    url: str = ""
    author: str = ""

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """One indexed document, as ``/docs`` and ``storybot docs`` list it."""

    doc_id: str
    title: str
    date: str
    source: str
    url: str
    passages: int
    duplicate_of: str = ""


# -- pure decisions -----------------------------------------------------------------------------


def megabytes(size: int) -> str:
    """A size in MB (MiB, as the limits are set) for messages: "20 MB", "2.5 MB"."""
    value = f"{size / (1024 * 1024):.1f}".removesuffix(".0")
    return f"{value} MB"


def date_key(value: str) -> str:
    """A sortable form of a document's date ("" when it has none): ISO dates sort as text."""
    return normalize_date(value)


def safe_filename(name: str, suffix: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A file name made of lower-case ASCII letters, digits and dashes, ending in ``suffix``,
    not in ``taken`` (names compared case-insensitively); never a path, never hidden."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:_MAX_NAME].rstrip("-")
    stem = stem or "document"
    lowered = {t.lower() for t in taken}
    candidate = f"{stem}{suffix}"
    n = 2
    while candidate.lower() in lowered:
        candidate = f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def capped_article(
    title: str,
    text: str,
    source: str = "",
    date: str = "",
    url: str = "",
    author: str = "",
    what: str = "a story",
) -> Article:
    """An Article whose metadata is within the limits every citation relies on: title, source
    and author cut to one short line, a date normalised, an over-long URL dropped."""
    return Article(
        title=clip_text(title, MAX_TITLE_CHARS),
        text=text,
        source=clip_text(source, MAX_SOURCE_CHARS),
        date=normalize_date(date),
        url=capped_url(url, what),
        author=clip_text(author, MAX_SOURCE_CHARS),
    )


def article_to_markdown(article: Article) -> str:
    """The corpus's Markdown form: YAML front matter (title, source, date, url, author), body."""
    meta = {
        key: clean
        for key, value in (
            ("title", article.title),
            ("source", article.source),
            ("date", article.date),
            ("url", article.url),
            ("author", article.author),
        )
        # One line each: YAML would fold a line break (even U+0085 or U+2028) into a space.
        if (clean := " ".join((value or "").split()))
    }
    head = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000).strip()
    return f"---\n{head}\n---\n\n{article.text.strip()}\n"


def _sections_to_markdown(sections: tuple[Section, ...]) -> str:
    blocks: list[str] = []
    for section in sections:
        if section.heading:
            blocks.append(f"## {section.heading}")
        blocks.extend(section.paragraphs)
    return "\n\n".join(blocks)


def _checked_words(sections: tuple[Section, ...], what: str) -> int:
    words = sum(len(p.split()) for s in sections for p in s.paragraphs)
    if words < MIN_ARTICLE_WORDS:
        raise DocumentError(
            f"{what} does not look like a news story: it has only {words} words of main text "
            f"(at least {MIN_ARTICLE_WORDS} are needed)."
        )
    return words


def article_from_html(html: str, url: str = "") -> Article:
    """The main text and metadata of a web page (trafilatura); DocumentError if there is no
    article on it (too little main text)."""
    try:
        meta, sections = parse_html(html)
    except DocumentError:
        raise DocumentError(
            "That page does not look like a news story: no main text could be found on it."
        ) from None
    _checked_words(sections, "That page")
    title = meta.get("title", "").strip()
    if not title:
        first = sections[0].paragraphs[0]
        title = " ".join(first.split()[:12])
    source = meta.get("source", "")
    if not source and url:
        source = re.sub(r"^www\.", "", url.split("//", 1)[-1].split("/", 1)[0])
    return capped_article(
        title=title,
        text=_sections_to_markdown(sections),
        source=source,
        date=meta.get("date", ""),
        url=url or meta.get("url", ""),
        author=meta.get("author", ""),
        what=url or "a web page",
    )


_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?")


def _pdf_pages(reader, file_name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The text of at most MAX_PDF_PAGES pages, MAX_PDF_CHARS characters in all."""
    pages: list[str] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        if number > MAX_PDF_PAGES:
            logger.warning("%s: only the first %d pages are read", file_name, MAX_PDF_PAGES)
            break
        text = page.extract_text() or ""
        if total + len(text) > MAX_PDF_CHARS:
            pages.append(text[: MAX_PDF_CHARS - total])
            logger.warning(
                "%s: only the first %d characters of text are kept", file_name, MAX_PDF_CHARS
            )
            break
        pages.append(text)
        total += len(text)
    return pages


def article_from_pdf(data: bytes, file_name: str) -> Article:
    """The text of a PDF (pypdf), one paragraph per block of lines; DocumentError when it is
    not a PDF, is encrypted, is damaged or trips one of pypdf's limits, or holds no text (a
    scan). At most MAX_PDF_PAGES pages and MAX_PDF_CHARS characters of text are read."""
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    if not data.startswith(b"%PDF-"):
        raise DocumentError(f"{file_name} is not a PDF file (it does not start with %PDF-).")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(f"{file_name} is password-protected; send an unlocked copy.")
        pages = _pdf_pages(reader, file_name)
        info = reader.metadata or {}
    except DocumentError:
        raise
    except LimitReachedError:
        raise DocumentError(
            f"{file_name} is built in a way that would take too much work to read (it goes "
            "over one of the PDF reader's safety limits)."
        ) from None
    except RecursionError:
        raise DocumentError(f"{file_name} is nested too deep to be read.") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        reason = clip_text(f"{type(exc).__name__}: {exc}", 200)
        raise DocumentError(
            f"{file_name} is a damaged PDF that cannot be read ({reason})."
        ) from None
    paragraphs = []
    for page in pages:
        for block in re.split(r"\n\s*\n", page):
            text = " ".join(block.split())
            if text:
                paragraphs.append(text)
    if not paragraphs:
        raise DocumentError(
            f"{file_name} has no text that can be read (is it a scan? send a PDF with text)."
        )
    sections = (Section("", tuple(paragraphs)),)
    _checked_words(sections, file_name)
    title = str(info.get("/Title") or "").strip() or Path(file_name).stem.replace("_", " ")
    date_match = _PDF_DATE.match(str(info.get("/CreationDate") or ""))
    date = "-".join(g for g in date_match.groups() if g) if date_match else ""
    return capped_article(
        title=title,
        text="\n\n".join(paragraphs),
        source=str(info.get("/Author") or "").strip(),
        date=date,
        what=file_name,
    )


def check_upload(file_name: str, data: bytes, max_bytes: int) -> str:
    """The upload's suffix once its type and size are acceptable; DocumentError saying why not."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DocumentError(
            f"I cannot add {suffix or 'files without an extension'}: send a .txt, .md, .html "
            f"or .pdf file."
        )
    if len(data) > max_bytes:
        raise DocumentError(
            f"{file_name} is {megabytes(len(data))}, over the {megabytes(max_bytes)} limit."
        )
    return suffix


def prepare_upload(file_name: str, data: bytes, max_bytes: int) -> tuple[str, bytes, str]:
    """Check an uploaded file and turn it into what is saved: (suffix, bytes, title).

    .txt and .md are kept as they are once they are readable text with something to index;
    .html and .pdf become Markdown with front matter (the extracted text and metadata).
    This parses outside data: :func:`add_upload` runs it in a child process with limits.
    """
    suffix = check_upload(file_name, data, max_bytes)
    if suffix == ".pdf":
        article = article_from_pdf(data, file_name)
        return ".md", article_to_markdown(article).encode(), article.title
    try:
        text = decode_text(data)
    except DocumentError as exc:
        raise DocumentError(f"{file_name} cannot be read: {exc}.") from None
    if suffix in (".html", ".htm"):
        article = article_from_html(text)
        return ".md", article_to_markdown(article).encode(), article.title
    try:
        meta, sections = (
            parse_markdown(text) if suffix in (".md", ".markdown") else parse_text(text)
        )
    except DocumentError as exc:
        raise DocumentError(f"{file_name} cannot be read: {exc}.") from None
    if not sections:
        raise DocumentError(f"{file_name} has no text to index.")
    title = clip_text(meta.get("title") or Path(file_name).stem, MAX_TITLE_CHARS)
    return suffix, data, title


# -- the corpus folder ----------------------------------------------------------------------------


def find_duplicate_file(corpus: Path, data: bytes) -> str | None:
    """The id of a corpus file with exactly these bytes, if there is one."""
    wanted = file_fingerprint(data)
    size = len(data)
    for path, doc_id in iter_corpus_files(corpus):
        try:
            if path.stat().st_size == size and file_fingerprint(path.read_bytes()) == wanted:
                return doc_id
        except OSError:
            continue
    return None


def save_document(corpus: Path, name: str, data: bytes) -> str:
    """Write a new file into the corpus atomically (temporary hidden file, then a rename that
    never overwrites); returns its document id. The name is made safe and unique here too."""
    corpus.mkdir(parents=True, exist_ok=True)
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"cannot save a {suffix or 'nameless'} file into the corpus")
    taken = {p.name for p in corpus.iterdir()}
    final_name = safe_filename(Path(name).stem, suffix, taken)
    tmp = corpus / f".incoming-{secrets.token_hex(4)}{suffix}"
    try:
        with tmp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        while True:
            target = corpus / final_name
            try:
                os.link(tmp, target)  # fails if the name was taken meanwhile: never overwrite
                break
            except FileExistsError:
                taken.add(final_name)
                final_name = safe_filename(Path(name).stem, suffix, taken)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("Saved %s (%d bytes) into the corpus", final_name, len(data))
    return final_name


def resolve_document(reference: str, doc_ids: list[str]) -> str:
    """The document an admin means: its id (path in the corpus), or its file name with or
    without the extension, when that names exactly one."""
    ref = reference.strip().strip("/")
    if not ref:
        raise DocumentError("Say which document, e.g. /remove my-story.md (/docs lists them).")
    if ref in doc_ids:
        return ref
    matches = [
        d
        for d in doc_ids
        if ref.lower() in (d.lower(), Path(d).name.lower(), Path(d).stem.lower())
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DocumentError(f"{ref!r} names several documents: {', '.join(matches)}.")
    raise DocumentError(f"There is no document {ref!r} in the corpus (/docs lists them).")


def find_document(corpus: Path, reference: str) -> str:
    """The id of the corpus document that ``reference`` names (see :func:`resolve_document`)."""
    return resolve_document(reference, [d for _, d in iter_corpus_files(corpus)])


def remove_document(corpus: Path, doc_id: str) -> None:
    """Delete a document's file from the corpus (a link is removed, not what it points to)."""
    path = corpus / doc_id
    if (
        ".." in Path(doc_id).parts
        or Path(doc_id).is_absolute()
        or not path.parent.resolve().is_relative_to(corpus.resolve())
    ):
        raise DocumentError(f"{doc_id!r} is not a document of the corpus.")
    try:
        path.unlink()
    except FileNotFoundError:
        raise DocumentError(f"There is no document {doc_id!r} in the corpus.") from None
    except OSError as exc:
        raise DocumentError(f"{doc_id} cannot be removed: {exc.strerror or exc}.") from None
    logger.info("Removed %s from the corpus", doc_id)


# -- listings -------------------------------------------------------------------------------------


def list_documents(
    documents: dict[str, dict[str, str]], passage_doc_ids: Iterable[str] | None = None
) -> list[DocumentInfo]:
    """Every indexed document with its passage count, in corpus order: the count the build
    recorded (``passages``), or the one counted from ``passage_doc_ids`` when it is given."""
    counts: dict[str, int] = {}
    if passage_doc_ids is None:
        counts = {d: int(meta.get("passages", 0)) for d, meta in documents.items()}
    else:
        for doc_id in passage_doc_ids:
            counts[doc_id] = counts.get(doc_id, 0) + 1
    return [
        DocumentInfo(
            doc_id=doc_id,
            title=meta.get("title", doc_id),
            date=meta.get("date", ""),
            source=meta.get("source", ""),
            url=meta.get("url", ""),
            passages=counts.get(doc_id, 0),
            duplicate_of=meta.get("duplicate_of", ""),
        )
        for doc_id, meta in documents.items()
    ]


def indexed_documents(store: IndexStore) -> list[DocumentInfo]:
    """The documents of an index with their passage counts, without reading its passages (an
    index written before the build recorded the counts has its passages counted)."""
    documents = store.documents
    if all("passages" in meta for meta in documents.values()):
        return list_documents(documents)
    return list_documents(documents, (p.doc_id for p in store.passages))


def latest_documents(infos: list[DocumentInfo], limit: int) -> list[DocumentInfo]:
    """The newest dated documents first (undated ones are left out)."""
    dated = [d for d in infos if date_key(d.date)]
    return sorted(dated, key=lambda d: (date_key(d.date), d.doc_id), reverse=True)[:limit]


# -- adding -------------------------------------------------------------------------------------


def find_url(corpus: Path, url: str) -> str | None:
    """The id of a Markdown document whose front matter has this url, if there is one."""
    for path, doc_id in iter_corpus_files(corpus):
        if path.suffix.lower() not in (".md", ".markdown"):
            continue
        try:
            with path.open("rb") as handle:
                head = handle.read(4096).decode("utf-8", errors="ignore")
        except OSError:
            continue
        if not head.startswith("---\n"):
            continue
        front = head[4 : head.find("\n---", 4)] if "\n---" in head[4:] else ""
        try:
            meta = load_front_matter(front)
        except DocumentError:
            continue
        if meta.get("url", "").strip() == url:
            return doc_id
    return None


def add_article(corpus: Path, article: Article) -> str:
    """Save an extracted story into the corpus as Markdown; refuses one already there."""
    if article.url and (known := find_url(corpus, article.url)):
        raise DocumentError(f"That story is already in the corpus as {known}.")
    data = article_to_markdown(article).encode()
    if known := find_duplicate_file(corpus, data):
        raise DocumentError(f"That story is already in the corpus as {known}.")
    return save_document(corpus, f"{article.title}.md", data)


def add_upload(
    corpus: Path,
    file_name: str,
    data: bytes,
    max_bytes: int,
    limits: ReadLimits | None = None,
) -> tuple[str, str]:
    """Check and save an uploaded file; returns (document id, title). The file is read in a
    child process under ``limits`` (blocking: call it from a worker thread)."""
    check_upload(file_name, data, max_bytes)  # refused here without starting a reader
    suffix, content, title = run_isolated(
        prepare_upload, file_name, data, max_bytes, limits=limits
    )
    if known := find_duplicate_file(corpus, content):
        raise DocumentError(f"{file_name} is already in the corpus as {known}.")
    kept_as_is = Path(file_name).suffix.lower() in (".txt", ".md", ".markdown")
    stem = Path(file_name).stem if kept_as_is else title
    return save_document(corpus, f"{stem}{suffix}", content), title
