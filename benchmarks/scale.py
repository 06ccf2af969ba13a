"""Search at scale: build, disk, start-up, memory, latency and ANN recall at 100k-1M passages.

    .venv/bin/python -m benchmarks.scale --passages 100000 --real-index /tmp/sq4
    nice -n 15 .venv/bin/python -m benchmarks.scale --passages 1000000 --real-index /tmp/sq4 \
        --keep /tmp/scale1m --build-only
    .venv/bin/python -m benchmarks.scale --keep /tmp/scale1m --reuse --queries 200
    .venv/bin/python -m benchmarks.scale --passages 100000 --real-index /tmp/sq \
        --other-real-index /tmp/sq/other --embedding onnx-int8 --keep /tmp/s100k --build-only

The corpus is generated here, in a temporary folder that is deleted afterwards (``--keep DIR``
keeps it: the index in DIR/index, the generated passage vectors and the FAISS index built from
them in DIR, so a second build of the same corpus skips the HNSW graph; ``--reuse`` measures the
query side of a kept index without building anything; ``--build-only`` stops after the build):

* the real passages and their REAL all-MiniLM-L6-v2 vectors (passage and sentence vectors) are
  taken from an existing index (``--real-index``, e.g. the squad_v11_dev eval index), or
  ``--sample`` squad_v11_dev passages are embedded here when none is given;
* the rest are variations of them: each takes about half the sentences of a real passage and
  the rest from other passages of the same article, shuffled (so BM25's statistics stay
  realistic); a variation's sentence vectors are the real vectors of its sentences plus small
  gaussian noise, re-normalised, and its passage vector mixes the real passage vector with the
  mean of its sentences' vectors, plus noise, re-normalised. So every vector is a perturbed
  copy of a real embedding: say so beside the figures.

With ``--other-real-index`` (the split's other-languages index of the same squad corpus, e.g.
``/tmp/sq/other``), the same generated passages get a second generation, in DIR/index/other,
from that index's multilingual-e5-small vectors (varied the same way), and the whole engine is
timed with the split on: the squad questions in English (answered by MiniLM) and the French
translations of evaluation/multilingual/squad_fr.jsonl (answered by e5), against the engine
without the split in the same run.

Queries are real squad_v11_dev questions embedded with the real model. Latencies are p50/p95
over the queries, min/median/max over ``--runs`` runs; every speed-up is a ratio against the
exact path measured in the same run. Start-up and resident memory are measured in fresh
subprocesses (``--startup-runs`` each: without the model, the question vectors given; and with
the ONNX query embedder the bot can serve with, when its export is in index/onnx).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from benchmarks.query_vectors import query_vectors
from benchmarks.rewrite_index import add_rescore_options, rescore_below
from index.ann import AnnSettings
from index.encoder import GivenVectors
from index.engine import Engine
from index.keyword import tokenize
from index.lexicon import Lexicon
from index.passages import Passage
from index.postings import gather_ranges
from index.store import GenerationContents, IndexStore, write_generation_with_index
from index.terms import LexiconParts, analyse
from index.vector_index import make_faiss_index

if TYPE_CHECKING:
    from index.embedder import Embedder

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad_v11_dev"
FRENCH = ROOT / "evaluation" / "multilingual" / "squad_fr.jsonl"
MODEL = "bundled:all-MiniLM-L6-v2"
# How the real vectors were made, and so how questions are embedded (--embedding): the index
# records it, as storybot's own indexes do.
EMBEDDING = {"backend": "torch", "precision": "float32"}


def model_id() -> str:
    from index.models import embedding_id

    return embedding_id(MODEL, EMBEDDING["precision"], EMBEDDING["backend"])


def rss_bytes(kind: str = "VmRSS") -> int:
    """Resident memory of this process from /proc: VmRSS (all), RssAnon (the process's own
    memory) or RssFile (pages of memory-mapped files, shared with the page cache)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return int(line.split()[1]) * 1024
    return 0


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def real_base(
    real_index: Path | None, sample: int
) -> tuple[list[Passage], np.ndarray, np.ndarray, np.ndarray]:
    """Real passages with their real passage vectors, sentence vectors and sentence offsets."""
    if real_index is not None:
        store = IndexStore.load(real_index, verify=False)
        passages = list(store.passages)
        vectors = store.passage_vectors(range(len(passages))).astype(np.float32)
        sentences = store.sentence_vectors[0 : len(store.sentence_vectors)]
        return passages, vectors, sentences, np.asarray(store.offsets, dtype=np.int64)
    from index.build_vectors import embedding_text
    from index.chunking import chunk_document
    from index.embedder import Embedder
    from index.eval_data import load_passages

    documents = load_passages(SQUAD)[:sample]
    passages = [p for d in documents for p in chunk_document(d, 220, 1, 40)]
    embedder = Embedder(MODEL)
    print(f"embedding {len(passages)} real squad passages and their sentences ...", flush=True)
    vectors = embedder.encode_passages([embedding_text(p) for p in passages])
    sentences = embedder.encode_passages([s for p in passages for s in p.sentences])
    offsets = np.zeros(len(passages) + 1, np.int64)
    offsets[1:] = np.cumsum([len(p.sentences) for p in passages])
    return passages, vectors, sentences, offsets


