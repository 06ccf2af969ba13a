"""Stories out of outside files: web pages (trafilatura) and PDFs (pypdf) to Articles with
bounded metadata, and uploads checked and turned into what the corpus keeps. Pure decisions on
bytes and text; :func:`index.ingest.add_upload` runs :func:`prepare_upload` in a child process
with limits."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .documents import decode_text
from .errors import DocumentError
from .front_matter import front_matter_markdown
from .markup import parse_html, parse_markdown, parse_text
from .metadata import MAX_SOURCE_CHARS, MAX_TITLE_CHARS, capped_url, clip_text, normalize_date
from .passages import Section

if TYPE_CHECKING:
    from pypdf import PdfReader

__all__ = [
    "MAX_PDF_CHARS",
    "MAX_PDF_PAGES",
    "MIN_ARTICLE_WORDS",
    "UPLOAD_SUFFIXES",
    "Article",
    "article_from_html",
    "article_from_pdf",
    "article_to_markdown",
    "capped_article",
    "check_upload",
    "megabytes",
    "prepare_upload",
]

logger = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MIN_ARTICLE_WORDS = 40  # less main text than this is not a story (a login page, a video page)
MAX_PDF_PAGES = 500  # pages of a PDF that are read; the rest is left out, with a warning
MAX_PDF_CHARS = 1_000_000  # text kept from a PDF (a long report has a few hundred thousand)


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


def megabytes(size: int) -> str:
    """A size in MB (MiB, as the limits are set) for messages: "20 MB", "2.5 MB"."""
    value = f"{size / (1024 * 1024):.1f}".removesuffix(".0")
    return f"{value} MB"


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
    return front_matter_markdown(meta, article.text)


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


def _pdf_pages(reader: PdfReader, file_name: str) -> list[str]:
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
        info: Mapping[str, object] = reader.metadata or {}
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
