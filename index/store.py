"""The saved index: FAISS vectors, sentence vectors, BM25 and passages, written atomically.

Layout of the index folder::

    CURRENT                 name of the generation in use (replaced atomically with os.replace)
    gen-<time>-<rand>/      one complete build
        manifest.json       model, dimension, counts, corpus fingerprint, build time, file sizes
        passages.jsonl      one passage per line; its line number is its FAISS id
        documents.json      per document: title, source, date, url, file fingerprint
        dense.faiss         passage vectors (normalised, so inner product = cosine)
        sentences.npy       one vector per sentence, float16; passage i owns rows offsets[i]..[i+1]
        offsets.npy
        bm25/               BM25 over passages (title, section, text)
        bm25_sentences/     BM25 over sentences (each with its title), in sentence-vector order
        bm25_bigrams/       BM25 over adjacent-word pairs of each passage

A build writes a new generation beside the old one and then points CURRENT at it, so a crash
mid-build leaves the previous index serving.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .errors import IndexUnavailableError, ReindexInProgressError
from .keyword import KeywordIndex
from .passages import Passage

__all__ = [
    "FORMAT_VERSION",
    "IndexStore",
    "Manifest",
    "build_lock",
    "make_faiss_index",
    "write_generation",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
_REBUILD = "Run `storybot reindex` to rebuild it."
_CHECKSUM_LIMIT = 256 * 1024 * 1024  # files above this are checked by size only, to start fast


@dataclass(frozen=True, slots=True)
class Manifest:
    model: str
    dimension: int
    passage_count: int
    sentence_count: int
    document_count: int
    corpus_fingerprint: str
    settings_fingerprint: str
    built_at: float
    faiss_type: str
    files: dict[str, dict[str, Any]]
    format_version: int = FORMAT_VERSION

    @property
    def version(self) -> str:
        """A short id of this build, shown in /healthz and /stats."""
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(self.built_at))}"


def make_faiss_index(
    vectors: np.ndarray, hnsw_above: int, hnsw_m: int = 32, ef_search: int = 128
) -> faiss.Index:
    """Exact inner-product search while the corpus is small, HNSW above ``hnsw_above`` vectors."""
    dimension = vectors.shape[1]
    if hnsw_above and len(vectors) > hnsw_above:
        index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = ef_search
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _passage_to_json(passage: Passage) -> str:
    record = asdict(passage)
    record["sentences"] = list(passage.sentences)
    return json.dumps(record, ensure_ascii=False)


def _passage_from_json(line: str) -> Passage:
    record = json.loads(line)
    record["sentences"] = tuple(record["sentences"])
    return Passage(**record)


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's build lock (across processes); refuse at once if a build holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".build.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReindexInProgressError(
                "A reindex is already running; wait for it to finish."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_generation(
    folder: Path,
    *,
    model: str,
    passages: Sequence[Passage],
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    offsets: np.ndarray,
    keyword: KeywordIndex,
    sentence_keyword: KeywordIndex,
    bigram_keyword: KeywordIndex,
    documents: dict[str, dict[str, str]],
    corpus_fingerprint: str,
    settings_fingerprint: str,
    hnsw_above: int,
) -> Manifest:
    """Write a complete new generation, then switch CURRENT to it and delete older ones."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    tmp = folder / f".{name}.partial"
    tmp.mkdir()
    try:
        with (tmp / "passages.jsonl").open("w", encoding="utf-8") as handle:
            for passage in passages:
                handle.write(_passage_to_json(passage) + "\n")
        (tmp / "documents.json").write_text(
            json.dumps(documents, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        index = make_faiss_index(passage_vectors, hnsw_above)
        faiss.write_index(index, str(tmp / "dense.faiss"))
        np.save(tmp / "sentences.npy", sentence_vectors.astype(np.float16))
        np.save(tmp / "offsets.npy", offsets.astype(np.int64))
        for folder_name, part in (
            ("bm25", keyword),
            ("bm25_sentences", sentence_keyword),
            ("bm25_bigrams", bigram_keyword),
        ):
            (tmp / folder_name).mkdir()
            part.save(tmp / folder_name)
        files = {}
        for path in sorted(tmp.rglob("*")):
            if path.is_file():
                rel = path.relative_to(tmp).as_posix()
                size = path.stat().st_size
                entry: dict[str, Any] = {"size": size}
                if size <= _CHECKSUM_LIMIT:
                    entry["sha256"] = _sha256(path)
                files[rel] = entry
        manifest = Manifest(
            model=model,
            dimension=int(passage_vectors.shape[1]),
            passage_count=len(passages),
            sentence_count=len(sentence_vectors),
            document_count=len(documents),
            corpus_fingerprint=corpus_fingerprint,
            settings_fingerprint=settings_fingerprint,
            built_at=time.time(),
            faiss_type=type(index).__name__,
            files=files,
        )
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1))
        for path in tmp.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        final = folder / name
        tmp.rename(final)
        pointer = folder / ".CURRENT.tmp"
        pointer.write_text(name + "\n")
        with pointer.open("rb") as handle:
            os.fsync(handle.fileno())
        pointer.replace(folder / "CURRENT")
        _fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in folder.iterdir():
        if (
            old.is_dir()
            and old.name != name
            and (old.name.startswith("gen-") or old.name.startswith(".gen-"))
        ):
            shutil.rmtree(old, ignore_errors=True)
    logger.info("Index generation %s written: %d passages", name, len(passages))
    return manifest


