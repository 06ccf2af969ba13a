"""corpus/ -> saved index, incrementally: only passages not already in the index are embedded."""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from .build_report import BuildReport, ProgressFn
from .build_vectors import build_vectors
from .chunking import chunk_document
from .documents import file_fingerprint, iter_corpus_files, scan_corpus
from .duplicates import find_duplicates
from .embedder import Embedder
from .errors import DocumentError, IndexUnavailableError
from .generations import build_lock
from .language import text_language
from .lexicon import Lexicon
from .metadata import normalize_date
from .passage_blocks import reuse_dictionary
from .passages import Document, Passage
from .settings import BuildSettings
from .store import GenerationContents, IndexStore, write_generation
from .terms import LexiconParts

__all__ = ["build_index", "index_documents"]

logger = logging.getLogger(__name__)


def _corpus_fingerprint(fingerprints: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for doc_id in sorted(fingerprints):
        digest.update(f"{doc_id}\x1f{fingerprints[doc_id]}\n".encode())
    return digest.hexdigest()


def _quick_fingerprints(corpus: Path, max_bytes: int) -> dict[str, str] | None:
    """File hashes without parsing; None when any file cannot be hashed (then parse everything)."""
    result = {}
    try:
        for path, doc_id in iter_corpus_files(corpus):
            if path.stat().st_size > max_bytes:
                return None
            result[doc_id] = file_fingerprint(path.read_bytes())
    except OSError:
        return None
    return result


def _unchanged_files(quick: dict[str, str] | None, previous: IndexStore | None) -> set[str]:
    """Files whose bytes are those ``previous`` indexed: their passages and vectors are reused
    as they are, without parsing or chunking the file again."""
    if quick is None or previous is None:
        return set()
    old = previous.documents
    return {d for d, fp in quick.items() if d in old and old[d].get("fingerprint") == fp}


def _load_previous(folder: Path, model: str) -> IndexStore | None:
    if not IndexStore.exists(folder):
        return None
    try:
        return IndexStore.load(folder, model)
    except IndexUnavailableError as exc:
        logger.warning("Previous index not reused: %s", exc)
        return None


def build_index(
    corpus: Path,
    folder: Path,
    model: str,
    load_embedder: Callable[[], Embedder],
    settings: BuildSettings | None = None,
    progress: ProgressFn | None = None,
) -> BuildReport:
    """Bring the index in ``folder`` up to date with ``corpus``; returns what changed.

    Holds the folder's build lock, so a second build at the same time fails with
    ReindexInProgressError. The index is swapped in only once it is completely written.
    """
    settings = settings or BuildSettings()
    started = time.perf_counter()
    report = BuildReport()
    with build_lock(folder):
        previous = _load_previous(folder, model)
        settings_key = settings.fingerprint(model)
        reusable = previous is not None and previous.manifest.settings_fingerprint == settings_key

        quick = _quick_fingerprints(corpus, settings.max_document_bytes)
        if (
            reusable
            and quick is not None
            and previous is not None
            and previous.manifest.corpus_fingerprint == _corpus_fingerprint(quick)
            and previous.manifest.languages is not None
        ):
            report.unchanged = True
            report.documents = previous.manifest.document_count
            report.passages = previous.manifest.passage_count
            report.seconds = time.perf_counter() - started
            return report

        if progress:
            progress("reading", 0, 1)
        reuse = _unchanged_files(quick, previous) if reusable else set()
        scan = scan_corpus(corpus, settings.max_document_bytes, reuse)
        report = index_documents(
            scan.documents,
            folder,
            model,
            load_embedder,
            settings,
            progress,
            skipped=scan.skipped,
            reused=scan.reused,
            previous=previous if reusable else None,
        )
    report.seconds = time.perf_counter() - started
    logger.info("Reindex done: %s", report.summary())
    return report


def index_documents(
    documents: Sequence[Document],
    folder: Path,
    model: str,
    load_embedder: Callable[[], Embedder],
    settings: BuildSettings | None = None,
    progress: ProgressFn | None = None,
    *,
    skipped: Sequence[tuple[str, str]] = (),
    reused: Sequence[str] = (),
    previous: IndexStore | None = None,
) -> BuildReport:
    """Chunk, embed (reusing ``previous``'s vectors for unchanged passages) and write an index.

    The caller holds the build lock. ``skipped`` documents that ``previous`` has keep their old
    passages, so a file that became unreadable is not lost from the index. ``reused`` documents
    (files unchanged since ``previous``, not read again) keep their passages and metadata.
    """
    settings = settings or BuildSettings()
    started = time.perf_counter()
    report = BuildReport()
    old_docs: dict[str, dict[str, str]] = previous.documents if previous else {}
    # the previous passages, decompressed once
    old_passages: list[Passage] = list(previous.passages) if previous is not None else []
    reused_ids = {d for d in reused if d in old_docs}
    passages = _passages(
        documents, settings, progress, skipped, reused_ids, old_docs, old_passages, report
    )
    new_docs = _document_table(documents, passages, old_docs, reused_ids, settings, report)
    # A passage is reused when its id (document, section, sentences) and its title are the
    # same: the model and BM25 read the title too, and a title-only edit keeps the ids.
    titles = {p.passage_id: p.title for p in passages}
    old_rows = {
        p.passage_id: row
        for row, p in enumerate(old_passages)
        if titles.get(p.passage_id) == p.title
    }
    passage_vectors, sentence_vectors = build_vectors(
        passages, previous, old_rows, load_embedder, report, progress
    )
    _write(
        folder,
        model,
        passages,
        (passage_vectors, sentence_vectors),
        _lexicon(passages, previous, old_rows),
        new_docs,
        settings,
        previous,
        progress,
    )
    report.documents = len(new_docs)
    report.passages = len(passages)
    report.seconds = time.perf_counter() - started
    return report


def _write(
    folder: Path,
    model: str,
    passages: Sequence[Passage],
    vectors: tuple[np.ndarray, list[np.ndarray]],
    lexicon: Lexicon,
    documents: dict[str, dict[str, str]],
    settings: BuildSettings,
    previous: IndexStore | None,
    progress: ProgressFn | None,
) -> None:
    """Write the new generation (vectors, keyword index, passages, manifest) and swap it in."""
    passage_vectors, sentence_vectors = vectors
    if progress:
        progress("writing", 0, 1)
    offsets = np.zeros(len(passages) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(v) for v in sentence_vectors])
    contents = GenerationContents(
        model=model,
        passages=passages,
        passage_vectors=passage_vectors,
        sentence_vectors=np.concatenate(sentence_vectors),
        offsets=offsets,
        lexicon=lexicon,
        documents=documents,
        languages=corpus_languages(documents),
        corpus_fingerprint=_corpus_fingerprint(
            {doc_id: meta["fingerprint"] for doc_id, meta in documents.items()}
        ),
        settings_fingerprint=settings.fingerprint(model),
        passage_dictionary=(
            previous.passage_dictionary()
            if previous is not None and reuse_dictionary(len(previous), len(passages))
            else None
        ),
    )
    write_generation(folder, contents, settings.ann())
    if progress:
        progress("writing", 1, 1)


