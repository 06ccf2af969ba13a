"""The saved index: one generation's vectors, sentence vectors, keyword index and passages,
written in one piece and loaded read-only.

Files of a generation (each written and read by the module named)::

    manifest.json       model, dimension, counts, fingerprints, build time, every file's size and
                        checksum (index/manifest.py)
    passages.zst        the passages in zstd blocks; passage_blocks.npy, passages.dict
                        (index/passage_blocks.py); a passage's row is its FAISS id
    documents.json.zst  per document: title, source, date, url, file fingerprint (read the first
                        time something asks for it)
    dense.faiss         passage vectors, exact or HNSW, and dense_rescore.npy, their float16
                        copies behind an approximate index (index/vector_index.py; when each is
                        used: index/ann.py)
    sentences.npy       one vector per sentence, int8, with sentence_scale.npy; or sentences.pq
                        and sentence_codes.npy (index/sentence_codec.py)
    offsets.npy         passage i owns sentence rows offsets[i]..offsets[i+1]
    lexicon/            the keyword index (index/lexicon.py)

Generations sit side by side under the index folder, CURRENT naming the one in use
(index/generations.py). Everything large is memory-mapped or read on demand, so start-up and
resident memory stay small with a million passages.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import zstandard

from .ann import AnnSettings
from .errors import IndexOutdatedError, IndexUnavailableError
from .generations import (
    current_generation,
    discard_generation,
    publish_generation,
    remove_other_generations,
    start_generation,
)
from .lexicon import Lexicon
from .manifest import REBUILD, Manifest, damaged, file_entries, read_manifest, verify_files
from .passage_blocks import PASSAGE_BLOCK, ZSTD_LEVEL, PassageList, write_passages
from .passages import Passage
from .sentence_codec import SentenceVectors, read_sentence_vectors, write_sentence_vectors
from .vector_index import (
    make_faiss_index,
    nearest,
    read_vector_index,
    stored_vectors,
    write_vectors,
)

__all__ = ["GenerationContents", "IndexStore", "write_generation", "write_generation_with_index"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GenerationContents:
    """What one index generation holds, as a build hands it to be written."""

    model: str  # the embedding id of the vectors
    passages: Sequence[Passage]
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    offsets: np.ndarray  # passage i's sentences are rows offsets[i]:offsets[i + 1]
    lexicon: Lexicon
    documents: dict[str, dict[str, str]]
    corpus_fingerprint: str
    settings_fingerprint: str
    # The zstd dictionary to compress the passages with (a reindex passes the previous one);
    # None: one is trained.
    passage_dictionary: bytes | None = None
    # The languages the documents are written in, sorted (None: not told).
    languages: list[str] | None = None


def write_generation(folder: Path, contents: GenerationContents, ann: AnnSettings) -> Manifest:
    """Write a complete new generation, then switch CURRENT to it and delete older ones.

    ``ann`` sets when and how the index turns approximate. The FAISS index is built here from
    the passage vectors (``write_generation_with_index`` takes one built before).
    """
    _check_lexicon(contents)
    return write_generation_with_index(
        folder, contents, make_faiss_index(contents.passage_vectors, ann), ann
    )


def write_generation_with_index(
    folder: Path, contents: GenerationContents, dense_index: faiss.Index, ann: AnnSettings
) -> Manifest:
    """``write_generation`` with ``dense_index``, the FAISS index of the passage vectors built
    before (``make_faiss_index``; the scale benchmark reads one it saved)."""
    c = contents
    partial = start_generation(folder)
    try:
        _check_lexicon(c)
        write_passages(partial, c.passages, dictionary=c.passage_dictionary)
        _write_documents(partial, c.documents)
        write_vectors(partial, dense_index, c.passage_vectors, ann)
        sentence_codec = write_sentence_vectors(
            partial,
            c.sentence_vectors,
            compact=ann.compact_sentences(len(c.passages), len(c.sentence_vectors)),
            code_bytes=ann.sentence_pq_bytes,
        )
        np.save(partial / "offsets.npy", c.offsets.astype(np.int64))
        c.lexicon.save(partial / "lexicon")
        manifest = Manifest(
            model=c.model,
            dimension=int(c.passage_vectors.shape[1]),
            passage_count=len(c.passages),
            sentence_count=len(c.sentence_vectors),
            document_count=len(c.documents),
            corpus_fingerprint=c.corpus_fingerprint,
            settings_fingerprint=c.settings_fingerprint,
            built_at=time.time(),
            faiss_type=type(dense_index).__name__,
            files=file_entries(partial),
            sentence_codec=sentence_codec,
            passage_block=PASSAGE_BLOCK,
            languages=c.languages,
        )
        manifest.write(partial)
        name = publish_generation(folder, partial)
    except BaseException:
        discard_generation(partial)
        raise
    remove_other_generations(folder, keep=name)
    logger.info("Index generation %s written: %d passages", name, len(c.passages))
    return manifest


def _check_lexicon(contents: GenerationContents) -> None:
    lexicon = contents.lexicon
    if lexicon.size != len(contents.passages) or lexicon.sentence_count != int(
        contents.offsets[-1]
    ):
        raise ValueError("the keyword index was built from other passages")


def _write_documents(folder: Path, documents: dict[str, dict[str, str]]) -> None:
    (folder / "documents.json.zst").write_bytes(
        zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(
            json.dumps(documents, ensure_ascii=False, separators=(",", ":")).encode()
        )
    )


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a generation's files hold, read (or memory-mapped) but not yet checked."""

    passages: PassageList
    dense: faiss.Index
    rescore: np.ndarray | None
    sentence_vectors: SentenceVectors
    offsets: np.ndarray
    lexicon: Lexicon


