"""The corpus folder: safe file names, the atomic save that never overwrites, removal, and the
look-ups of a story already there (the same bytes, or the same URL in its front matter).
:func:`save_document` and :func:`remove_document` are the only functions that change the folder."""

from __future__ import annotations

import logging
import os
import re
import secrets
import unicodedata
from pathlib import Path

from .documents import SUPPORTED_SUFFIXES, file_fingerprint, iter_corpus_files
from .errors import DocumentError
from .front_matter import peek_front_matter

__all__ = [
    "find_document",
    "find_duplicate_file",
    "find_url",
    "remove_document",
    "resolve_document",
    "safe_filename",
    "save_document",
]

logger = logging.getLogger(__name__)

_MAX_NAME = 60


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
        if peek_front_matter(head).get("url", "").strip() == url:
            return doc_id
    return None
