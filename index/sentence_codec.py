"""Sentence vectors stored compactly: int8 with a scale per dimension, or product-quantiser codes
for large indexes, scored against a question without decoding them.

Files of a generation: ``sentences.npy`` (int8 rows) and ``sentence_scale.npy`` (the scale of
each dimension), or, for the "pq" codec, ``sentences.pq`` (the product quantiser) and
``sentence_codes.npy`` (its codes, read only for the candidate passages).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from .ann import PQ_MIN_SENTENCES

__all__ = ["SentenceVectors", "read_sentence_vectors", "train_pq", "write_sentence_vectors"]

_BLOCK = 65536  # vectors coded at a time, to bound memory


def train_pq(vectors: np.ndarray, code_bytes: int, seed: int = 1234) -> faiss.ProductQuantizer:
    """A product quantiser of ``code_bytes`` sub-vectors, trained on at most 65,536 vectors."""
    dimension = vectors.shape[1]
    parts = code_bytes if code_bytes and dimension % code_bytes == 0 else dimension // 8
    nbits = 8 if len(vectors) >= PQ_MIN_SENTENCES else 4
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
        scale: np.ndarray = np.zeros(vectors.shape[1], np.float32)
        for start in range(0, len(vectors), _BLOCK):
            block = np.abs(np.asarray(vectors[start : start + _BLOCK], np.float32)).max(axis=0)
            np.maximum(scale, block, out=scale)
        scale = np.maximum(scale, 1e-12) / 127.0
        rows = np.empty(vectors.shape, np.int8)
        for start in range(0, len(vectors), _BLOCK):
            block = np.asarray(vectors[start : start + _BLOCK], np.float32) / scale
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

    def save(self, folder: Path) -> None:
        """The int8 rows and their scale (sentences.npy, sentence_scale.npy)."""
        if self._scale is None:
            raise ValueError("only int8 sentence vectors are saved whole")
        np.save(folder / "sentences.npy", self._rows)
        np.save(folder / "sentence_scale.npy", self._scale)


def write_sentence_vectors(
    folder: Path, vectors: np.ndarray, *, compact: bool, code_bytes: int
) -> str:
    """Write the sentence vectors and return their codec: "pq" (a product quantiser of
    ``code_bytes`` bytes a vector, when ``compact``) or "int8"."""
    if not compact:
        SentenceVectors.quantise(vectors).save(folder)
        return "int8"
    pq = train_pq(vectors, code_bytes)
    faiss.write_ProductQuantizer(pq, str(folder / "sentences.pq"))
    codes = np.empty((len(vectors), pq.code_size), dtype=np.uint8)
    for start in range(0, len(vectors), _BLOCK):
        block = np.ascontiguousarray(vectors[start : start + _BLOCK], dtype=np.float32)
        codes[start : start + len(block)] = pq.compute_codes(block)
    np.save(folder / "sentence_codes.npy", codes)
    return "pq"


def read_sentence_vectors(folder: Path, codec: str) -> SentenceVectors:
    """The sentence vectors of a generation written with ``codec``, memory-mapped."""
    if codec == "pq":
        return SentenceVectors(
            np.asarray(np.load(folder / "sentence_codes.npy", mmap_mode="r")),
            pq=faiss.read_ProductQuantizer(str(folder / "sentences.pq")),
        )
    return SentenceVectors(
        np.asarray(np.load(folder / "sentences.npy", mmap_mode="r")),
        np.load(folder / "sentence_scale.npy"),
    )