def generate(
    total: int,
    base: tuple[list[Passage], np.ndarray, np.ndarray, np.ndarray],
    work: Path,
    seed: int,
) -> dict[str, object]:
    """``total`` passages (the real ones first, then variations), their vectors and term ids."""
    passages, vectors, sentences, offsets = base
    rng = np.random.default_rng(seed)
    d = vectors.shape[1]
    n_base = len(passages)
    by_title: dict[str, list[int]] = defaultdict(list)
    for row, p in enumerate(passages):
        by_title[p.title].extend(range(int(offsets[row]), int(offsets[row + 1])))
    flat_text = [s for p in passages for s in p.sentences]
    # Every word of the base texts as a term id (index/terms.py): a generated passage's words
    # are its title's, its section's and its sentences', so they are copied, not re-analysed.
    vocabulary: dict[str, int] = {}

    def term_ids(text: str) -> np.ndarray:
        return np.array(
            [vocabulary.setdefault(t, len(vocabulary)) for t in analyse(text)], dtype=np.int64
        )

    pieces = (
        [term_ids(s) for s in flat_text]
        + [term_ids(p.title) for p in passages]
        + [term_ids(p.section) for p in passages]
    )
    piece_ends = np.cumsum([len(x) for x in pieces])
    piece_starts = piece_ends - [len(x) for x in pieces]
    source_ids = np.concatenate(pieces)
    n_sent = len(flat_text)

    sources: list[np.ndarray] = []  # base sentence rows of each passage
    out_passages: list[Passage] = []
    bases = np.concatenate(
        [np.arange(min(total, n_base)), rng.integers(0, n_base, max(0, total - n_base))]
    )
    for i, b in enumerate(bases):
        b = int(b)
        own = np.arange(int(offsets[b]), int(offsets[b + 1]))
        if i < n_base or not len(own):
            rows = own
            passage = passages[b]
        else:
            keep = rng.permutation(own)[: max(1, (len(own) + 1) // 2)]
            pool = by_title[passages[b].title]
            extra = rng.choice(pool, len(own) - len(keep)) if len(own) > len(keep) else []
            rows = rng.permutation(np.concatenate([keep, np.asarray(extra, np.int64)]))
            base_p = passages[b]
            passage = Passage(
                passage_id=f"scale-{i:07d}",
                doc_id=f"scale/{base_p.doc_id}/{i // 10}",
                title=base_p.title,
                section=base_p.section,
                position=i % 10,
                sentences=tuple(flat_text[r] for r in rows),
            )
        sources.append(np.asarray(rows, np.int64))
        out_passages.append(passage)

    sentence_count = sum(len(r) for r in sources)
    out_offsets = np.zeros(total + 1, np.int64)
    out_offsets[1:] = np.cumsum([len(r) for r in sources])
    # Sentence vectors in a float16 file in the work folder (4.4 per passage: 3.4 GB at 1M).
    sent_out = np.lib.format.open_memmap(
        work / "sentence_vectors.npy", mode="w+", dtype=np.float16, shape=(sentence_count, d)
    )
    flat_sources = np.concatenate(sources)
    block = 262_144
    for start in range(0, sentence_count, block):
        src = flat_sources[start : start + block]
        v = sentences[src].astype(np.float32)
        rows = np.arange(start, start + len(src))
        synthetic = rows >= out_offsets[min(n_base, total)]
        noise = rng.standard_normal(v.shape, dtype=np.float32) * (0.25 / np.sqrt(d))
        v[synthetic] += noise[synthetic]
        sent_out[start : start + len(src)] = _normalise(v)
    sent_out.flush()
    pvec = np.empty((total, d), np.float32)
    pvec[: min(n_base, total)] = vectors[: min(n_base, total)]
    for start in range(n_base, total, block):
        stop = min(total, start + block)
        mean = np.stack(
            [sentences[sources[i]].astype(np.float32).mean(0) for i in range(start, stop)]
        )
        mixed = 0.5 * vectors[bases[start:stop]] + 0.5 * _normalise(mean)
        mixed += rng.standard_normal(mixed.shape, dtype=np.float32) * (0.25 / np.sqrt(d))
        pvec[start:stop] = _normalise(mixed)

    # parts of each passage: its base passage's title and section, then its sentences
    lengths = np.array([len(r) for r in sources], np.int64)
    part_counts = lengths + 2
    first = np.cumsum(part_counts) - part_counts
    piece = np.empty(int(part_counts.sum()), np.int64)
    is_sentence = np.ones(len(piece), bool)
    is_sentence[first] = False
    is_sentence[first + 1] = False
    piece[first] = n_sent + bases
    piece[first + 1] = n_sent + n_base + bases
    piece[is_sentence] = flat_sources
    part_ids = source_ids[gather_ranges(piece_starts[piece], piece_ends[piece])]
    terms = list(vocabulary)

    return {
        "passages": out_passages,
        "passage_vectors": pvec,
        "sentence_vectors": sent_out,
        "offsets": out_offsets,
        "lexicon_parts": lambda: LexiconParts(
            terms, part_ids, piece_ends[piece] - piece_starts[piece], out_offsets
        ),
    }


def build(
    corpus: dict[str, object],
    folder: Path,
    ann: AnnSettings,
    cache: Path | None,
    model: str = "",
) -> dict[str, float]:
    """Write the generation of ``model`` (the benchmark's MiniLM when empty); the FAISS index
    is read from ``cache`` when it was built before for the same corpus and model (and saved
    there otherwise)."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    lexicon = Lexicon.build(corpus["lexicon_parts"]().ranked())  # type: ignore[operator]
    timings["keyword index from term ids (postings, document frequencies, forward)"] = (
        time.perf_counter() - t
    )
    passages: list[Passage] = corpus["passages"]  # type: ignore[assignment]
    pvec: np.ndarray = corpus["passage_vectors"]  # type: ignore[assignment]
    dense_file = None
    if cache is not None:
        key = f"{len(passages)}-{ann.hnsw_above}-{ann.hnsw_m}-{ann.ef_construction}"
        dense_file = cache / f"dense{'-other' if model else ''}-{key}.faiss"
    t = time.perf_counter()
    if dense_file is not None and dense_file.is_file():
        dense = faiss.read_index(str(dense_file))
        if hasattr(dense, "hnsw"):
            dense.hnsw.efSearch = ann.ef_search_for(len(passages))
        timings["FAISS index (read from the cache)"] = time.perf_counter() - t
    else:
        dense = make_faiss_index(pvec, ann)
        timings["FAISS index (built)"] = time.perf_counter() - t
        if dense_file is not None:
            faiss.write_index(dense, str(dense_file))
    documents: dict[str, dict[str, str]] = {}
    for p in passages:
        documents.setdefault(
            p.doc_id, {"title": p.title, "source": "", "date": "", "url": "", "fingerprint": ""}
        )
    t = time.perf_counter()
    contents = GenerationContents(
        model=model or model_id(),
        passages=passages,
        passage_vectors=pvec,
        sentence_vectors=corpus["sentence_vectors"],  # type: ignore[arg-type]
        offsets=corpus["offsets"],  # type: ignore[arg-type]
        lexicon=lexicon,
        documents=documents,
        corpus_fingerprint="scale-benchmark",
        settings_fingerprint="scale-benchmark",
    )
    write_generation_with_index(folder, contents, dense, ann)
    timings["write_generation (passages, sentence codes, files, checksums)"] = (
        time.perf_counter() - t
    )
    return timings


def disk_sizes(folder: Path) -> dict[str, int]:
    gen = folder / (folder / "CURRENT").read_text().strip()
    sizes: dict[str, int] = {}
    for path in sorted(gen.rglob("*")):
        if path.is_file():
            sizes[path.relative_to(gen).as_posix()] = path.stat().st_size
    return sizes


_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np
from pathlib import Path
from index.encoder import GivenVectors
from index.engine import Engine
from index.store import IndexStore
from benchmarks.scale import rss_bytes
folder, queries_file, mode = sys.argv[1], sys.argv[2], sys.argv[3]
data = json.loads(Path(queries_file).read_text())
vectors = np.load(queries_file + ".npy")
embedder = None
if mode != "none":
    from index.embedder import Embedder
    embedder = Embedder(
        "bundled:all-MiniLM-L6-v2", backend="onnx", precision=mode,
        onnx_cache=Path("index/onnx"),
    )
t_model = time.perf_counter()
store = IndexStore.load(Path(folder))
t_store = time.perf_counter()
engine = Engine(store, embedder or GivenVectors(store.manifest.model, data, vectors))
first = engine.ask(data[0])
t_first = time.perf_counter()
print("ready", flush=True)
rss_start, anon_start = rss_bytes(), rss_bytes("RssAnon")
for q in data:
    engine.ask(q)
print(json.dumps({
    "imports_and_model_s": t_model - t0, "store_load_s": t_store - t_model,
    "first_answer_s": t_first - t_store, "in_process_total_s": t_first - t0,
    "rss_after_start": rss_start, "rss_after_queries": rss_bytes(),
    "anon_after_start": anon_start, "anon_after_queries": rss_bytes("RssAnon"),
    "queries": len(data), "found": first.found,
}), flush=True)
"""


def startup(
    folder: Path, questions: list[str], vectors: np.ndarray, work: Path, mode: str
) -> dict[str, float]:
    """One fresh process: start to first answer, resident memory after it and after the
    questions. ``mode``: "none" (vectors given) or an ONNX precision for the query embedder."""
    qfile = work / "queries.json"
    qfile.write_text(json.dumps(questions))
    np.save(str(qfile) + ".npy", vectors)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(folder), str(qfile), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    ready = child.stdout.readline()
    to_first = time.perf_counter() - started
    rest = child.stdout.read()
    if child.wait() != 0 or ready.strip() != "ready":
        raise SystemExit(f"start-up subprocess failed: {ready}{rest}")
    result = json.loads(rest.strip().splitlines()[-1])
    result["wall_to_first_answer_s"] = to_first
    return result


def recall_against(found: Sequence, truth: Sequence, k: int) -> float:  # type: ignore[type-arg]
    """Mean share of each question's true top ``k`` among the rows found for it."""
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(found, truth, strict=True)]))


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def spread(values: list[float], digits: int = 2) -> str:
    return " / ".join(
        f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--real-index", type=Path, help="an index whose real vectors to vary")
    parser.add_argument(
        "--other-real-index",
        type=Path,
        help="the split's other-languages index of the same corpus: a second generation from it",
    )
    parser.add_argument(
        "--sample", type=int, default=400, help="squad passages to embed without --real-index"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--hnsw-above", type=int, default=AnnSettings().hnsw_above)
    parser.add_argument("--ef-search", type=int, default=AnnSettings().ef_search)
    parser.add_argument("--hnsw-m", type=int, default=AnnSettings().hnsw_m)
    parser.add_argument("--ef-construction", type=int, default=AnnSettings().ef_construction)
    parser.add_argument("--sentence-pq-above", type=int, default=AnnSettings().sentence_pq_above)
    add_rescore_options(parser)
    parser.add_argument("--keep", type=Path, help="build the index in DIR/index and keep it")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the index kept in --keep DIR, build nothing"
    )
    parser.add_argument("--build-only", action="store_true", help="stop after the build")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact-dense timings")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--embedding",
        choices=["torch-float32", "onnx-int8"],
        default="torch-float32",
        help="how --real-index's vectors were made (questions are embedded the same way)",
    )
    args = parser.parse_args()
    EMBEDDING["backend"], EMBEDDING["precision"] = args.embedding.split("-")
    ann = AnnSettings(
        hnsw_above=args.hnsw_above,
        hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction,
        ef_search=args.ef_search,
        sentence_pq_above=args.sentence_pq_above,
        rescore_below=rescore_below(args),
    )
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR")
    work = Path(tempfile.mkdtemp(prefix="storybot-scale-"))
    try:
        print(
            f"# scale benchmark: {os.cpu_count()} CPUs, faiss {faiss.__version__}, "
            f"load average {os.getloadavg()[0]:.1f} at the start"
        )
        print(
            "Vectors: real all-MiniLM-L6-v2 embeddings of squad_v11_dev passages/sentences and "
            "perturbed copies of them (gaussian noise, re-normalised); texts: real passages and "
            "sentence recombinations of them."
        )
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        folder = args.keep / "index" if args.keep else work / "index"
        vectors_file = (args.keep or work) / "passage_vectors.npy"
        if not args.reuse:
            build_step(args, ann, work, folder, vectors_file)
        report_disk(folder)
        if not args.build_only:
            measure(args, folder, np.load(vectors_file, mmap_mode="r"), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_step(
    args: argparse.Namespace, ann: AnnSettings, work: Path, folder: Path, vectors_file: Path
) -> None:
    t = time.perf_counter()
    base = real_base(args.real_index, args.sample)
    corpus = generate(args.passages, base, args.keep or work, args.seed)
    print(
        f"generated {args.passages:,} passages in {time.perf_counter() - t:.1f} s: "
        f"{len(corpus['sentence_vectors']):,} sentences"  # type: ignore[arg-type]
    )
    np.save(vectors_file, corpus["passage_vectors"])
    if folder.exists():
        shutil.rmtree(folder)
    t = time.perf_counter()
    timings = build(corpus, folder, ann, args.keep)
    total_build = time.perf_counter() - t
    print(
        f"\n## Build ({'approximate' if ann.approximate(args.passages) else 'exact'}: "
        f"hnsw_above={ann.hnsw_above}, M={ann.hnsw_m}, efConstruction={ann.ef_construction}, "
        f"efSearch={ann.ef_search_for(args.passages)}, "
        f"float16 re-scoring up to {ann.rescore_below:,} passages, "
        f"sentence PQ above {ann.sentence_pq_above:,} passages)"
    )
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.1f} s |")
    print(f"| total | {total_build:.1f} s |")
    (args.keep or work).joinpath("sentence_vectors.npy").unlink(missing_ok=True)
    if args.other_real_index is not None:
        build_other(args, ann, work, folder / "other", [p.passage_id for p in base[0]])


