"""How much lower multilingual-e5 scores a passage in another language than the question's,
for the same meaning (``index.language_offset.CROSS_LANGUAGE_OFFSET``).

    .venv/bin/python -m benchmarks.fit_language_offset [--config config.toml] \\
        [--questions evaluation/multilingual/squad_fr.jsonl] [--limit 300]

Each hand-translated squad question, asked in French, scores its French wording and its
English wording embedded as passages: the mean difference is the offset (the first 300, the fit
half; ``--questions evaluation/multilingual/squad_fr_heldout.jsonl`` reports the held-out
ones). Also printed: the same for the other questions' wordings (distractors of matched
content), and for the English questions the other way round.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bot.config import load_config
from bot.runtime import make_other_embedder

ROOT = Path(__file__).resolve().parent.parent


def premiums(queries: np.ndarray, same: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Mean cosine with passages in the queries' language minus in the other, for each query's
    own wording (``matched``) and for the other queries' (``distractors``, and their best 3)."""
    n = len(queries)
    mine, theirs = queries @ same.T, queries @ other.T
    off = ~np.eye(n, dtype=bool)

    def best3(scores: np.ndarray) -> float:
        return float(np.sort(np.where(off, scores, -9.0), axis=1)[:, -3:].mean())

    return {
        "matched": round(float((np.diag(mine) - np.diag(theirs)).mean()), 4),
        "distractors": round(float((mine[off] - theirs[off]).mean()), 4),
        "best_3_distractors": round(best3(mine) - best3(theirs), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.toml")
    parser.add_argument(
        "--questions", type=Path, default=ROOT / "evaluation/multilingual/squad_fr.jsonl"
    )
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    embedder = make_other_embedder(load_config(args.config), query_cache=0)
    if embedder is None:
        raise SystemExit("index.other_languages_model is not set: no multilingual model")
    with args.questions.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines][: args.limit]
    french = [r["question"] for r in rows]
    english = [r["english"] for r in rows]
    asked = {
        "fr": np.stack([embedder.encode_query(t) for t in french]),
        "en": np.stack([embedder.encode_query(t) for t in english]),
    }
    worded = {"fr": embedder.encode_passages(french), "en": embedder.encode_passages(english)}
    print(json.dumps({"questions": len(rows), "file": str(args.questions)}))
    for language, other in (("fr", "en"), ("en", "fr")):
        figures = premiums(asked[language], worded[language], worded[other])
        print(json.dumps({"asked_in": language, **figures}))


if __name__ == "__main__":
    main()