def _passages(
    documents: Sequence[Document],
    settings: BuildSettings,
    progress: ProgressFn | None,
    skipped: Sequence[tuple[str, str]],
    reused_ids: set[str],
    old_docs: dict[str, dict[str, str]],
    old_passages: list[Passage],
    report: BuildReport,
) -> list[Passage]:
    """The new index's passages: the documents read now, chunked; those of ``reused_ids`` as
    the previous index has them; and those of skipped files the previous index had (noted in
    ``report``). In corpus order, then the kept previous ones."""
    carried: list[Passage] = []
    for doc_id, reason in skipped:
        report.skipped.append((doc_id, reason))
        if doc_id in old_docs:
            report.kept_previous.append(doc_id)
            carried.extend(p for p in old_passages if p.doc_id == doc_id)
    by_doc: dict[str, list[Passage]] = {d: [] for d in reused_ids}
    if reused_ids:
        for passage in old_passages:
            if passage.doc_id in reused_ids:
                by_doc[passage.doc_id].append(passage)
    for i, document in enumerate(documents):
        by_doc[document.doc_id] = chunk_document(
            document, settings.max_words, settings.overlap, settings.min_words
        )
        if progress:
            progress("reading", i + 1, len(documents))
    # in corpus order (as iter_corpus_files lists the files), then the kept previous ones
    order = sorted(by_doc, key=PurePosixPath) if reused_ids else list(by_doc)
    passages = [p for doc_id in order for p in by_doc[doc_id]]
    passages.extend(carried)
    if not passages:
        raise DocumentError("No readable documents: nothing to index.")
    return passages