def build_other(
    args: argparse.Namespace, ann: AnnSettings, work: Path, folder: Path, base_ids: list[str]
) -> None:
    """The split's second generation: the same generated passages (same seed, same real
    passages), vectors varied from the other model's real ones."""
    t = time.perf_counter()
    base = real_base(args.other_real_index, args.sample)
    if [p.passage_id for p in base[0]] != base_ids:
        raise SystemExit(f"{args.other_real_index} does not hold the real index's passages")
    corpus = generate(args.passages, base, args.keep or work, args.seed)
    model = IndexStore.load(args.other_real_index, verify=False).manifest.model
    timings = build(corpus, folder, ann, args.keep, model)
    print(f"\n## Other-languages generation ({model}): {time.perf_counter() - t:.1f} s")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.1f} s |")
    (args.keep or work).joinpath("sentence_vectors.npy").unlink(missing_ok=True)


def report_disk(folder: Path) -> None:
    sizes = disk_sizes(folder)
    manifest = json.loads(
        (folder / (folder / "CURRENT").read_text().strip() / "manifest.json").read_text()
    )
    print(
        f"\n## Disk: {manifest['passage_count']:,} passages, {manifest['sentence_count']:,} "
        f"sentences, {manifest['faiss_type']}, sentence vectors {manifest['sentence_codec']}"
    )
    print("| file | MB | bytes per passage |")
    print("|---|---|---|")
    n = max(manifest["passage_count"], 1)
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        if size >= 100_000:
            print(f"| {name} | {size / 1e6:.1f} | {size / n:.1f} |")
    small = sum(v for v in sizes.values() if v < 100_000)
    print(f"| (other files, each < 0.1 MB) | {small / 1e6:.2f} | {small / n:.2f} |")
    total = sum(sizes.values())
    print(f"| **total** | **{total / 1e6:.1f}** | {total / n:.1f} |")


