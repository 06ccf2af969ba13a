"""Milliseconds per answer (``engine.ask``, the question's embedding included) over a
squad_v11_dev index, for the tree on PYTHONPATH: median and p95 of N questions (an even sample),
after 20 to warm up. Compare two trees by running them alternately in one session (the machine
is noisy):

    PYTHONPATH=TREE .venv/bin/python -m benchmarks.answer_cost /tmp/squad-index 300 TREE
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bot.config import load_config
from bot.runtime import make_embedder
from index.eval_data import load_questions
from index.evaluate import open_dataset_engine

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad_v11_dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("index", type=Path)
    parser.add_argument("questions", type=int)
    parser.add_argument("tree", type=Path, help="the repository whose config.toml is used")
    args = parser.parse_args()
    config = load_config(args.tree / "config.toml")
    engine = open_dataset_engine(
        DATA,
        make_embedder(config),
        config.build_settings(),
        config.ranking_settings(),
        args.index,
    )
    questions = load_questions(DATA / "questions.jsonl", args.questions)
    for q in questions[:20]:
        engine.ask(q.question)
    times = []
    for q in questions:
        started = time.perf_counter()
        engine.ask(q.question)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    figures = {
        "tree": str(args.tree),
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(len(times) * 0.95)], 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
