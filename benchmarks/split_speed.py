"""What the split (``index.other_languages_model``) costs: English questions through
``Engine.ask`` with it off and on, interleaved in one process, and indexing passages/s of
MiniLM alone, the other model alone and both, on squad_v11_dev.

    .venv/bin/python -m benchmarks.split_speed --config split.toml --index IDX [--questions 500]
        [--passages 300] [--parts 1]
    .venv/bin/python -m benchmarks.split_speed --config split.toml --indexing-only \
        --passages 4496 --parts 8

Indexing builds whole indexes (chunking, embedding passages and sentences, keyword index,
files) of the first ``--passages`` squad documents, in ``--parts`` parts that the two models
take turns on; passages per CPU-second (the process's CPU time) measures the work, which the
machine's other load changes less than the wall clock.

``--config`` sets ``other_languages_model``; ``IDX`` holds a squad index of the config's model
and, in ``IDX/other``, one of the other model (``storybot --config split.toml eval DATA --index
IDX`` leaves both). The query cache is off, so every question is embedded.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import Config, load_config
from bot.runtime import make_embedder, make_other_embedder
from index.build import index_documents
from index.embedder import Embedder
from index.engine import Engine
from index.eval_data import load_passages, load_questions
from index.settings import BuildSettings
from index.store import IndexStore

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad_v11_dev"


def _latency(engines: dict[str, Engine], questions: list[str]) -> dict[str, tuple[float, float]]:
    """p50 and p95 ms of ``Engine.ask`` per engine, alternating which goes first."""
    times: dict[str, list[float]] = {name: [] for name in engines}
    for i, question in enumerate(questions):
        names = list(engines) if i % 2 else list(reversed(engines))
        for name in names:
            started = time.perf_counter()
            engines[name].ask(question)
            times[name].append((time.perf_counter() - started) * 1000)
    return {n: (statistics.median(v), statistics.quantiles(v, n=20)[18]) for n, v in times.items()}


def _indexing(
    minilm: Embedder, other: Embedder, documents: int, build: BuildSettings, parts: int
) -> dict[str, tuple[int, float, float]]:
    """Per model: passages indexed, wall and CPU seconds (the process's, all threads). The
    documents are indexed in ``parts`` parts, each into a fresh folder by both models in turn,
    the first in turn alternating, so that the machine's drifting load falls on both alike."""
    chosen = load_passages(DATA)[:documents]
    size = -(-len(chosen) // max(1, parts))
    totals = {"MiniLM": [0, 0.0, 0.0], "other": [0, 0.0, 0.0]}
    for n, start in enumerate(range(0, len(chosen), size)):
        turns = [("MiniLM", minilm), ("other", other)]
        for name, embedder in turns if n % 2 == 0 else turns[::-1]:
            with tempfile.TemporaryDirectory() as tmp:
                cpu, wall = time.process_time(), time.perf_counter()
                report = index_documents(
                    chosen[start : start + size],
                    Path(tmp) / "index",
                    embedder.name,
                    lambda e=embedder: e,
                    build,
                )
                totals[name][1] += time.perf_counter() - wall
                totals[name][2] += time.process_time() - cpu
                totals[name][0] += report.passages
    return {name: (int(t[0]), t[1], t[2]) for name, t in totals.items()}


def _print_indexing(figures: dict[str, tuple[int, float, float]], documents: int) -> None:
    (count, wall, cpu), (_, wall_o, cpu_o) = figures["MiniLM"], figures["other"]
    print(
        f"indexing {documents} documents ({count} passages and their sentences), models taking "
        f"turns: MiniLM alone {count / wall:.1f} passages/s ({count / cpu:.1f} per CPU-second), "
        f"the other model alone {count / wall_o:.1f} ({count / cpu_o:.1f}): "
        f"x{wall / wall_o:.3f} (CPU x{cpu / cpu_o:.3f}); both, as the split indexes, "
        f"{count / (wall + wall_o):.1f} passages/s (x{wall / (wall + wall_o):.3f}, CPU "
        f"x{cpu / (cpu + cpu_o):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--passages", type=int, default=300, help="squad documents to index")
    parser.add_argument("--parts", type=int, default=1, help="parts the models take turns on")
    parser.add_argument(
        "--indexing-only", action="store_true", help="skip the questions (no --index needed)"
    )
    args = parser.parse_args()
    config = load_config(args.config, environ={})
    minilm = make_embedder(config, query_cache=0)
    other = make_other_embedder(config, query_cache=0)
    if other is None:
        parser.error("the config does not set index.other_languages_model")
    if not args.indexing_only:
        if args.index is None:
            parser.error("--index is needed for the questions (or --indexing-only)")
        _questions(args.index, minilm, other, config, args.questions)
    minilm.encode_passages(["warm up"])
    other.encode_passages(["warm up"])
    figures = _indexing(minilm, other, args.passages, config.build, args.parts)
    _print_indexing(figures, args.passages)


def _questions(index: Path, minilm: Embedder, other: Embedder, config: Config, n: int) -> None:
    """English questions through ``Engine.ask`` with the split off and on, interleaved."""
    engines = {
        "off": Engine(IndexStore.load(index, minilm.name), minilm, config.retrieval),
        "on": Engine(IndexStore.load(index, minilm.name), minilm, config.retrieval),
    }
    other_store = IndexStore.load(index / "other", other.name)
    engines["on"].other = Engine(other_store, other, config.retrieval)
    questions = [q.question for q in load_questions(DATA / "questions.jsonl", 2000)][1::4]
    figures = _latency(engines, questions[:n])
    off, on = figures["off"], figures["on"]
    print(
        f"{min(len(questions), n)} English questions, Engine.ask p50 / p95: "
        f"off {off[0]:.2f} / {off[1]:.2f} ms, on {on[0]:.2f} / {on[1]:.2f} ms "
        f"(on/off {on[0] / off[0]:.3f} / {on[1] / off[1]:.3f})"
    )


if __name__ == "__main__":
    main()