def measure(args: argparse.Namespace, folder: Path, pvec: np.ndarray, work: Path) -> None:
    from index.embedder import Embedder
    from index.eval_data import load_questions

    questions = [q.question for q in load_questions(SQUAD / "questions.jsonl", args.queries)]
    # One thread for FAISS and torch while timing single questions: on a shared, loaded
    # machine, OpenMP/torch worker threads waiting on each other inflate every figure.
    faiss.omp_set_num_threads(1)
    embedder = Embedder(MODEL, threads=1, onnx_cache=ROOT / "index" / "onnx", **EMBEDDING)
    qvec = query_vectors(embedder, questions)

    onnx = ROOT / "index" / "onnx"
    # The query embedder timed: ONNX in the index's own precision (int8 for an int8 index).
    onnx_precision = EMBEDDING["precision"] if EMBEDDING["backend"] == "onnx" else "float32"
    modes = ["none"] + ([onnx_precision] if onnx.is_dir() and any(onnx.iterdir()) else [])
    startup_modes = modes if args.startup_runs > 0 else []
    print(
        f"\n## Start-up to first answer and resident memory: {args.startup_runs} fresh "
        f"processes each, min / median / max (load average {os.getloadavg()[0]:.1f})"
    )
    print(
        "| query vectors | process start to first answer, s | imports + model, s "
        "| index load, s | first answer, ms | RSS after first answer, MiB (anonymous) "
        f"| RSS after {len(questions)} more questions, MiB (anonymous) |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode in startup_modes:
        runs = [startup(folder, questions, qvec, work, mode) for _ in range(args.startup_runs)]
        label = "given (no model)" if mode == "none" else f"ONNX {mode} query embedder"

        def col(key: str, scale: float = 1.0, runs: list[dict[str, float]] = runs) -> str:
            return spread([r[key] * scale for r in runs])

        print(
            f"| {label} | {col('wall_to_first_answer_s')} | {col('imports_and_model_s')} "
            f"| {col('store_load_s')} | {col('first_answer_s', 1000)} "
            f"| {spread([r['rss_after_start'] / 2**20 for r in runs], 0)} "
            f"({spread([r['anon_after_start'] / 2**20 for r in runs], 0)}) "
            f"| {spread([r['rss_after_queries'] / 2**20 for r in runs], 0)} "
            f"({spread([r['anon_after_queries'] / 2**20 for r in runs], 0)}) |"
        )

    store = IndexStore.load(folder, model_id())
    given = GivenVectors(model_id(), questions, qvec, fallback=embedder)
    engine = Engine(store, given)
    exact_index = faiss.IndexFlatIP(pvec.shape[1])
    exact_index.add(np.ascontiguousarray(pvec, dtype=np.float32))
    exact_store = IndexStore(
        store.folder,
        store.manifest,
        store.passages,
        exact_index,
        store.sentence_vectors,
        store.offsets,
        store.lexicon,
    )
    exact_store.rescore = np.asarray(pvec)  # exact cosines for the candidates' features
    exact_engine = Engine(exact_store, given)
    depth = engine.settings.depth

    # ANN recall against exact search, same queries and vectors.
    _, exact10 = exact_index.search(qvec, 10)
    ann10 = [store.search(v, 10) for v in qvec]
    _, exact100 = exact_index.search(qvec, depth)
    ann100 = [store.search(v, depth) for v in qvec]
    recall10 = recall_against(ann10, exact10, 10)
    recall100 = recall_against(ann100, exact100, depth)
    same_top = np.mean(
        [
            [h.passage.passage_id for h in engine.ask(q).hits[:1]]
            == [h.passage.passage_id for h in exact_engine.ask(q).hits[:1]]
            for q in questions[:100]
        ]
    )
    print(f"\n## Dense index: {store.manifest.faiss_type}, same {len(questions)} questions")
    served = "graph + float16 re-scoring" if store.rescore is not None else "graph alone"
    print(f"| recall@10 vs exact search, as served ({served}) | {recall10:.4f} |")
    print(f"| recall@{depth} vs exact | {recall100:.4f} |")
    print(f"| engine's first cited passage the same as with exact search | {same_top:.3f} |")
    if store.rescore is None and hasattr(store.dense, "storage"):
        # Served without re-scoring, the graph ranks by its 8-bit codes: exact search over the
        # same codes separates what the graph misses from what the quantisation moves.
        coded = faiss.IndexFlatIP(pvec.shape[1])
        coded.add(faiss.downcast_index(store.dense.storage).reconstruct_n(0, len(store)))
        _, coded10 = coded.search(qvec, 10)
        del coded
        print(
            "| recall@10 vs exact search over the index's own 8-bit vectors (the graph's "
            "misses alone) | "
            f"{recall_against(ann10, coded10, 10):.4f} |"
        )
        print(
            "| exact search over the 8-bit vectors vs exact search (the quantisation alone) | "
            f"{recall_against(coded10, exact10, 10):.4f} |"
        )

    onnx_embedder = None
    if onnx_precision in modes:
        onnx_embedder = Embedder(MODEL, backend="onnx", precision=onnx_precision, onnx_cache=onnx)
        # As the bot serves: one single-threaded session per core; the question is embedded on
        # one of them while its keywords are searched (Engine.retrieve).
        onnx_engine = Engine(store, onnx_embedder)
    timed = {
        "dense (index in use)": lambda i: engine.dense_rows(qvec[i], depth),
        "dense exact (IndexFlatIP)": lambda i: exact_engine.dense_rows(qvec[i], depth),
        "BM25 top 100 (posting lists, question tokenised)": lambda i: engine.keyword_rows(
            tokenize(questions[i]), depth
        ),
        "engine without embedding (retrieve + compose)": lambda i: engine.ask(questions[i]),
        "engine without embedding, exact dense": lambda i: exact_engine.ask(questions[i]),
    }
    if args.no_exact:
        del timed["dense exact (IndexFlatIP)"], timed["engine without embedding, exact dense"]
    if onnx_embedder is not None:
        timed[f"query embedding (ONNX {onnx_precision})"] = lambda i: onnx_embedder.encode_query(
            questions[i]
        )
        timed["whole engine with ONNX embedding"] = lambda i: onnx_engine.ask(questions[i])
    paths = {}
    if onnx_embedder is not None and (folder / "other").is_dir():
        paths = split_paths(folder / "other", store, onnx_embedder, questions)
        # French questions on their own, as the English ones above (each path in turn, below).
        french = "whole engine, split on, French questions (e5)"
        timed[f"{french}, on their own"] = paths[french]
    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _ in range(args.runs):
        for name, fn in timed.items():
            times = []
            for i in range(len(questions)):
                t = time.perf_counter()
                fn(i)
                times.append((time.perf_counter() - t) * 1000)
            results[name].append(percentiles(times))
    print(
        f"\n## Query latency, ms ({len(questions)} squad questions, min / median / max of "
        f"{args.runs} runs; load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print("| path | p50 | p95 | p50 ratio vs exact |")
    print("|---|---|---|---|")
    reference = {
        "dense (index in use)": "dense exact (IndexFlatIP)",
        "engine without embedding (retrieve + compose)": "engine without embedding, exact dense",
    }
    for name, values in results.items():
        p50 = [v[0] for v in values]
        p95 = [v[1] for v in values]
        ratio = ""
        if name in reference and reference[name] in results:
            ref = [v[0] for v in results[reference[name]]]
            ratio = spread([r / max(x, 1e-9) for x, r in zip(p50, ref, strict=True)]) + " x faster"
        print(f"| {name} | {spread(p50)} | {spread(p95)} | {ratio} |")
    if paths:
        measure_split(paths, len(questions), args.runs)
    print(f"\nresident memory of this benchmark process: {rss_bytes() / 2**20:.0f} MiB")


def split_paths(
    other: Path, store: IndexStore, embedder: Embedder, questions: list[str]
) -> dict[str, Callable[[int], object]]:
    """The whole engine without the split and with it on (the other generation in ``other``,
    its ONNX int8 e5 embedder), asked the English questions and their French translations."""
    from index.embedder import Embedder
    from index.eval_data import load_questions
    from index.models import E5_MODEL

    e5 = Embedder(E5_MODEL, backend="onnx", precision="int8", onnx_cache=ROOT / "index" / "onnx")
    alone = Engine(store, embedder)
    split = Engine(store, embedder)
    split.other = Engine(IndexStore.load(other, e5.name), e5)
    french = [q.question for q in load_questions(FRENCH, len(questions))]
    french = (french * (len(questions) // len(french) + 1))[: len(questions)]
    return {
        "whole engine, split off (English questions)": lambda i: alone.ask(questions[i]),
        "whole engine, split on, English questions (MiniLM)": lambda i: split.ask(questions[i]),
        "whole engine, split on, French questions (e5)": lambda i: split.ask(french[i]),
        "question embedding, English (MiniLM ONNX int8)": lambda i: embedder.encode_query(
            questions[i]
        ),
        "question embedding, French (e5 ONNX int8)": lambda i: e5.encode_query(french[i]),
    }


def measure_split(paths: dict[str, Callable[[int], object]], n: int, runs: int) -> None:
    """p50 / p95 of each path, the paths taking turns question by question (the first in turn
    rotating), so that the machine's drifting load falls on all alike; ratios against the
    first path, run by run."""
    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    names = list(paths)
    for _ in range(runs):
        times: dict[str, list[float]] = {name: [] for name in names}
        for i in range(n):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                t = time.perf_counter()
                paths[name](i)
                times[name].append((time.perf_counter() - t) * 1000)
        for name in names:
            results[name].append(percentiles(times[name]))
    base = results[names[0]]
    print(
        f"\n## The split, {n} questions, the paths taking turns question by question (min / "
        f"median / max of {runs} runs; load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print(f"| path | p50 | p95 | p50 / p95 x {names[0]}, run by run |")
    print("|---|---|---|---|")
    for name in names:
        p50 = [v[0] for v in results[name]]
        p95 = [v[1] for v in results[name]]
        ratios = " ".join(
            f"{v[0] / b[0]:.2f}/{v[1] / b[1]:.2f}"
            for v, b in zip(results[name], base, strict=True)
        )
        print(f"| {name} | {spread(p50)} | {spread(p95)} | {ratios} |")


if __name__ == "__main__":
    main()
