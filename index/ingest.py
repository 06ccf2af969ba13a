"""Adding stories to the corpus: an extracted article, or an uploaded file read in a child
process with limits; each refused when the corpus holds it already.

Shared by the command line (``storybot add``) and the Telegram bot; nothing here knows about
either. Extraction is in ``extraction``, the corpus folder in ``corpus_files``, listings in
``listing``.
"""

from __future__ import annotations

from pathlib import Path

from .corpus_files import find_duplicate_file, find_url, save_document
from .errors import DocumentError
from .extraction import Article, article_to_markdown, check_upload, prepare_upload
from .isolation import ReadLimits, run_isolated

__all__ = ["add_article", "add_upload"]


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