class IndexStore:
    """A loaded generation: search structures and passages, read-only and safe to share."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        passages: Sequence[Passage],
        dense: faiss.Index,
        sentence_vectors: SentenceVectors,
        offsets: np.ndarray,
        lexicon: Lexicon,
        documents: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.passages = passages
        self.dense = dense
        self.sentence_vectors = sentence_vectors
        self.offsets = offsets
        self.lexicon = lexicon
        self._documents = documents
        self.rescore: np.ndarray | None = None  # float16 vectors behind an approximate index
        self._row_languages: dict[int, str | None] = {}  # filled by passage_languages

    def __len__(self) -> int:
        return len(self.passages)

    def passage_dictionary(self) -> bytes:
        """The zstd dictionary this generation's passages are compressed with (b"" if none)."""
        return (self.folder / "passages.dict").read_bytes()

    @property
    def documents(self) -> dict[str, dict[str, str]]:
        """Per document: title, source, date, url, fingerprint (read on first use)."""
        if self._documents is None:
            data = (self.folder / "documents.json.zst").read_bytes()
            self._documents = json.loads(zstandard.ZstdDecompressor().decompress(data))
        return self._documents

    def passage_languages(self, rows: Sequence[int]) -> list[str | None]:
        """The recorded language of each row's document (None: not recorded), remembered per
        row so that a passage is read once."""
        known = self._row_languages
        for row in rows:
            if row not in known:
                known[row] = self.documents.get(self.passages[row].doc_id, {}).get("language")
        return [known[row] for row in rows]

    @functools.cached_property
    def passage_by_id(self) -> Mapping[str, Passage]:
        """Passages by id; only the ids are scanned (once), a passage is read when asked for."""
        if isinstance(self.passages, PassageList):
            return self.passages.by_id()
        return {p.passage_id: p for p in self.passages}

    @property
    def size_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.manifest.files.values())

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return (folder / "CURRENT").is_file()

    @classmethod
    def load(cls, folder: Path, model: str | None = None, *, verify: bool = True) -> IndexStore:
        """Load the current generation; any problem raises IndexUnavailableError saying what."""
        gen, manifest = _open_generation(folder)
        if model is not None and manifest.model != model:
            raise IndexOutdatedError(
                f"The index in {folder} was built with the model {manifest.model!r}, but the "
                f"configuration uses {model!r}. {REBUILD}"
            )
        try:
            if verify:
                verify_files(gen, manifest)
            parts = _read_parts(gen, manifest)
        except IndexUnavailableError:
            raise
        except Exception as exc:  # faiss raises RuntimeError, numpy ValueError, json ...
            raise damaged(folder, f"{type(exc).__name__}: {exc}") from None
        _check_parts(folder, manifest, parts)
        logger.info("Loaded index %s: %d passages", gen.name, len(parts.passages))
        store = cls(
            gen,
            manifest,
            parts.passages,
            parts.dense,
            parts.sentence_vectors,
            parts.offsets,
            parts.lexicon,
        )
        store.rescore = parts.rescore
        return store

    def passage_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """Stored vectors of these passages (from FAISS, or their float16 copies)."""
        return stored_vectors(self.dense, self.rescore, rows)

    def search(self, vector: np.ndarray, k: int) -> list[int]:
        """The ``k`` passage rows nearest to ``vector``, best first (``vector_index.nearest``:
        an approximate index's candidates are re-scored with the float16 vectors)."""
        return nearest(self.dense, self.rescore, vector, k, len(self))

    def sentence_rows(self, row: int) -> range:
        return range(int(self.offsets[row]), int(self.offsets[row + 1]))

    def candidate_sentences(self, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The sentence rows of these passages, concatenated in order, and how many each has."""
        index = np.asarray(rows, dtype=np.int64)
        starts = self.offsets[index]
        counts = self.offsets[index + 1] - starts
        total = int(counts.sum())
        # start of each passage's block, repeated over its sentences, plus the place within it
        within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(starts, counts) + within, counts


def _open_generation(folder: Path) -> tuple[Path, Manifest]:
    """The current generation of ``folder`` and its manifest, or IndexUnavailableError."""
    if not (folder / "CURRENT").is_file():
        raise IndexUnavailableError(f"There is no index in {folder} yet. {REBUILD}")
    try:
        gen = current_generation(folder)
        return gen, read_manifest(gen)
    except IndexUnavailableError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise damaged(folder, str(exc)) from None


def _read_parts(gen: Path, manifest: Manifest) -> _Parts:
    passages = PassageList.open(gen, manifest.passage_count, manifest.passage_block)
    dense, rescore = read_vector_index(gen)
    sentence_vectors = read_sentence_vectors(gen, manifest.sentence_codec)
    offsets = np.load(gen / "offsets.npy")
    if len(offsets) != manifest.passage_count + 1:
        raise ValueError("offsets.npy does not match the manifest")
    lexicon = Lexicon.load(gen / "lexicon", offsets)
    return _Parts(passages, dense, rescore, sentence_vectors, offsets, lexicon)


def _check_parts(folder: Path, manifest: Manifest, parts: _Parts) -> None:
    """Each part holds as many rows as the manifest says."""
    dense, rescore = parts.dense, parts.rescore
    checks = [
        (len(parts.passages) == manifest.passage_count, "passages.zst"),
        (dense.ntotal == manifest.passage_count, "dense.faiss"),
        (dense.d == manifest.dimension, "dense.faiss (dimension)"),
        (rescore is None or rescore.shape == (dense.ntotal, dense.d), "dense_rescore.npy"),
        (len(parts.sentence_vectors) == manifest.sentence_count, "sentences.npy"),
        (len(parts.offsets) == manifest.passage_count + 1, "offsets.npy"),
    ]
    for ok, what in checks:
        if not ok:
            raise damaged(folder, f"{what} does not match the manifest")
