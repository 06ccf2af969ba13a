"""The saved index: FAISS vectors, sentence vectors, BM25 and passages, written atomically.

Layout of the index folder::

    CURRENT                 name of the generation in use (replaced atomically with os.replace)
    gen-<time>-<rand>/      one complete build
        manifest.json       model, dimension, counts, corpus fingerprint, build time, file sizes
        passages.jsonl      one passage per line; its line number is its FAISS id
        passage_offsets.npy byte offset of each line (read lazily from a memory map)
        documents.json      per document: title, source, date, url, file fingerprint
        dense.faiss         passage vectors (normalised, so inner product = cosine): exact
                            IndexFlatIP (memory-mapped) up to ``hnsw_above`` passages, above it
                            HNSW over 8-bit scalar-quantised vectors (IndexHNSWSQ), whose
                            candidates are re-scored with dense_rescore.npy (float16 vectors)
        sentences.npy       one vector per sentence, int8 (sentence_scale.npy: the scale of each
                            dimension); passage i owns rows offsets[i]..[i+1]
                            (above ``sentence_pq_above`` passages instead: sentences.pq, a
                            product quantiser, and sentence_codes.npy, its codes, read only for
                            the candidate passages)
        offsets.npy
        bm25/               BM25 over passages (title, section, text)
        bm25_sentences/     BM25 over sentences (each with its title), in sentence-vector order
        bm25_bigrams/       BM25 over adjacent-word pairs of each passage

Everything large is memory-mapped or read on demand, so start-up and resident memory stay small
with a million passages.

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
import mmap
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
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
    "AnnSettings",
    "IndexStore",
    "Manifest",
    "PassageList",
    "SentenceVectors",
    "build_lock",
    "make_faiss_index",
    "write_generation",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
_REBUILD = "Run `storybot reindex` to rebuild it."
_CHECKSUM_LIMIT = 32 * 1024 * 1024  # files above this are checked by size only, to start fast


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
    sentence_codec: str = "int8"  # or "pq" (product-quantised codes, above sentence_pq_above)

    @property
    def version(self) -> str:
        """A short id of this build, shown in /healthz and /stats."""
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(self.built_at))}"


_PQ_MIN_SENTENCES = 256 * 39  # k-means wants 39 points per centroid


@dataclass(frozen=True, slots=True)
class AnnSettings:
    """When and how the index turns approximate and compact (docs/benchmarks-scale.md has the
    figures behind the defaults)."""

    hnsw_above: int = 50_000  # exact dense search up to this many passages (0: always exact)
    hnsw_m: int = 32  # graph neighbours per vector
    ef_construction: int = 80
    ef_search: int = 256  # candidates explored per search (>= the depth asked for)
    sentence_pq_above: int = 300_000  # int8 sentence vectors up to this many passages, PQ above
    sentence_pq_bytes: int = 48  # bytes per PQ-coded sentence vector (divides the dimension)

    def approximate(self, count: int) -> bool:
        return bool(self.hnsw_above) and count > self.hnsw_above

    def compact_sentences(self, passages: int, sentences: int) -> bool:
        return (
            bool(self.sentence_pq_above)
            and passages > self.sentence_pq_above
            and sentences >= _PQ_MIN_SENTENCES
        )


def make_faiss_index(vectors: np.ndarray, ann: AnnSettings | int) -> faiss.Index:
    """Exact inner-product search while the corpus is small; above ``ann.hnsw_above`` vectors,
    HNSW over 8-bit scalar-quantised vectors (a quarter of the size of float32)."""
    if isinstance(ann, int):
        ann = AnnSettings(hnsw_above=ann)
    dimension = vectors.shape[1]
    if ann.approximate(len(vectors)):
        index = faiss.IndexHNSWSQ(
            dimension, faiss.ScalarQuantizer.QT_8bit, ann.hnsw_m, faiss.METRIC_INNER_PRODUCT
        )
        index.hnsw.efConstruction = ann.ef_construction
        index.hnsw.efSearch = ann.ef_search
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.train(vectors)
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _train_pq(vectors: np.ndarray, code_bytes: int, seed: int = 1234) -> faiss.ProductQuantizer:
    """A product quantiser of ``code_bytes`` sub-vectors, trained on at most 65,536 vectors."""
    dimension = vectors.shape[1]
    parts = code_bytes if code_bytes and dimension % code_bytes == 0 else dimension // 8
    nbits = 8 if len(vectors) >= _PQ_MIN_SENTENCES else 4
    sample = vectors
    if len(vectors) > 65_536:
        chosen = np.sort(np.random.default_rng(seed).choice(len(vectors), 65_536, replace=False))
        sample = vectors[chosen]
    pq = faiss.ProductQuantizer(dimension, parts, nbits)
    pq.verbose = False
    pq.cp.niter = 10  # k-means rounds per sub-quantiser (25 by default: slower, no better here)
    pq.train(np.ascontiguousarray(sample, dtype=np.float32))
    return pq


class SentenceVectors:
    """Sentence vectors by row, stored compactly: int8 with a scale per dimension (small
    indexes), or product-quantiser codes (above ``hnsw_above``). ``vectors[a:b]`` decodes rows
    a..b to float32; ``cosines`` scores rows against a query without decoding them."""

    def __init__(
        self,
        rows: np.ndarray,
        scale: np.ndarray | None = None,
        pq: faiss.ProductQuantizer | None = None,
    ) -> None:
        self._rows = rows
        self._scale = scale
        self._pq = pq
        self._centroids = None  # (sub-vectors, centroids, sub-dimension)
        if pq is not None:
            self._centroids = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)

    @classmethod
    def quantise(cls, vectors: np.ndarray) -> SentenceVectors:
        """int8 rows and a float32 scale per dimension (the largest magnitude / 127)."""
        scale = np.zeros(vectors.shape[1], np.float32)
        for start in range(0, len(vectors), 65536):
            block = np.abs(np.asarray(vectors[start : start + 65536], np.float32)).max(axis=0)
            np.maximum(scale, block, out=scale)
        scale = np.maximum(scale, 1e-12) / 127.0
        rows = np.empty(vectors.shape, np.int8)
        for start in range(0, len(vectors), 65536):
            block = np.asarray(vectors[start : start + 65536], np.float32) / scale
            rows[start : start + len(block)] = np.clip(np.rint(block), -127, 127)
        return cls(rows, scale)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def dimension(self) -> int:
        return int(self._pq.d) if self._pq is not None else int(self._rows.shape[1])

    def _decode(self, block: np.ndarray) -> np.ndarray:
        if not len(block):
            return np.zeros((0, self.dimension), np.float32)
        if self._pq is not None:
            return self._pq.decode(np.ascontiguousarray(block))
        assert self._scale is not None
        return block.astype(np.float32) * self._scale

    def __getitem__(self, span: slice) -> np.ndarray:
        return self._decode(np.asarray(self._rows[span]))

    def take(self, index: np.ndarray) -> np.ndarray:
        """These rows, decoded to float32."""
        return self._decode(self._rows[np.asarray(index, dtype=np.int64)])

    def cosines(self, index: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Inner product of these rows with ``vector``, computed on the codes: int8 rows
        against the query scaled per dimension, or PQ codes through an inner-product table."""
        block = self._rows[np.asarray(index, dtype=np.int64)]
        if not len(block):
            return np.zeros(0, np.float32)
        if self._pq is not None and self._centroids is not None:
            parts = vector.reshape(self._pq.M, 1, self._pq.dsub).astype(np.float32)
            table = (self._centroids * parts).sum(axis=2)  # (sub-vectors, centroids)
            if self._pq.nbits != 8:
                return self.take(index) @ vector
            flat = block.astype(np.intp) + np.arange(self._pq.M) * self._pq.ksub
            return table.ravel()[flat].sum(axis=1, dtype=np.float32)
        assert self._scale is not None
        return block.astype(np.float32) @ (vector * self._scale)


