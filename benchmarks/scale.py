"""Search at scale: build, disk, start-up, memory, latency and ANN recall at 100k-1M passages.

    .venv/bin/python -m benchmarks.scale --passages 100000 --real-index /tmp/sq3
    .venv/bin/python -m benchmarks.scale --passages 1000000 --real-index /tmp/sq3

The corpus is generated here, in a temporary folder that is deleted afterwards (``--keep DIR``
keeps it):

* the real passages and their REAL all-MiniLM-L6-v2 vectors (passage and sentence vectors) are
  taken from an existing index (``--real-index``, e.g. the squad_v11_dev eval index), or
  ``--sample`` squad_v11_dev passages are embedded here when none is given;
* the rest are variations of them: each takes about half the sentences of a real passage and
  the rest from other passages of the same article, shuffled (so BM25's statistics stay
  realistic); a variation's sentence vectors are the real vectors of its sentences plus small
  gaussian noise, re-normalised, and its passage vector mixes the real passage vector with the
  mean of its sentences' vectors, plus noise, re-normalised. So every vector is a perturbed
  copy of a real embedding: say so beside the figures.

Queries are real squad_v11_dev questions embedded with the real model. Latencies are p50/p95
over the queries, min/median/max over ``--runs`` runs; every speed-up is a ratio against the
exact path measured in the same run. Start-up and resident memory are measured in a fresh
subprocess (with and without loading the model).
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
from pathlib import Path

import faiss
import numpy as np

from index.engine import Engine
from index.keyword import KeywordIndex, bigram_tokens, tokenize
from index.passages import Passage
from index.ranking import top_rows
from index.store import AnnSettings, IndexStore, write_generation

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad_v11_dev"
MODEL = "bundled:all-MiniLM-L6-v2"


def rss_bytes() -> int:
    """Resident memory of this process (VmRSS from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
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
    from index.build import embedding_text
    from index.chunking import chunk_document
    from index.embedder import Embedder
    from index.evaluate import load_passages

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
    """``total`` passages (the real ones first, then variations), their vectors and BM25 tokens."""
    passages, vectors, sentences, offsets = base
    rng = np.random.default_rng(seed)
    d = vectors.shape[1]
    n_base = len(passages)
    by_title: dict[str, list[int]] = defaultdict(list)
    for row, p in enumerate(passages):
        by_title[p.title].extend(range(int(offsets[row]), int(offsets[row + 1])))
    flat_text = [s for p in passages for s in p.sentences]
    title_of_sentence = [p.title for p in passages for _ in p.sentences]
    sentence_tokens = [tokenize(s) for s in flat_text]
    sentence_bigrams = [bigram_tokens(s) for s in flat_text]
    title_tokens = {t: tokenize(t) for t in by_title}
    title_bigrams = {t: bigram_tokens(t) for t in by_title}

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

    def passage_tokens(i: int, what: str) -> list[str]:
        title = out_passages[i].title
        head = (title_tokens if what == "words" else title_bigrams)[title]
        per = sentence_tokens if what == "words" else sentence_bigrams
        return head + [t for r in sources[i] for t in per[r]]

    return {
        "passages": out_passages,
        "passage_vectors": pvec,
        "sentence_vectors": sent_out,
        "offsets": out_offsets,
        "words": lambda: [passage_tokens(i, "words") for i in range(total)],
        "bigrams": lambda: [passage_tokens(i, "bigrams") for i in range(total)],
        "sentence_words": lambda: [
            title_tokens[title_of_sentence[r]] + sentence_tokens[r] for r in flat_sources
        ],
    }


def build(corpus: dict[str, object], folder: Path, ann: AnnSettings) -> dict[str, float]:
    timings: dict[str, float] = {}
    indexes = {}
    for name, key in (
        ("bm25", "words"),
        ("bm25_sentences", "sentence_words"),
        ("bm25_bigrams", "bigrams"),
    ):
        t = time.perf_counter()
        tokens = corpus[key]()  # type: ignore[operator]
        timings[f"{name} tokens"] = time.perf_counter() - t
        t = time.perf_counter()
        indexes[name] = KeywordIndex.build(tokens)
        timings[f"{name} build"] = time.perf_counter() - t
        del tokens
    passages: list[Passage] = corpus["passages"]  # type: ignore[assignment]
    documents: dict[str, dict[str, str]] = {}
    for p in passages:
        documents.setdefault(
            p.doc_id, {"title": p.title, "source": "", "date": "", "url": "", "fingerprint": ""}
        )
    t = time.perf_counter()
    write_generation(
        folder,
        model=MODEL,
        passages=passages,
        passage_vectors=corpus["passage_vectors"],  # type: ignore[arg-type]
        sentence_vectors=corpus["sentence_vectors"],  # type: ignore[arg-type]
        offsets=corpus["offsets"],  # type: ignore[arg-type]
        keyword=indexes["bm25"],
        sentence_keyword=indexes["bm25_sentences"],
        bigram_keyword=indexes["bm25_bigrams"],
        documents=documents,
        corpus_fingerprint="scale-benchmark",
        settings_fingerprint="scale-benchmark",
        hnsw_above=ann.hnsw_above,
        ann=ann,
    )
    timings["write_generation (FAISS, PQ, files)"] = time.perf_counter() - t
    return timings


def disk_sizes(folder: Path) -> dict[str, int]:
    gen = folder / (folder / "CURRENT").read_text().strip()
    sizes: dict[str, int] = defaultdict(int)
    for path in gen.rglob("*"):
        if path.is_file():
            rel = path.relative_to(gen).parts[0]
            sizes[rel] += path.stat().st_size
    return dict(sorted(sizes.items()))


_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np
from pathlib import Path
from index.engine import Engine
from index.store import IndexStore
from benchmarks.scale import rss_bytes
folder, queries_file, with_model = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
data = json.loads(Path(queries_file).read_text())
vectors = np.load(queries_file + ".npy")
embedder = None
if with_model:
    from index.embedder import Embedder
    embedder = Embedder("bundled:all-MiniLM-L6-v2")
t_model = time.perf_counter()
store = IndexStore.load(Path(folder), "bundled:all-MiniLM-L6-v2")
t_store = time.perf_counter()
engine = Engine(store, embedder)
first = engine.ask(data[0]) if with_model else engine.ask(data[0], vector=vectors[0])
t_first = time.perf_counter()
print("ready", flush=True)
rss_start = rss_bytes()
for q, v in zip(data, vectors):
    engine.ask(q, vector=v)
print(json.dumps({
    "imports_and_model_s": t_model - t0, "store_load_s": t_store - t_model,
    "first_answer_s": t_first - t_store, "in_process_total_s": t_first - t0,
    "rss_after_start": rss_start, "rss_after_queries": rss_bytes(),
    "queries": len(data), "found": first.found,
}), flush=True)
"""


def startup(
    folder: Path, questions: list[str], vectors: np.ndarray, work: Path, with_model: bool
) -> dict[str, float]:
    qfile = work / "queries.json"
    qfile.write_text(json.dumps(questions))
    np.save(str(qfile) + ".npy", vectors)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(folder), str(qfile), "1" if with_model else "0"],
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


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--real-index", type=Path, help="an index whose real vectors to vary")
    parser.add_argument(
        "--sample", type=int, default=400, help="squad passages to embed without --real-index"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hnsw-above", type=int, default=AnnSettings().hnsw_above)
    parser.add_argument("--ef-search", type=int, default=AnnSettings().ef_search)
    parser.add_argument("--hnsw-m", type=int, default=AnnSettings().hnsw_m)
    parser.add_argument("--keep", type=Path, help="build the index here and keep it")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-model-startup",
        dest="model_startup",
        action="store_false",
        help="measure start-up only without loading the model",
    )
    args = parser.parse_args()
    ann = AnnSettings(hnsw_above=args.hnsw_above, hnsw_m=args.hnsw_m, ef_search=args.ef_search)

    work = Path(tempfile.mkdtemp(prefix="storybot-scale-"))
    try:
        run(args, ann, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, ann: AnnSettings, work: Path) -> None:
    print(
        f"# scale benchmark: {args.passages:,} passages, {os.cpu_count()} CPUs, "
        f"faiss {faiss.__version__}"
    )
    print(
        "Vectors: real all-MiniLM-L6-v2 embeddings of squad_v11_dev passages/sentences and "
        "perturbed copies of them (gaussian noise, re-normalised); texts: real passages and "
        "sentence recombinations of them."
    )
    t = time.perf_counter()
    base = real_base(args.real_index, args.sample)
    corpus = generate(args.passages, base, work, args.seed)
    print(
        f"generated in {time.perf_counter() - t:.1f} s: "
        f"{len(corpus['sentence_vectors']):,} sentences"
    )  # type: ignore[arg-type]
    folder = args.keep or work / "index"
    t = time.perf_counter()
    timings = build(corpus, folder, ann)
    total_build = time.perf_counter() - t
    print(
        f"\n## Build ({'approximate' if ann.approximate(args.passages) else 'exact'}: "
        f"hnsw_above={ann.hnsw_above}, M={ann.hnsw_m}, efConstruction={ann.ef_construction}, "
        f"efSearch={ann.ef_search}, sentence PQ {ann.sentence_pq_bytes} bytes)"
    )
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.1f} s |")
    print(f"| total | {total_build:.1f} s |")
    sizes = disk_sizes(folder)
    print("\n## Disk")
    for name, size in sizes.items():
        print(f"| {name} | {size / 1e6:.1f} MB |")
    print(f"| total | {sum(sizes.values()) / 1e6:.1f} MB |")

    from index.embedder import Embedder
    from index.evaluate import load_questions

    questions = [q.question for q in load_questions(SQUAD / "questions.jsonl", args.queries)]
    # One thread for FAISS and torch while timing single questions: on a shared, loaded
    # machine, OpenMP/torch worker threads waiting on each other inflate every figure.
    faiss.omp_set_num_threads(1)
    embedder = Embedder(MODEL, threads=1)
    qvec = embedder.encode_queries(questions)
    pvec: np.ndarray = corpus["passage_vectors"]  # type: ignore[assignment]
    del corpus

    print("\n## Start-up to first answer, resident memory (fresh subprocess)")
    for with_model in (False, True) if args.model_startup else (False,):
        r = startup(folder, questions, qvec, work, with_model)
        label = "with model load (torch)" if with_model else "without model (vector given)"
        print(
            f"| {label} | process start to first answer {r['wall_to_first_answer_s']:.2f} s "
            f"(imports+model {r['imports_and_model_s']:.2f} s, "
            f"index load {r['store_load_s']:.3f} s, "
            f"first answer {r['first_answer_s'] * 1000:.1f} ms) | RSS after start "
            f"{r['rss_after_start'] / 2**20:.0f} MiB, after {r['queries']} more queries "
            f"{r['rss_after_queries'] / 2**20:.0f} MiB |"
        )

    store = IndexStore.load(folder, MODEL)
    engine = Engine(store, embedder)
    exact_index = faiss.IndexFlatIP(pvec.shape[1])
    exact_index.add(pvec)
    del pvec
    exact_store = IndexStore(
        store.folder,
        store.manifest,
        store.passages,
        exact_index,
        store.sentence_vectors,
        store.offsets,
        store.keyword,
        store.sentence_keyword,
        store.bigram_keyword,
        store.documents,
    )
    exact_engine = Engine(exact_store, embedder)
    depth = engine.settings.depth

    # ANN recall against exact search, same queries and vectors.
    _, exact10 = exact_index.search(qvec, 10)
    ann10 = [store.search(v, 10) for v in qvec]
    graph10 = store.dense.search(qvec, 10)[1]  # the graph alone, without re-scoring
    _, exact100 = exact_index.search(qvec, depth)
    ann100 = [store.search(v, depth) for v in qvec]
    recall10 = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ann10, exact10, strict=True)])
    recall100 = np.mean(
        [len(set(a) & set(e)) / depth for a, e in zip(ann100, exact100, strict=True)]
    )
    same_top = np.mean(
        [
            [h.passage.passage_id for h in engine.ask(q, vector=v).hits[:1]]
            == [h.passage.passage_id for h in exact_engine.ask(q, vector=v).hits[:1]]
            for q, v in zip(questions[:100], qvec[:100], strict=False)
        ]
    )
    print(f"\n## Dense index: {store.manifest.faiss_type}")
    graph_recall = np.mean(
        [len(set(a) & set(e)) / 10 for a, e in zip(graph10, exact10, strict=True)]
    )
    print(f"| recall@10 vs exact (as served: graph + float16 re-scoring) | {recall10:.4f} |")
    print(f"| recall@10 vs exact, graph over 8-bit vectors alone | {graph_recall:.4f} |")
    print(f"| recall@{depth} vs exact | {recall100:.4f} |")
    print(f"| engine's first cited passage the same as with exact search | {same_top:.3f} |")

    tokens = [tokenize(q) for q in questions]
    modes = {
        "dense (index in use)": lambda i: engine.dense_rows(qvec[i], depth),
        "dense exact (IndexFlatIP)": lambda i: exact_engine.dense_rows(qvec[i], depth),
        "BM25 (posting lists)": lambda i: engine.keyword_rows(tokenize(questions[i]), depth),
        "BM25 full scores (bm25s get_scores + top)": lambda i: top_rows(
            store.keyword.scores(tokens[i]), depth
        ),
        "engine without embedding": lambda i: engine.ask(questions[i], vector=qvec[i]),
        "engine without embedding, exact dense": lambda i: exact_engine.ask(
            questions[i], vector=qvec[i]
        ),
        "engine with embedding (torch fp32)": lambda i: engine.ask(questions[i]),
    }
    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _ in range(args.runs):
        for name, fn in modes.items():
            times = []
            for i in range(len(questions)):
                t = time.perf_counter()
                fn(i)
                times.append((time.perf_counter() - t) * 1000)
            results[name].append(percentiles(times))
    print(
        f"\n## Query latency, ms ({len(questions)} squad questions, min / median / max of "
        f"{args.runs} runs)"
    )
    print("| path | p50 | p95 | p50 ratio vs exact |")
    print("|---|---|---|---|")
    reference = {
        "dense (index in use)": "dense exact (IndexFlatIP)",
        "BM25 (posting lists)": "BM25 full scores (bm25s get_scores + top)",
        "engine without embedding": "engine without embedding, exact dense",
    }
    for name, values in results.items():
        p50 = [v[0] for v in values]
        p95 = [v[1] for v in values]
        ratio = ""
        if name in reference:
            ref = [v[0] for v in results[reference[name]]]
            ratio = spread([r / max(x, 1e-9) for x, r in zip(p50, ref, strict=True)]) + " x faster"
        print(f"| {name} | {spread(p50)} | {spread(p95)} | {ratio} |")
    print(f"\nresident memory of this benchmark process: {rss_bytes() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