class IndexStore:
    """A loaded generation: search structures and passages, read-only and safe to share."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        passages: list[Passage],
        dense: faiss.Index,
        sentence_vectors: np.ndarray,
        offsets: np.ndarray,
        keyword: KeywordIndex,
        sentence_keyword: KeywordIndex,
        bigram_keyword: KeywordIndex,
        documents: dict[str, dict[str, str]],
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.passages = passages
        self.dense = dense
        self.sentence_vectors = sentence_vectors
        self.offsets = offsets
        self.keyword = keyword
        self.sentence_keyword = sentence_keyword
        self.bigram_keyword = bigram_keyword
        self.documents = documents

    def __len__(self) -> int:
        return len(self.passages)

    @functools.cached_property
    def passage_by_id(self) -> dict[str, Passage]:
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
        pointer = folder / "CURRENT"
        if not pointer.is_file():
            raise IndexUnavailableError(f"There is no index in {folder} yet. {_REBUILD}")
        try:
            name = pointer.read_text().strip()
            gen = folder / name
            if not name or "/" in name or not gen.is_dir():
                raise ValueError(f"CURRENT names {name!r}, which is not an index generation")
            try:
                raw = json.loads((gen / "manifest.json").read_text())
            except FileNotFoundError:
                raise ValueError("manifest.json is missing") from None
            if raw.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format version {raw.get('format_version')} is not supported")
            manifest = Manifest(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise IndexUnavailableError(
                f"The index in {folder} is damaged: {exc}. {_REBUILD}"
            ) from None
        if model is not None and manifest.model != model:
            raise IndexUnavailableError(
                f"The index in {folder} was built with the model {manifest.model!r}, but the "
                f"configuration uses {model!r}. {_REBUILD}"
            )
        try:
            if verify:
                cls._verify_files(gen, manifest)
            passages = [
                _passage_from_json(line)
                for line in (gen / "passages.jsonl").read_text(encoding="utf-8").splitlines()
            ]
            documents = json.loads((gen / "documents.json").read_text(encoding="utf-8"))
            flags = faiss.IO_FLAG_MMAP_IFC if manifest.faiss_type == "IndexFlatIP" else 0
            dense = faiss.read_index(str(gen / "dense.faiss"), flags)
            sentence_vectors = np.load(gen / "sentences.npy", mmap_mode="r")
            offsets = np.load(gen / "offsets.npy")
            keyword = KeywordIndex.load(gen / "bm25", len(passages))
            sentence_keyword = KeywordIndex.load(gen / "bm25_sentences", len(sentence_vectors))
            bigram_keyword = KeywordIndex.load(gen / "bm25_bigrams", len(passages))
        except IndexUnavailableError:
            raise
        except Exception as exc:  # faiss raises RuntimeError, numpy ValueError, json ...
            raise IndexUnavailableError(
                f"The index in {folder} is damaged: {type(exc).__name__}: {exc}. {_REBUILD}"
            ) from None
        checks = [
            (len(passages) == manifest.passage_count, "passages.jsonl"),
            (dense.ntotal == manifest.passage_count, "dense.faiss"),
            (dense.d == manifest.dimension, "dense.faiss (dimension)"),
            (len(sentence_vectors) == manifest.sentence_count, "sentences.npy"),
            (len(offsets) == manifest.passage_count + 1, "offsets.npy"),
        ]
        for ok, what in checks:
            if not ok:
                raise IndexUnavailableError(
                    f"The index in {folder} is damaged: {what} does not match the manifest. "
                    f"{_REBUILD}"
                )
        logger.info("Loaded index %s: %d passages", gen.name, len(passages))
        return cls(
            gen,
            manifest,
            passages,
            dense,
            sentence_vectors,
            offsets,
            keyword,
            sentence_keyword,
            bigram_keyword,
            documents,
        )

    @staticmethod
    def _verify_files(gen: Path, manifest: Manifest) -> None:
        for rel, entry in manifest.files.items():
            path = gen / rel
            if not path.is_file():
                raise IndexUnavailableError(
                    f"The index in {gen.parent} is damaged: {rel} is missing. {_REBUILD}"
                )
            if path.stat().st_size != entry["size"] or (
                "sha256" in entry and _sha256(path) != entry["sha256"]
            ):
                raise IndexUnavailableError(
                    f"The index in {gen.parent} is damaged: {rel} has changed since it was "
                    f"built. {_REBUILD}"
                )

    def passage_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """Stored vectors of these passages (reconstructed from FAISS)."""
        if not len(rows):
            return np.zeros((0, self.manifest.dimension), dtype=np.float32)
        return self.dense.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def sentence_rows(self, row: int) -> range:
        return range(int(self.offsets[row]), int(self.offsets[row + 1]))
