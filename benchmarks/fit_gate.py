"""Fit the relevance gate (index/ranking.py: ``GateModel``) for the configured embedding model,
and report it on held-out questions.

    .venv/bin/python -m benchmarks.fit_gate ../shared/data/squad_v11_dev --config e5.toml \\
        --index /tmp/squad-e5 [--limit 2000] [--out /tmp/gate.jsonl]
    ... --questions evaluation/multilingual/squad_fr.jsonl --out /tmp/gate-fr.jsonl

Every question of an even sample is retrieved as it is (answerable) and with its whole article
hidden (unanswerable), and the 52 everyday questions of evaluation/everyday.txt as they are; the
gate's three features (best passage cosine, its best sentence's, coverage) are recorded. A
logistic model is fitted on the questions of the ``fit`` half (``gate_eval.split_of``: a hash
of the id) and reported on the ``held_out`` half: AUC, and at the configured ``hedge`` and
``gate`` the share of answerable questions declined and of hidden-article and everyday
questions answered, for the gate in force and for the fitted one.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np

from bot.config import load_config
from bot.runtime import make_embedder
from index.eval_data import load_questions
from index.evaluate import open_dataset_engine
from index.gate_eval import in_articles, split_of
from index.ranking import GateModel, gate_model, relevance

ROOT = Path(__file__).resolve().parent.parent


def collect(args: argparse.Namespace) -> list[dict[str, object]]:
    config = load_config(args.config) if args.config else load_config(ROOT / "config.toml")
    embedder = make_embedder(config)
    engine = open_dataset_engine(
        args.data_dir, embedder, config.build, config.retrieval, args.index
    )
    rows: list[dict[str, object]] = []
    for q in load_questions(args.questions or args.data_dir / "questions.jsonl", args.limit):
        gold = {p.split("#", 1)[0] for p in q.passage_ids}
        hidden = engine.hiding(functools.partial(in_articles, gold))
        for label, view in ((1, engine), (0, hidden)):
            found = view.retrieve(q.question, 1)
            rows.append({"split": split_of(q.qid), "answerable": label, "x": found.gate_features})
    for line in (ROOT / "evaluation" / "everyday.txt").read_text().splitlines():
        if line.strip():
            found = engine.retrieve(line.strip(), 1)
            rows.append({"split": "everyday", "answerable": 0, "x": found.gate_features})
    rows.append({"model": embedder.name})
    return rows


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The probability that an answerable question scores above an unanswerable one (ties
    count half)."""
    pos, neg = scores[labels == 1][:, None], scores[labels == 0][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def fit(
    x: np.ndarray, y: np.ndarray, use: tuple[bool, bool, bool] = (True, True, True)
) -> GateModel:
    """Logistic regression (Newton steps on the log-likelihood) of the features ``use`` keeps
    (the others get 0)."""
    design = np.hstack([x * np.array(use, dtype=np.float64), np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        gradient = design.T @ (y - p)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w += step
        if np.abs(step).max() < 1e-8:
            break
    a, b, c, intercept = (round(float(v), 3) for v in w)
    return GateModel((a, b, c), intercept)


def report(
    rows: list[dict[str, object]], gates: dict[str, GateModel], hedge: float, gate: float
) -> None:
    held = [r for r in rows if r.get("split") == "held_out"]
    everyday = [r for r in rows if r.get("split") == "everyday"]
    y = np.array([r["answerable"] for r in held])
    print(
        f"held-out: {int(y.sum())} answerable, {int((1 - y).sum())} hidden-article, "
        f"{len(everyday)} everyday"
    )
    print("| gate | AUC | threshold | answerable declined | hidden answered | everyday answered |")
    print("|---|---|---|---|---|---|")
    for name, model in gates.items():
        score = np.array([relevance(*r["x"], model) for r in held])  # type: ignore[misc]
        daily = np.array([relevance(*r["x"], model) for r in everyday])  # type: ignore[misc]
        for threshold in (hedge, gate):
            print(
                f"| {name} | {auc(score, y):.3f} | {threshold} | "
                f"{np.mean(score[y == 1] < threshold):.3f} | "
                f"{np.mean(score[y == 0] >= threshold):.3f} | {np.mean(daily >= threshold):.3f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--questions", type=Path, help="another questions.jsonl (translated)")
    parser.add_argument("--out", type=Path, help="keep the features (read back if present)")
    args = parser.parse_args()
    if args.out and args.out.is_file():
        rows = [json.loads(line) for line in args.out.read_text().splitlines()]
    else:
        rows = collect(args)
        if args.out:
            args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = str(rows[-1]["model"])
    config = load_config(args.config) if args.config else load_config(ROOT / "config.toml")
    train = [r for r in rows if r.get("split") == "fit"]
    x = np.array([r["x"] for r in train], dtype=np.float64)
    y = np.array([r["answerable"] for r in train], dtype=np.float64)
    fitted, across = fit(x, y), fit(x, y, (True, True, False))
    print(f"{model}: fitted on {len(train)} rows: {fitted}")
    print(f"without coverage (question and passage in different languages): {across}")
    report(
        rows,
        {
            "in force": gate_model(model),
            "fitted": fitted,
            "in force, across languages": gate_model(model, across=True),
            "fitted without coverage": across,
        },
        config.retrieval.hedge,
        config.retrieval.gate,
    )


if __name__ == "__main__":
    main()
