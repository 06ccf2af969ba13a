"""What the split (``index.other_languages_model``) costs: English questions through
``Engine.ask`` with it off and on, interleaved in one process, and indexing passages/s of
MiniLM alone against MiniLM then the other model, on squad_v11_dev.

    .venv/bin/python -m benchmarks.split_speed --config split.toml --index IDX [--questions 500]
        [--passages 300]

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

from bot.config import load_config
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
    minilm: Embedder, other: Embedder, passages: int, build: BuildSettings
) -> tuple[int, float, float]:
    """Passages, and seconds to index them with MiniLM alone and with both models."""
    documents = load_passages(DATA)[:passages]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = index_documents(documents, Path(tmp) / "a", minilm.name, lambda: minilm, build)
        middle = time.perf_counter()
        index_documents(documents, Path(tmp) / "b", other.name, lambda: other, build)
        done = time.perf_counter()
    return report.passages, middle - started, done - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--passages", type=int, default=300)
    args = parser.parse_args()
    config = load_config(args.config, environ={})
    minilm = make_embedder(config, query_cache=0)
    other = make_other_embedder(config, query_cache=0)
    if other is None:
        parser.error("the config does not set index.other_languages_model")
    engines = {
        "off": Engine(IndexStore.load(args.index, minilm.name), minilm, config.retrieval),
        "on": Engine(IndexStore.load(args.index, minilm.name), minilm, config.retrieval),
    }
    other_store = IndexStore.load(args.index / "other", other.name)
    engines["on"].other = Engine(other_store, other, config.retrieval)
    questions = [q.question for q in load_questions(DATA / "questions.jsonl", 2000)][1::4]
    figures = _latency(engines, questions[: args.questions])
    off, on = figures["off"], figures["on"]
    print(
        f"{min(len(questions), args.questions)} English questions, Engine.ask p50 / p95: "
        f"off {off[0]:.2f} / {off[1]:.2f} ms, on {on[0]:.2f} / {on[1]:.2f} ms "
        f"(on/off {on[0] / off[0]:.3f} / {on[1] / off[1]:.3f})"
    )
    count, alone, both = _indexing(minilm, other, args.passages, config.build)
    print(
        f"indexing {count} passages: off {count / alone:.1f} passages/s, on "
        f"{count / both:.1f} passages/s (on/off {alone / both:.3f})"
    )


if __name__ == "__main__":
    main()
