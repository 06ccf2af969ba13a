"""The floor under every reindex above ``index.hnsw_above`` passages: each new generation builds
its FAISS HNSW graph over all the passage vectors again, so even a one-story reindex pays it.

    .venv/bin/python -m benchmarks.graph_build --real-index /tmp/sq --passages 50000 100000 200000

For each size: the real passage vectors of ``--real-index`` (e.g. the squad_v11_dev eval index),
drawn again with gaussian noise and re-normalised (as benchmarks/scale.py does) up to that many,
then ``make_faiss_index`` with the shipped settings. Prints wall seconds, CPU seconds of the
process (every thread: the figure a busy machine distorts least) and the growth between sizes,
so the cost at a million passages can be estimated from smaller builds.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import faiss
import numpy as np

from index.ann import AnnSettings
from index.store import IndexStore
from index.vector_index import make_faiss_index


def vectors_like(real: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` unit vectors: the real ones first, then noisy copies of randomly drawn ones."""
    rng = np.random.default_rng(seed)
    d = real.shape[1]
    rows = np.concatenate([np.arange(min(count, len(real))), rng.integers(0, len(real), count)])
    out = real[rows[:count]].astype(np.float32)
    out[len(real) :] += rng.standard_normal(out[len(real) :].shape, np.float32) * (0.25 / d**0.5)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--real-index", type=Path, required=True)
    parser.add_argument("--passages", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    store = IndexStore.load(args.real_index, verify=False)
    real = store.passage_vectors(range(len(store))).astype(np.float32)
    ann = AnnSettings()
    print(f"# graph build: faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    print(f"# M {ann.hnsw_m}, efConstruction {ann.ef_construction}, {len(real):,} real vectors")
    print("| passages | wall s | CPU s | CPU s per 1,000 | growth of CPU s against size |")
    print("|---|---|---|---|---|")
    previous: tuple[int, float] | None = None
    for count in args.passages:
        vectors = vectors_like(real, count, args.seed)
        wall, cpu = time.perf_counter(), time.process_time()
        index = make_faiss_index(vectors, ann)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert index.ntotal == count
        growth = ""
        if previous is not None:
            exponent = math.log(cpu / previous[1]) / math.log(count / previous[0])
            growth = f"x{cpu / previous[1]:.2f} for x{count / previous[0]:.1f} (N^{exponent:.2f})"
        print(f"| {count:,} | {wall:.1f} | {cpu:.1f} | {1000 * cpu / count:.2f} | {growth} |")
        previous = (count, cpu)
        del index, vectors


if __name__ == "__main__":
    main()
