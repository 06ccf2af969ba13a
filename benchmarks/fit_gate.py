"""Fit the relevance gate (index/ranking.py: ``GateModel``) for the configured embedding models,
and report it on held-out questions, per language.

    .venv/bin/python -m benchmarks.fit_gate ../shared/data/squad_v11_dev --config e5.toml \\
        --index /tmp/squad-e5 [--limit 2000] [--out /tmp/gate.jsonl]
    # questions in other languages, through the shipped split (e5 answers them):
    .venv/bin/python -m benchmarks.fit_gate ../shared/data/squad_v11_dev --index /tmp/squad \\
        --limit 0 --questions evaluation/multilingual/squad_fr.jsonl \\
        --questions evaluation/multilingual/squad_ar.jsonl ... \\
        --everyday evaluation/multilingual/everyday_fr.txt ... --out /tmp/gate-across.jsonl

Every question of an even sample is retrieved as it is (answerable) and with its whole article
hidden (unanswerable), and the everyday questions (evaluation/everyday.txt unless ``--everyday``
names others) as they are; each is asked of the engine that answers it (``for_question``: with
the split, e5 for a question not in English), and the gate's three features (best passage
cosine, its best sentence's, coverage), the question's language and whether its best passage is
in another language are recorded. Logistic models are fitted on the questions of the ``fit``
half (``gate_eval.split_of``: a hash of the id) and reported on the ``held_out`` half, per
language: AUC, and at the configured ``hedge`` and ``gate`` the share of answerable questions
declined and of hidden-article and everyday questions answered, for the gate in force and the
fitted one. Questions whose passage is in their own language fit the model's gate (all three
features). Across languages coverage is left out, the cosine weights are fitted on the
``--slopes-from`` language (French) and, with them fixed, an intercept for each language
(``GateModel.languages``); any other language keeps French's.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.config import load_config
from bot.runtime import make_embedder, make_other_embedder
from index.engine import Engine
from index.eval_data import load_questions
from index.evaluate import open_dataset_engine
from index.gate_eval import in_articles, split_of
from index.language import languages_differ, question_language
from index.ranking import GateModel, gate_model, relevance

ROOT = Path(__file__).resolve().parent.parent
Row = dict[str, object]
MIN_ROWS = 20  # fewer held-out questions in a language (or fit rows for a model) say nothing


def collect(args: argparse.Namespace) -> list[Row]:
    config = load_config(args.config) if args.config else load_config(ROOT / "config.toml")
    build, ranking = config.build_settings(), config.ranking_settings()
    engine = open_dataset_engine(args.data_dir, make_embedder(config), build, ranking, args.index)
    other = make_other_embedder(config)
    if other is not None:  # the split, laid out as `storybot eval --index` lays it out
        engine.other = open_dataset_engine(
            args.data_dir, other, build, ranking, args.index / "other"
        )
    rows: list[Row] = []
    for path in args.questions or [args.data_dir / "questions.jsonl"]:
        for q in load_questions(path, args.limit):
            gold = {p.split("#", 1)[0] for p in q.passage_ids}
            hidden = engine.hiding(functools.partial(in_articles, gold))
            for label, view in ((1, engine), (0, hidden)):
                rows.append(_features(view, q.question, split_of(q.qid), label))
    for path in args.everyday or [ROOT / "evaluation" / "everyday.txt"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(_features(engine, line.strip(), "everyday", 0))
    return rows


def _features(engine: Engine, question: str, split: str, answerable: int) -> Row:
    """What the gate reads for ``question``, asked of the engine that answers it."""
    engine = engine.for_question(question)
    found = engine.retrieve(question, 1)
    lead = found.hits[0].passage.text if found.hits else ""
    return {
        "split": split,
        "answerable": answerable,
        "x": found.gate_features,
        "model": engine.store.manifest.model,
        "language": question_language(question),
        "across": bool(lead) and languages_differ(question, lead),
    }


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


def fit_intercept(x: np.ndarray, y: np.ndarray, coefficients: Sequence[float]) -> float:
    """The logistic intercept for fixed ``coefficients`` (Newton steps on one parameter)."""
    z = x @ np.asarray(coefficients, dtype=np.float64)
    b = -float(np.mean(z))
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(z + b)))
        step = float(np.sum(y - p)) / max(float(np.sum(p * (1 - p))), 1e-12)
        b += step
        if abs(step) < 1e-9:
            break
    return round(b, 3)


def fit_across(train: list[Row], slopes_from: str) -> GateModel:
    """The gate for questions in another language than their passage: cosine weights fitted
    without coverage on ``slopes_from``'s questions, then an intercept per language with them
    fixed; a language it has no questions in keeps ``slopes_from``'s. (The intercept fitted on
    every language together is printed too.)"""

    def arrays(rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([r["x"] for r in rows], dtype=np.float64)
        return x, np.array([r["answerable"] for r in rows], dtype=np.float64)

    base = fit(*arrays([r for r in train if r["language"] == slopes_from]), (True, True, False))
    languages = sorted({str(r["language"]) for r in train if r["language"]})
    intercepts = tuple(
        (
            code,
            fit_intercept(*arrays([r for r in train if r["language"] == code]), base.coefficients),
        )
        for code in languages
    )
    together = fit_intercept(*arrays(train), base.coefficients)
    print(f"one intercept for every language: {together}")
    return GateModel(base.coefficients, base.intercept, intercepts)


def in_force(row: Row) -> GateModel:
    """The gate the engine applies to this row (its model's, for its language)."""
    model = str(row["model"])
    if row["across"]:
        return gate_model(model, across=True).for_language(_language(row))
    return gate_model(model)


def _language(row: Row) -> str | None:
    return str(row["language"]) if row["language"] else None


def cosine_means(rows: list[Row]) -> None:
    """Per language, the mean cosines of the best passage and sentence, for questions with
    their article and with it hidden: how far a language shifts them."""
    print("| language | passage / sentence cosine, answerable | the same, article hidden |")
    print("|---|---|---|")
    for language in sorted({str(r["language"]) for r in rows}):
        mine = [r for r in rows if str(r["language"]) == language and r["split"] != "everyday"]
        if len(mine) < 2 * MIN_ROWS:
            continue
        means = [
            np.mean([r["x"] for r in mine if r["answerable"] == label], axis=0) for label in (1, 0)
        ]
        print(f"| {language} | " + " | ".join(f"{m[0]:.3f} / {m[1]:.3f}" for m in means) + " |")


def report(rows: list[Row], gates: dict[str, object], hedge: float, gate: float) -> None:
    """Per language (the language the question is told to be in): AUC and the shares at the
    two thresholds, on the held-out half. ``gates`` maps a name to a model, or to a function
    of the row that picks one."""
    print(
        "| language | gate | AUC | threshold | answerable declined | hidden answered "
        "| everyday answered |"
    )
    print("|---|---|---|---|---|---|---|")
    for language in sorted({str(r["language"]) for r in rows}):
        mine = [r for r in rows if str(r["language"]) == language]
        held = [r for r in mine if r["split"] == "held_out"]
        everyday = [r for r in mine if r["split"] == "everyday"]
        if len(held) < MIN_ROWS:
            continue
        y = np.array([r["answerable"] for r in held])
        for name, chosen in gates.items():

            def score(r: Row, chosen: object = chosen) -> float:
                model = chosen(r) if callable(chosen) else chosen
                return relevance(*r["x"], model)  # type: ignore[misc]

            held_scores = np.array([score(r) for r in held])
            daily = np.array([score(r) for r in everyday]) if everyday else np.zeros(0)
            for threshold in (hedge, gate):
                print(
                    f"| {language} ({int(y.sum())}) | {name} | {auc(held_scores, y):.3f} | "
                    f"{threshold} | {np.mean(held_scores[y == 1] < threshold):.3f} | "
                    f"{np.mean(held_scores[y == 0] >= threshold):.3f} | "
                    + (f"{np.mean(daily >= threshold):.3f} ({len(daily)})" if len(daily) else "–")
                    + " |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument(
        "--questions", type=Path, action="append", help="another questions.jsonl (repeatable)"
    )
    parser.add_argument(
        "--everyday", type=Path, action="append", help="out-of-scope questions (repeatable)"
    )
    parser.add_argument(
        "--slopes-from",
        default="fr",
        help="the language the cosine weights across languages are fitted on",
    )
    parser.add_argument("--out", type=Path, help="keep the features (read back if present)")
    args = parser.parse_args()
    if args.out and args.out.is_file():
        rows = [json.loads(line) for line in args.out.read_text().splitlines()]
    else:
        rows = collect(args)
        if args.out:
            args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = load_config(args.config) if args.config else load_config(ROOT / "config.toml")
    train = [r for r in rows if r["split"] == "fit"]
    gates: dict[str, object] = {"in force": in_force}
    same = [r for r in train if not r["across"]]
    if len(same) >= MIN_ROWS:
        fitted = fit(
            np.array([r["x"] for r in same], dtype=np.float64),
            np.array([r["answerable"] for r in same], dtype=np.float64),
        )
        print(f"same language: fitted on {len(same)} rows: {fitted}")
        gates["fitted, same language"] = lambda r: in_force(r) if r["across"] else fitted
    across = [r for r in train if r["across"]]
    if any(r["language"] == args.slopes_from for r in across):
        model = fit_across(across, args.slopes_from)
        print(f"across languages: fitted on {len(across)} rows: {model}")
        gates["fitted, per language"] = lambda r: (
            model.for_language(_language(r)) if r["across"] else in_force(r)
        )
        # As before per-language intercepts: the slopes language's calibration for every one.
        one = model.for_language(args.slopes_from)
        gates[f"fitted, {args.slopes_from}'s for all"] = lambda r: (
            one if r["across"] else in_force(r)
        )
    cosine_means(rows)
    report(rows, gates, config.retrieval.hedge, config.retrieval.gate)


if __name__ == "__main__":
    main()