def _document_table(
    documents: Sequence[Document],
    passages: Sequence[Passage],
    old_docs: dict[str, dict[str, str]],
    reused_ids: set[str],
    settings: BuildSettings,
    report: BuildReport,
) -> dict[str, dict[str, str]]:
    """The manifest's documents with their passage counts and near-duplicates; what was added,
    removed and changed goes into ``report``."""
    new_docs = {d.doc_id: _document_meta(d) for d in documents}
    new_docs.update({d: dict(old_docs[d]) for d in reused_ids})
    new_docs.update({d: dict(old_docs[d]) for d in report.kept_previous})
    # Passage counts are recorded, so listing the documents never reads every passage.
    counts = collections.Counter(p.doc_id for p in passages)
    for doc_id, meta in new_docs.items():
        meta["passages"] = str(counts[doc_id])
    _tell_missing_languages(new_docs, passages)
    for duplicate in find_duplicates(
        [(d.doc_id, normalize_date(d.date), d.text) for d in documents], settings.duplicate_overlap
    ):
        new_docs[duplicate.doc_id]["duplicate_of"] = duplicate.original
        report.duplicates.append((duplicate.doc_id, duplicate.original, duplicate.similarity))
        logger.warning(
            "Near-duplicate: %s repeats %s (%.0f%%)",
            duplicate.doc_id,
            duplicate.original,
            100 * duplicate.similarity,
        )
    report.added = sorted(set(new_docs) - set(old_docs))
    report.removed = sorted(set(old_docs) - set(new_docs))
    report.changed = sorted(
        d
        for d in set(new_docs) & set(old_docs)
        if new_docs[d]["fingerprint"] != old_docs[d]["fingerprint"]
    )
    return new_docs


def _lexicon(
    passages: Sequence[Passage],
    previous: IndexStore | None,
    old_rows: dict[str, int],
) -> Lexicon:
    """The keyword index; a passage the previous index holds (``old_rows``: same id, so same
    section and sentences, and same title) keeps its term ids there, so only new text is
    tokenised."""
    if previous is None:
        return Lexicon.build(LexiconParts.from_passages(passages).ranked())
    same = [old_rows.get(passage.passage_id) for passage in passages]
    return Lexicon.build(LexiconParts.from_passages(passages, (previous.lexicon, same)))


def _document_meta(document: Document) -> dict[str, str]:
    return {
        "title": document.title,
        "source": document.source,
        "date": document.date,
        "url": document.url,
        "fingerprint": document.fingerprint,
        "language": text_language(document.text) or "",
    }


def _tell_missing_languages(
    documents: dict[str, dict[str, str]], passages: Sequence[Passage]
) -> None:
    """The language of documents kept from an index written before languages were recorded,
    told from their passages."""
    missing = {doc_id for doc_id, meta in documents.items() if "language" not in meta}
    if not missing:
        return
    texts: dict[str, list[str]] = {doc_id: [] for doc_id in missing}
    for passage in passages:
        if passage.doc_id in texts:
            texts[passage.doc_id].append(passage.text)
    for doc_id, parts in texts.items():
        documents[doc_id]["language"] = text_language("\n\n".join(parts)) or ""


def corpus_languages(documents: dict[str, dict[str, str]]) -> list[str]:
    """The languages the documents are told to be in, sorted (unsure ones left out)."""
    return sorted({meta["language"] for meta in documents.values() if meta.get("language")})
