"""Embedding speed and agreement of each backend and precision, against torch float32.

    .venv/bin/python -m benchmarks.embedding [--passages 200] [--runs 3] [--threads 2]
    .venv/bin/python -m benchmarks.embedding --variants onnx-int8,e5-onnx-int8

Embeds a sample of real squad_v11_dev passages (and their sentences) with every backend, the
runs interleaved so that each run's ratio against the first variant (torch float32 by default)
is measured under the same load (the machine is shared); ``--chunks K`` interleaves within a run
too (the models take turns on K parts of the passages), and passages per CPU-second (the
process's CPU time, all threads) measures the work, which the other processes' load changes
less than the wall clock. A variant is ``backend-precision`` for
the bundled MiniLM, ``e5-backend-precision`` for multilingual-e5-small; cosines and neighbour
agreement are against the first variant of the same model. Prints passages/s and tokens/s
(min/median/max over runs), the ratio of medians, the latency of one short question (p50/p95),
the cosine of each backend's vectors with the reference and how often the top-10 / top-1
neighbours of the questions agree with it, and,
in a fresh process per backend, the time to import and load the model and the resident memory
after embedding one question.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.query_vectors import query_vectors as encode_all
from index.embedder import Embedder
from index.models import BUNDLED_MODEL, E5_MODEL

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "squad_v11_dev"
VARIANTS = ["torch-float32", "torch-bfloat16", "onnx-float32", "onnx-int8"]
Variant = tuple[str, str, str]  # model, backend, precision


def parse_variant(text: str) -> Variant:
    """``onnx-int8`` (MiniLM) or ``e5-onnx-int8`` (multilingual-e5-small)."""
    model = BUNDLED_MODEL
    if text.startswith("e5-"):
        model, text = E5_MODEL, text[3:]
    backend, precision = text.split("-", 1)
    return model, backend, precision


def label(v: Variant) -> str:
    return ("e5 " if v[0] == E5_MODEL else "") + v[1]


_LOAD_SCRIPT = """
import json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from index.embedder import Embedder
e = Embedder(sys.argv[5], backend=sys.argv[1], precision=sys.argv[2], threads=int(sys.argv[3]),
             onnx_cache=Path(sys.argv[4]))
t1 = time.perf_counter()
e.encode_query("Who won the game?")
t2 = time.perf_counter()
rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
print(json.dumps({"load_s": t1 - t0, "first_query_s": t2 - t1, "rss_mb": rss,
                  "torch": "torch" in sys.modules}))
