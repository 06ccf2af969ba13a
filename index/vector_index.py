"""The dense passage index: FAISS construction (exact, or HNSW over 8-bit vectors), its float16
re-scoring copies, and nearest-passage search.

Files of a generation: ``dense.faiss`` (normalised vectors, so inner product = cosine; a
vector's id is its passage's row) and, for an approximate index up to
``AnnSettings.rescore_below`` passages, ``dense_rescore.npy`` (the vectors as float16).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from .ann import AnnSettings

__all__ = ["make_faiss_index", "nearest", "read_vector_index", "stored_vectors", "write_vectors"]

_RESCORE_CANDIDATES = 40  # an approximate index proposes at least this many to re-score


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


def write_vectors(folder: Path, index: faiss.Index, vectors: np.ndarray, ann: AnnSettings) -> None:
    """dense.faiss, and dense_rescore.npy when ``ann`` re-scores an index of this size."""
    faiss.write_index(index, str(folder / "dense.faiss"))
    if ann.rescores(len(vectors)):
        # float16 copies of the vectors re-score the graph's candidates: 8-bit vectors
        # alone cap recall@10 near 0.97-0.99 (docs/performance.md).
        exact = np.lib.format.open_memmap(
            folder / "dense_rescore.npy", "w+", np.float16, vectors.shape
        )
        for start in range(0, len(vectors), 65536):
            exact[start : start + 65536] = vectors[start : start + 65536]
        exact.flush()
        del exact


def read_vector_index(folder: Path) -> tuple[faiss.Index, np.ndarray | None]:
    """The FAISS index of a generation and its float16 re-scoring vectors (None if it has
    none). The vectors (flat, or the 8-bit codes under the HNSW graph) are memory-mapped; only
    the graph's neighbour lists are read in."""
    dense = faiss.read_index(str(folder / "dense.faiss"), faiss.IO_FLAG_MMAP_IFC)
    rescore = None
    if (folder / "dense_rescore.npy").is_file():
        rescore = np.asarray(np.load(folder / "dense_rescore.npy", mmap_mode="r"))
    return dense, rescore


def stored_vectors(
    dense: faiss.Index, rescore: np.ndarray | None, rows: Sequence[int]
) -> np.ndarray:
    """Stored vectors of these passages (from FAISS, or their float16 copies)."""
    if not len(rows):
        return np.zeros((0, dense.d), dtype=np.float32)
    if rescore is not None:
        return rescore[np.asarray(rows, dtype=np.int64)].astype(np.float32)
    return dense.reconstruct_batch(np.asarray(rows, dtype=np.int64))


def nearest(
    dense: faiss.Index, rescore: np.ndarray | None, vector: np.ndarray, k: int, count: int
) -> list[int]:
    """The ``k`` rows (of ``count``) nearest to ``vector``, best first. With ``rescore``, the
    index proposes ``k`` candidates (at least 40), re-scored with the float16 vectors
    (proposing 2k gave the same recall@10 at 100k, 0.983, for 0.2 ms more a search)."""
    k = min(k, count)
    if k <= 0:
        return []
    query = np.ascontiguousarray(vector[None, :], dtype=np.float32)
    if rescore is None:
        _, ids = dense.search(query, k)
        return [int(i) for i in ids[0] if i >= 0]
    _, ids = dense.search(query, min(count, max(k, _RESCORE_CANDIDATES)))
    found = ids[0][ids[0] >= 0]
    scores = rescore[found].astype(np.float32) @ query[0]
    return [int(i) for i in found[np.argsort(-scores, kind="stable")[:k]]]
