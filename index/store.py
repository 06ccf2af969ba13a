"""The saved index: FAISS vectors, sentence vectors, BM25 and passages, written atomically.

Layout of the index folder::

    CURRENT                 name of the generation in use (replaced atomically with os.replace)
    gen-<time>-<rand>/      one complete build
        manifest.json       model, dimension, counts, corpus fingerprint, build time, file sizes
        passages.zst        the passages (a JSON array each), in blocks of ``passage_block``
                            (16) passages, each block a zstd frame compressed with the
                            dictionary passages.dict trained on the corpus; a passage's row is
                            its FAISS id; passage_blocks.npy: byte offset of each block
        documents.json.zst  per document: title, source, date, url, file fingerprint (read
                            the first time something asks for it)
        dense.faiss         passage vectors (normalised, so inner product = cosine): exact
                            IndexFlatIP (memory-mapped) up to ``hnsw_above`` passages, above it
                            HNSW over 8-bit scalar-quantised vectors (IndexHNSWSQ); up to
                            ``AnnSettings.rescore_below`` passages its candidates are
                            re-scored with dense_rescore.npy (float16 vectors)
        sentences.npy       one vector per sentence, int8 (sentence_scale.npy: the scale of each
                            dimension); passage i owns rows offsets[i]..[i+1]
                            (above ``sentence_pq_above`` passages instead: sentences.pq, a
                            product quantiser, and sentence_codes.npy, its codes, read only for
                            the candidate passages)
        offsets.npy
        lexicon/            the keyword index (index/lexicon.py): BM25 over passages, over
                            sentences (each with its title) and over adjacent-word pairs, from
                            a forward index of term ids and the passages' posting lists

Everything large is memory-mapped or read on demand, so start-up and resident memory stay small
with a million passages.

A build writes a new generation beside the old one and then points CURRENT at it, so a crash
mid-build leaves the previous index serving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import mmap
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import zstandard

from .errors import IndexOutdatedError, IndexUnavailableError, ReindexInProgressError
from .lexicon import Lexicon
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
    "reuse_dictionary",
    "write_generation",
    "write_passages",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 4
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
    passage_block: int = 16  # passages per compressed block of passages.zst

    @property
    def version(self) -> str:
        """A short id of this build, shown in /healthz and /stats."""
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(self.built_at))}"


_PQ_MIN_SENTENCES = 256 * 39  # k-means wants 39 points per centroid
EF_SEARCH_PASSAGES = 250_000  # HNSW explores ef_search candidates per this many passages


@dataclass(frozen=True, slots=True)
class AnnSettings:
    """When and how the index turns approximate and compact (docs/benchmarks-scale.md has the
    figures behind the defaults)."""

    hnsw_above: int = 50_000  # exact dense search up to this many passages (0: always exact)
    hnsw_m: int = 32  # graph neighbours per vector
    ef_construction: int = 200  # 80 gave recall@10 0.967 at 100k (near-copies), 200 gave 0.982
    # candidates explored per search (>= the depth asked for), per EF_SEARCH_PASSAGES passages
    # and never fewer: 256 up to 250,000 passages, 1,024 at 1M (recall@10 there 0.89 -> 0.95 for
    # ~1 ms more, while the question's BM25 search takes longer beside it)
    ef_search: int = 256
    sentence_pq_above: int = 300_000  # int8 sentence vectors up to this many passages, PQ above
    sentence_pq_bytes: int = 48  # bytes per PQ-coded sentence vector (divides the dimension)
    # float16 copies of the vectors re-score the graph's candidates, +768 B a passage, up to
    # this many passages (recall@10 against exact search at 100k: 0.958 -> 0.99 with int8
    # vectors); above it the graph over 8-bit vectors is served as it is, to keep 1M passages
    # within 1.5 GB on disk
    rescore_below: int = 400_000

    def ef_search_for(self, count: int) -> int:
        return max(self.ef_search, round(self.ef_search * count / EF_SEARCH_PASSAGES))

    def rescores(self, count: int) -> bool:
        return self.approximate(count) and count <= self.rescore_below

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
        index.hnsw.efSearch = ann.ef_search_for(len(vectors))
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


_FIELDS = [f.name for f in dataclasses.fields(Passage)]
_PASSAGE_BLOCK = 16
_ZSTD_LEVEL = 6  # 3.3x on squad passages with a trained dictionary, ~35 MB/s to compress
_DICTIONARY_BYTES = 65536


def _passage_record(passage: Passage) -> list[Any]:
    return [
        list(v) if f == "sentences" else v for f, v in zip(_FIELDS, _values(passage), strict=True)
    ]


def _values(passage: Passage) -> tuple[Any, ...]:
    return tuple(getattr(passage, f) for f in _FIELDS)


def _passage_from_record(line: bytes) -> Passage:
    record = dict(zip(_FIELDS, json.loads(line), strict=True))
    record["sentences"] = tuple(record["sentences"])
    return Passage(**record)


def reuse_dictionary(previous_passages: int, passages: int) -> bool:
    """Whether a reindex compresses with the previous generation's dictionary rather than
    training one (about a second at 10,000 passages): while the corpus has not doubled."""
    return previous_passages >= 64 * _PASSAGE_BLOCK and passages <= 2 * previous_passages


def write_passages(
    folder: Path,
    passages: Sequence[Passage],
    block: int = _PASSAGE_BLOCK,
    dictionary: bytes | None = None,
) -> None:
    """passages.zst (zstd frames of ``block`` JSON lines each), passage_blocks.npy (their byte
    offsets) and passages.dict (the dictionary they are compressed with: ``dictionary``, or one
    trained on these passages; empty when there are too few to train one)."""
    blocks = [
        b"\n".join(
            json.dumps(_passage_record(p), ensure_ascii=False).encode("utf-8")
            for p in passages[start : start + block]
        )
        for start in range(0, len(passages), block)
    ]
    if dictionary is None and len(blocks) >= 64:
        sample = blocks[:: max(1, len(blocks) // 4096)]
        try:
            dictionary = zstandard.train_dictionary(
                _DICTIONARY_BYTES, sample, level=_ZSTD_LEVEL
            ).as_bytes()
        except zstandard.ZstdError:  # too little or too uniform text: no dictionary
            dictionary = b""
    dictionary = dictionary or b""
    compressor = zstandard.ZstdCompressor(
        level=_ZSTD_LEVEL,
        dict_data=zstandard.ZstdCompressionDict(dictionary) if dictionary else None,
        write_content_size=True,
    )
    offsets = np.zeros(len(blocks) + 1, dtype=np.int64)
    with (folder / "passages.zst").open("wb") as handle:
        for i, data in enumerate(blocks):
            frame = compressor.compress(data)
            handle.write(frame)
            offsets[i + 1] = offsets[i] + len(frame)
    np.save(folder / "passage_blocks.npy", offsets)
    (folder / "passages.dict").write_bytes(dictionary)


class PassageList(Sequence[Passage]):
    """The passages of a generation, decompressed on demand from passages.zst through a memory
    map, a block of passages at a time (recent blocks and passages are cached): nothing is read
    at start-up."""

    def __init__(
        self, path: Path, block_offsets: np.ndarray, count: int, block: int, dictionary: bytes
    ) -> None:
        self._offsets = block_offsets
        self._count = count
        self._block = block
        self._dict = zstandard.ZstdCompressionDict(dictionary) if dictionary else None
        self._local = threading.local()  # a zstd decompressor is not shared between threads
        self._map: mmap.mmap | None = None
        # Caches per instance, so a replaced generation is not kept alive by a shared one.
        self._get = functools.lru_cache(maxsize=8192)(self._read)
        self._lines = functools.lru_cache(maxsize=256)(self._decompress)
        if count and int(block_offsets[-1]) > 0:
            with path.open("rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if len(block_offsets) != -(-count // block) + 1 or (
            count and (self._map is None or len(self._map) != int(block_offsets[-1]))
        ):
            raise ValueError("passages.zst does not match passage_blocks.npy")

    def __len__(self) -> int:
        return self._count

    def _frame(self, number: int) -> bytes:
        assert self._map is not None
        return self._map[int(self._offsets[number]) : int(self._offsets[number + 1])]

    def _decompress(self, number: int) -> list[bytes]:
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = self._local.decompressor = zstandard.ZstdDecompressor(
                dict_data=self._dict
            )
        return decompressor.decompress(self._frame(number)).split(b"\n")

    def _all_lines(self) -> Iterator[bytes]:
        """Every passage's record, in order (each block decompressed once, uncached)."""
        if self._map is None:
            return
        decompressor = zstandard.ZstdDecompressor(dict_data=self._dict)
        for number in range(len(self._offsets) - 1):
            yield from decompressor.decompress(self._frame(number)).split(b"\n")

    def _read(self, row: int) -> Passage:
        return _passage_from_record(self._lines(row // self._block)[row % self._block])

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
        return map(_passage_from_record, self._all_lines())

    def row_by_id(self) -> dict[str, int]:
        """Each passage id's row (every block is decompressed once, on first use)."""
        decoder = json.JSONDecoder()
        rows = {}
        for row, line in enumerate(self._all_lines()):
            # the record starts with the id
            passage_id, _ = decoder.raw_decode(line.decode("utf-8"), 1)
            rows[passage_id] = row
        return rows


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
    lexicon: Lexicon,
    documents: dict[str, dict[str, str]],
    corpus_fingerprint: str,
    settings_fingerprint: str,
    hnsw_above: int,
    ann: AnnSettings | None = None,
    dense_index: faiss.Index | None = None,
    passage_dictionary: bytes | None = None,
) -> Manifest:
    """Write a complete new generation, then switch CURRENT to it and delete older ones.

    ``ann`` sets when and how the index turns approximate; without it, ``hnsw_above`` with the
    default settings. The vectors may come from anywhere (the scale benchmark writes arrays,
    and may pass ``dense_index``, the FAISS index of ``passage_vectors`` built before).
    ``passage_dictionary``: the zstd dictionary to compress the passages with (a reindex passes
    the previous one; otherwise one is trained).
    """
    ann = ann or AnnSettings(hnsw_above=hnsw_above)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    tmp = folder / f".{name}.partial"
    tmp.mkdir()
    try:
        if lexicon.size != len(passages) or lexicon.sentence_count != int(offsets[-1]):
            raise ValueError("the keyword index was built from other passages")
        write_passages(tmp, passages, dictionary=passage_dictionary)
        (tmp / "documents.json.zst").write_bytes(
            zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(
                json.dumps(documents, ensure_ascii=False, separators=(",", ":")).encode()
            )
        )
        index = dense_index if dense_index is not None else make_faiss_index(passage_vectors, ann)
        faiss.write_index(index, str(tmp / "dense.faiss"))
        if ann.rescores(len(passages)):
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
        lexicon.save(tmp / "lexicon")
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
            passage_block=_PASSAGE_BLOCK,
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
            version = raw.get("format_version")
            if isinstance(version, int) and version < FORMAT_VERSION:
                raise IndexOutdatedError(
                    f"The index in {folder} was written by an older storybot (index format "
                    f"{version}; this one reads format {FORMAT_VERSION}). {_REBUILD}"
                )
            if version != FORMAT_VERSION:
                raise ValueError(f"format version {version} is not supported")
            manifest = Manifest(**raw)
        except IndexUnavailableError:
            raise
        except (OSError, ValueError, TypeError) as exc:
            raise IndexUnavailableError(
                f"The index in {folder} is damaged: {exc}. {_REBUILD}"
            ) from None
        if model is not None and manifest.model != model:
            raise IndexOutdatedError(
                f"The index in {folder} was built with the model {manifest.model!r}, but the "
                f"configuration uses {model!r}. {_REBUILD}"
            )
        try:
            if verify:
                cls._verify_files(gen, manifest)
            passages = PassageList(
                gen / "passages.zst",
                np.load(gen / "passage_blocks.npy"),
                manifest.passage_count,
                manifest.passage_block,
                (gen / "passages.dict").read_bytes(),
            )
            # The vectors (flat, or the 8-bit codes under the HNSW graph) are memory-mapped; only
            # the graph's neighbour lists are read in.
            dense = faiss.read_index(str(gen / "dense.faiss"), faiss.IO_FLAG_MMAP_IFC)
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
            if len(offsets) != manifest.passage_count + 1:
                raise ValueError("offsets.npy does not match the manifest")
            lexicon = Lexicon.load(gen / "lexicon", offsets)
        except IndexUnavailableError:
            raise
        except Exception as exc:  # faiss raises RuntimeError, numpy ValueError, json ...
            raise IndexUnavailableError(
                f"The index in {folder} is damaged: {type(exc).__name__}: {exc}. {_REBUILD}"
            ) from None
        checks = [
            (len(passages) == manifest.passage_count, "passages.zst"),
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
            lexicon,
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
        proposes ``k`` candidates (at least 40), re-scored with the float16 vectors (proposing
        2k gave the same recall@10 at 100k, 0.983, for 0.2 ms more a search)."""
        k = min(k, len(self))
        if k <= 0:
            return []
        query = np.ascontiguousarray(vector[None, :], dtype=np.float32)
        if self.rescore is None:
            _, ids = self.dense.search(query, k)
            return [int(i) for i in ids[0] if i >= 0]
        _, ids = self.dense.search(query, min(len(self), max(k, 40)))
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