"""


def sample(n: int, questions: int) -> tuple[list[str], list[str], list[str]]:
    """Every k-th passage of the data set (an even sample), its sentences, and questions about
    the sampled passages."""
    rows = [json.loads(line) for line in (DATA / "passages.jsonl").open()]
    step = max(1, len(rows) // n)
    chosen = rows[::step][:n]
    ids = {r["id"] for r in chosen}
    import pysbd

    seg = pysbd.Segmenter(language="en", clean=False)
    sentences = [s.strip() for r in chosen[: n // 4] for s in seg.segment(r["text"]) if s.strip()]
    qs = [json.loads(line) for line in (DATA / "questions.jsonl").open()]
    asked = [q["question"] for q in qs if q["passage_ids"][0] in ids]
    qstep = max(1, len(asked) // questions)
    return [r["text"] for r in chosen], sentences, asked[::qstep][:questions]


def passage_times(
    models: dict[Variant, Embedder],
    passages: list[str],
    chunks: int,
    vectors: dict[Variant, np.ndarray],
) -> tuple[dict[Variant, float], dict[Variant, float]]:
    """Wall and CPU seconds (all the process's threads) each model takes to embed
    ``passages``, in ``chunks`` parts with the models taking turns, first in turn, on each part:
    the machine's load, which drifts, falls on every model alike. Each model's vectors go to
    ``vectors``."""
    wall = dict.fromkeys(models, 0.0)
    cpu = dict.fromkeys(models, 0.0)
    parts: dict[Variant, list[np.ndarray]] = {v: [] for v in models}
    size = -(-len(passages) // max(1, chunks))
    for n, start in enumerate(range(0, len(passages), size)):
        order = list(models)[n % len(models) :] + list(models)[: n % len(models)]
        for v in order:
            c0, t0 = time.process_time(), time.perf_counter()
            parts[v].append(models[v].encode_passages(passages[start : start + size]))
            wall[v] += time.perf_counter() - t0
            cpu[v] += time.process_time() - c0
    for v in models:
        vectors[v] = np.concatenate(parts[v])
    return wall, cpu


def spread(values: list[float]) -> str:
    return f"{min(values):,.0f} / {statistics.median(values):,.0f} / {max(values):,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--onnx-cache", type=Path, default=ROOT / "index" / "onnx")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--chunks", type=int, default=1, help="parts of the passages the models take turns on"
    )
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variants.split(",")]
    first = variants[0]
    # Each variant's vectors are compared with the first variant of its model.
    reference = {v: next(r for r in variants if r[0] == v[0]) for v in variants}

    passages, sentences, questions = sample(args.passages, args.questions)
    models = {
        v: Embedder(
            v[0], backend=v[1], precision=v[2], threads=args.threads, onnx_cache=args.onnx_cache
        )
        for v in variants
    }
    base = models[first]
    tokens = base.count_tokens(passages)
    sentence_tokens = base.count_tokens(sentences)
    model_tokens = {v: models[v].count_tokens(passages) for v in variants}
    print(
        f"{len(passages)} passages ({tokens:,} tokens, {tokens / len(passages):.0f} per passage), "
        f"{len(sentences)} sentences ({sentence_tokens:,} tokens), {len(questions)} questions; "
        f"{args.threads} threads, batch {base.batch_size}, {args.runs} runs"
    )
    for e in models.values():  # warm up
        e.encode_passages(passages[:16])
    speed: dict[Variant, list[float]] = {v: [] for v in variants}
    cpu_speed: dict[Variant, list[float]] = {v: [] for v in variants}
    sentence_speed: dict[Variant, list[float]] = {v: [] for v in variants}
    ratios: dict[Variant, list[float]] = {v: [] for v in variants}
    vectors: dict[Variant, np.ndarray] = {}
    for _ in range(args.runs):
        wall, cpu = passage_times(models, passages, args.chunks, vectors)
        for v, e in models.items():
            t1 = time.perf_counter()
            e.encode_passages(sentences)
            t2 = time.perf_counter()
            speed[v].append(len(passages) / wall[v])
            cpu_speed[v].append(len(passages) / cpu[v])
            sentence_speed[v].append(sentence_tokens / (t2 - t1))
        for v in variants:
            ratios[v].append(wall[first] / wall[v])

    latency: dict[Variant, list[float]] = {v: [] for v in variants}
    query_vectors = {}
    for v, e in models.items():
        e.encode_query(questions[0])
        for q in questions:
            t0 = time.perf_counter()
            e.encode_query(q)
            latency[v].append((time.perf_counter() - t0) * 1000)
        query_vectors[v] = encode_all(e, questions)

    print()
    print(
        "| backend | precision | passages/s min/med/max | tokens/s min/med/max "
        f"| x {label(first)} {first[2]} (median of per-run passages/s ratios) "
        f"| passages per CPU-second (x {label(first)} {first[2]}) "
        "| sentences tok/s (med) | query p50 / p95 ms | cosine min / mean "
        "| top-10 agree | top-1 agree |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        ref = reference[v]
        ref_top = np.argsort(-(query_vectors[ref] @ vectors[ref].T), 1)
        tok = [s * model_tokens[v] / len(passages) for s in speed[v]]
        cos = (vectors[v] * vectors[ref]).sum(axis=1)
        top = np.argsort(-(query_vectors[v] @ vectors[v].T), 1)
        agree10 = np.mean(
            [len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(top, ref_top, strict=True)]
        )
        agree1 = float(np.mean(top[:, 0] == ref_top[:, 0]))
        lat = np.percentile(latency[v], [50, 95])
        cpu_ratio = statistics.median(cpu_speed[v]) / statistics.median(cpu_speed[first])
        print(
            f"| {label(v)} | {v[2]} | {spread(speed[v])} | {spread(tok)} | "
            f"{statistics.median(ratios[v]):.2f} | {statistics.median(cpu_speed[v]):,.1f} "
            f"({cpu_ratio:.2f}) | {statistics.median(sentence_speed[v]):,.0f} | "
            f"{lat[0]:.1f} / {lat[1]:.1f} | {cos.min():.4f} / {cos.mean():.5f} | "
            f"{agree10:.3f} | {agree1:.3f} |"
        )

    print()
    print(
        "| backend | precision | import + load s (min/med/max) | first query ms | RSS MB "
        "| torch imported |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "load.py"
        script.write_text(_LOAD_SCRIPT)
        for v in variants:
            rows = []
            for _ in range(args.runs):
                done = subprocess.run(
                    [
                        sys.executable,
                        str(script),
                        v[1],
                        v[2],
                        str(args.threads),
                        str(args.onnx_cache),
                        v[0],
                    ],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    check=True,
                    env={
                        "PYTHONPATH": str(ROOT),
                        "PATH": "/usr/bin:/bin",
                        "HOME": str(Path.home()),
                    },
                )
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            load = [r["load_s"] for r in rows]
            first = statistics.median(r["first_query_s"] for r in rows) * 1000
            print(
                f"| {label(v)} | {v[2]} | {min(load):.2f} / {statistics.median(load):.2f} / "
                f"{max(load):.2f} | {first:.1f} "
                f"| {statistics.median(r['rss_mb'] for r in rows):.0f} | {rows[0]['torch']} |"
            )


if __name__ == "__main__":
    main()
