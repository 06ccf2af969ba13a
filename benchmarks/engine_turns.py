"""The engine of two or more checkouts at a kept 100k index (benchmarks/scale.py --keep DIR),
the checkouts taking turns question by question (the first in turn rotating), each in its own
process, so that the machine's drifting load falls on all alike: p50 / p95 of "engine without
embedding (retrieve + compose)" and "whole engine with ONNX embedding", as benchmarks/scale.py
times them, and each checkout's ratios against the first, run by run.

    git worktree add /tmp/before COMMIT && cp -r index/onnx /tmp/before/index/
    .venv/bin/python -m benchmarks.engine_turns /tmp/s100k/index --queries 300 --runs 3 \\
        before=/tmp/before now=.

Each checkout's own code answers (its process imports it first); the index is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PATHS = ("engine without embedding", "whole engine")


def serve(root: Path, folder: Path, count: int) -> None:
    """A checkout's engine: answers "PATH INDEX" lines on stdin with the milliseconds taken."""
    sys.path.insert(0, str(root))
    import faiss

    import benchmarks.scale as scale
    from index.embedder import Embedder
    from index.engine import Engine
    from index.eval_data import load_questions
    from index.store import IndexStore

    faiss.omp_set_num_threads(1)
    scale.EMBEDDING["backend"], scale.EMBEDDING["precision"] = "onnx", "int8"  # the kept index's
    questions = [q.question for q in load_questions(scale.SQUAD / "questions.jsonl", count)]
    onnx = root / "index" / "onnx"
    embedder = Embedder(scale.MODEL, backend="onnx", precision="int8", onnx_cache=onnx)
    store = IndexStore.load(folder, scale.model_id())
    given = scale.GivenVectors(
        scale.model_id(), questions, scale.query_vectors(embedder, questions), fallback=embedder
    )
    engines = {PATHS[0]: Engine(store, given), PATHS[1]: Engine(store, embedder)}
    ask: dict[str, Callable[[int], object]] = {
        name: (lambda i, e=engine: e.ask(questions[i])) for name, engine in engines.items()
    }
    for i in range(min(20, count)):  # warm up
        for fn in ask.values():
            fn(i)
    print("ready", flush=True)
    for line in sys.stdin:
        name, index = line.rsplit(" ", 1)
        started = time.perf_counter()
        ask[name](int(index))
        print(f"{(time.perf_counter() - started) * 1000:.4f}", flush=True)


def spread(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("index", type=Path, help="the kept index folder (DIR/index)")
    parser.add_argument("trees", nargs="+", help="NAME=CHECKOUT, the first the reference")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.index, args.queries)
        return
    trees = {n: Path(p).resolve() for n, p in (t.split("=", 1) for t in args.trees)}
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                __file__,
                str(args.index),
                "x",
                "--queries",
                str(args.queries),
                "--serve",
                str(root),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            env=dict(os.environ, PYTHONPATH=str(root)),
        )
        for name, root in trees.items()
    }
    for name, proc in procs.items():
        assert proc.stdin
        assert proc.stdout
        if proc.stdout.readline().strip() != "ready":
            sys.exit(f"{name}: the engine did not start")
    names = list(trees)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print(f"# {len(names)} checkouts taking turns; load average {os.getloadavg()[0]:.1f}")
    for _ in range(args.runs):
        times: dict[tuple[str, str], list[float]] = {(n, p): [] for n in names for p in PATHS}
        for i in range(args.queries):
            for path in PATHS:
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    proc = procs[name]
                    assert proc.stdin
                    assert proc.stdout
                    proc.stdin.write(f"{path} {i}\n")
                    proc.stdin.flush()
                    times[(name, path)].append(float(proc.stdout.readline()))
        for key, values in times.items():
            p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
            results.setdefault(key, []).append((float(p50), float(p95)))
    print(
        f"\n## {args.queries} squad questions, ms, min / median / max of {args.runs} runs "
        f"(load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print(f"| path | checkout | p50 | p95 | x {names[0]}, p50 / p95, run by run |")
    print("|---|---|---|---|---|")
    for path in PATHS:
        base = results[(names[0], path)]
        for name in names:
            own = results[(name, path)]
            ratios = ", ".join(
                f"{a[0] / b[0]:.2f}/{a[1] / b[1]:.2f}" for a, b in zip(own, base, strict=True)
            )
            print(
                f"| {path} | {name} | {spread([v[0] for v in own])} "
                f"| {spread([v[1] for v in own])} | {ratios} |"
            )
    for proc in procs.values():
        assert proc.stdin
        proc.stdin.close()
        proc.wait()


if __name__ == "__main__":
    main()