class PassageList(Sequence[Passage]):
    """The passages of a generation, read on demand from passages.jsonl through a memory map
    (one JSON line per passage, found by its byte offset): nothing is parsed at start-up."""

    def __init__(self, path: Path, offsets: np.ndarray) -> None:
        self._offsets = offsets
        self._map: mmap.mmap | None = None
        # A cache per instance, so a replaced generation is not kept alive by a shared one.
        self._get = functools.lru_cache(maxsize=8192)(self._read)
        if len(offsets) > 1 and int(offsets[-1]) > 0:
            with path.open("rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _read(self, row: int) -> Passage:
        assert self._map is not None
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        return _passage_from_json(self._map[start:end].decode("utf-8"))

    def __getitem__(self, row: int) -> Passage:  # type: ignore[override]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]  # type: ignore[return-value]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self._get(row)

    def __iter__(self) -> Iterator[Passage]:
        if self._map is None:
            return
        for row in range(len(self)):
            start, end = int(self._offsets[row]), int(self._offsets[row + 1])
            yield _passage_from_json(self._map[start:end].decode("utf-8"))

    def row_by_id(self) -> dict[str, int]:
        """Each passage id's row, read from the start of each line (a passage's JSON starts
        with its id), without parsing the passages."""
        if self._map is None:
            return {}
        decoder = json.JSONDecoder()
        rows = {}
        for row in range(len(self)):
            start, end = int(self._offsets[row]), int(self._offsets[row + 1])
            head = self._map[start : min(end, start + 256)].decode("utf-8", "ignore")
            try:
                if not head.startswith(_ID_KEY):
                    raise ValueError(head[:40])
                passage_id, _ = decoder.raw_decode(head, len(_ID_KEY))
            except ValueError:  # a very long id: parse the whole passage
                passage_id = self[row].passage_id
            rows[passage_id] = row
        return rows


_ID_KEY = '{"passage_id": '


class _PassagesById(Mapping[str, Passage]):
    def __init__(self, passages: PassageList, rows: dict[str, int]) -> None:
        self._passages = passages
        self._rows = rows

    def __getitem__(self, passage_id: str) -> Passage:
        return self._passages[self._rows[passage_id]]

    def __contains__(self, passage_id: object) -> bool:
        return passage_id in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


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
    ann: AnnSettings | None = None,
) -> Manifest:
    """Write a complete new generation, then switch CURRENT to it and delete older ones.

    ``ann`` sets when and how the index turns approximate; without it, ``hnsw_above`` with the
    default settings. The vectors may come from anywhere (the scale benchmark writes arrays).
    """
    ann = ann or AnnSettings(hnsw_above=hnsw_above)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    tmp = folder / f".{name}.partial"
    tmp.mkdir()
    try:
        line_offsets = np.zeros(len(passages) + 1, dtype=np.int64)
        with (tmp / "passages.jsonl").open("wb") as handle:
            for i, passage in enumerate(passages):
                line = (_passage_to_json(passage) + "\n").encode("utf-8")
                handle.write(line)
                line_offsets[i + 1] = line_offsets[i] + len(line)
        np.save(tmp / "passage_offsets.npy", line_offsets)
        (tmp / "documents.json").write_text(
            json.dumps(documents, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        index = make_faiss_index(passage_vectors, ann)
        faiss.write_index(index, str(tmp / "dense.faiss"))
        if ann.approximate(len(passages)):
            # float16 copies of the vectors re-score the graph's candidates: 8-bit vectors
            # alone cap recall@10 near 0.97-0.99 (docs/benchmarks-scale.md).
            exact = np.lib.format.open_memmap(
                tmp / "dense_rescore.npy", "w+", np.float16, passage_vectors.shape
            )
            for start in range(0, len(passage_vectors), 65536):
                exact[start : start + 65536] = passage_vectors[start : start + 65536]
            exact.flush()
            del exact
        sentence_codec = "int8"
        if ann.compact_sentences(len(passages), len(sentence_vectors)):
            sentence_codec = "pq"
            pq = _train_pq(sentence_vectors, ann.sentence_pq_bytes)
            faiss.write_ProductQuantizer(pq, str(tmp / "sentences.pq"))
            codes = np.empty((len(sentence_vectors), pq.code_size), dtype=np.uint8)
            for start in range(0, len(sentence_vectors), 65536):
                block = np.ascontiguousarray(
                    sentence_vectors[start : start + 65536], dtype=np.float32
                )
                codes[start : start + len(block)] = pq.compute_codes(block)
            np.save(tmp / "sentence_codes.npy", codes)
        else:
            quantised = SentenceVectors.quantise(sentence_vectors)
            np.save(tmp / "sentences.npy", quantised._rows)
            np.save(tmp / "sentence_scale.npy", quantised._scale)
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
            sentence_codec=sentence_codec,
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
        passages: Sequence[Passage],
        dense: faiss.Index,
        sentence_vectors: SentenceVectors,
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
        self.rescore: np.ndarray | None = None  # float16 vectors behind an approximate index

    def __len__(self) -> int:
        return len(self.passages)

    @functools.cached_property
    def passage_by_id(self) -> Mapping[str, Passage]:
        """Passages by id; only the ids are scanned (once), a passage is read when asked for."""
        if isinstance(self.passages, PassageList):
            return _PassagesById(self.passages, self.passages.row_by_id())
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
            passages = PassageList(
                gen / "passages.jsonl",
                np.asarray(np.load(gen / "passage_offsets.npy", mmap_mode="r")),
            )
            documents = json.loads((gen / "documents.json").read_text(encoding="utf-8"))
            flags = faiss.IO_FLAG_MMAP_IFC if manifest.faiss_type == "IndexFlatIP" else 0
            dense = faiss.read_index(str(gen / "dense.faiss"), flags)
            rescore = None
            if (gen / "dense_rescore.npy").is_file():
                rescore = np.asarray(np.load(gen / "dense_rescore.npy", mmap_mode="r"))
            if manifest.sentence_codec == "pq":
                sentence_vectors = SentenceVectors(
                    np.asarray(np.load(gen / "sentence_codes.npy", mmap_mode="r")),
                    pq=faiss.read_ProductQuantizer(str(gen / "sentences.pq")),
                )
            else:
                sentence_vectors = SentenceVectors(
                    np.asarray(np.load(gen / "sentences.npy", mmap_mode="r")),
                    np.load(gen / "sentence_scale.npy"),
                )
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
            (rescore is None or rescore.shape == (dense.ntotal, dense.d), "dense_rescore.npy"),
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
        store = cls(
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
        store.rescore = rescore
        return store

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
        """Stored vectors of these passages (from FAISS, or their float16 copies)."""
        if not len(rows):
            return np.zeros((0, self.manifest.dimension), dtype=np.float32)
        if self.rescore is not None:
            return self.rescore[np.asarray(rows, dtype=np.int64)].astype(np.float32)
        return self.dense.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def search(self, vector: np.ndarray, k: int) -> list[int]:
        """The ``k`` passage rows nearest to ``vector``, best first. An approximate index
        proposes twice as many candidates (at least 40), re-scored with the float16 vectors."""
        k = min(k, len(self))
        if k <= 0:
            return []
        query = np.ascontiguousarray(vector[None, :], dtype=np.float32)
        if self.rescore is None:
            _, ids = self.dense.search(query, k)
            return [int(i) for i in ids[0] if i >= 0]
        _, ids = self.dense.search(query, min(len(self), max(2 * k, 40)))
        found = ids[0][ids[0] >= 0]
        scores = self.rescore[found].astype(np.float32) @ query[0]
        return [int(i) for i in found[np.argsort(-scores, kind="stable")[:k]]]

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
