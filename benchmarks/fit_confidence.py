"""Fit the answer-confidence model (index/answer_confidence.py) and report it on held-out data.

    .venv/bin/python -m benchmarks.fit_confidence collect ../shared/data/squad_v11_dev \\
        --index /tmp/squad-index --out /tmp/confidence.jsonl
    .venv/bin/python -m benchmarks.fit_confidence fit /tmp/confidence.jsonl

``collect`` answers every squad_v11_dev question (and, for ``--hidden`` of them, the same
question with its article hidden: it should be declined), and plays every session of
``evaluation/conversations`` through the bot's own rules, and writes one line per answer: its
signals, whether its first sentence holds a gold answer, the half it belongs to (squad questions
and sessions are split by a hash of their id, ``bot.conversation_eval.split_of``) and its source.

``fit`` fits a logistic model on the fit half only and prints the coefficients, then, on the
held-out half, the share of unhedged answers that are right, of right answers hedged and of
out-of-scope questions declined, for a range of thresholds. The signals are computed with the
coefficients in force, which they do not depend on.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import load_config
from bot.conversation_eval import load_sessions, play_sessions
from bot.runtime import make_embedder, open_engine
from index.answer_confidence import SIGNALS
from index.answer_span import answer_span
from index.embedder import default_onnx_cache
from index.engine import Engine
from index.eval_data import load_questions
from index.eval_metrics import contains_answer
from index.evaluate import open_dataset_engine
from index.gate_eval import in_articles, split_of
from index.passages import Answer
from index.question_kind import question_kind
from index.ranking import RankingSettings
from index.reader import shared_reader

CONVERSATIONS = Path(__file__).resolve().parent.parent / "evaluation" / "conversations"


def _squad_rows(
    engine: Engine, data_dir: Path, limit: int, hidden: int
) -> Iterable[dict[str, object]]:
    questions = load_questions(data_dir / "questions.jsonl", limit)
    for i, q in enumerate(questions):
        answer = engine.ask(q.question)
        article = q.passage_ids[0].split("#", 1)[0]
        yield {
            "source": "squad",
            "split": split_of(q.qid),
            "articles": [article],
            "in_scope": True,
            "found": answer.found,
            "right": bool(answer.found and contains_answer(answer.sentences[0].text, q.answers)),
            "signals": answer.signals.values() if answer.signals else [],
        } | _phrases(engine, q.question, answer, q.answers)
        if i % max(len(questions) // max(hidden, 1), 1) == 0 and hidden:
            gold = {p.split("#", 1)[0] for p in q.passage_ids}
            masked = engine.hiding(functools.partial(in_articles, gold)).ask(q.question)
            yield {
                "source": "squad_hidden",
                "split": split_of(q.qid),
                "articles": [article],
                "in_scope": False,
                "found": masked.found,
                "right": False,
                "signals": masked.signals.values() if masked.signals else [],
            }


def _phrases(
    engine: Engine, question: str, answer: Answer, answers: Sequence[str]
) -> dict[str, object]:
    """The answer's first sentence with the phrase the rules pick and the reader's best phrase
    in it (``benchmarks/reader_phrase.py`` draws their curves)."""
    if not answer.found:
        return {}
    sentence = answer.sentences[0].text
    rule = answer_span(question, sentence)
    reader = shared_reader(getattr(engine.embedder, "onnx_cache", None) or default_onnx_cache())
    reading = reader.read(question, [sentence])[0] if reader else None
    return {
        "question": question,
        "sentence": sentence,
        "answers": list(answers),
        "kind": question_kind(question),
        "phrase": answer.phrase_text,
        "rule": rule.text if rule else None,
        "reader": reading.text if reading else None,
        "reader_prob": reading.span_prob if reading else 0.0,
        "reader_here": reading.here if reading else 0.0,
    }


def collect(args: argparse.Namespace) -> None:
    config = load_config(CONVERSATIONS.parent.parent / "config.toml")
    embedder = make_embedder(config)
    squad = open_dataset_engine(
        args.data_dir,
        embedder,
        config.build_settings(),
        config.ranking_settings(),
        args.index,
    )
    engines = {"story": open_engine(config, embedder), "squad": squad}
    with args.out.open("w", encoding="utf-8") as out:
        if args.part in ("all", "squad"):
            for row in _squad_rows(squad, args.data_dir, args.limit, args.hidden):
                out.write(json.dumps(row) + "\n")
        if args.part == "squad":
            return
        sessions = load_sessions(CONVERSATIONS)
        articles = {
            s.sid: sorted({p.split("#", 1)[0] for t in s.turns for p in t.passage_ids})
            for s in sessions
        }
        turns = play_sessions(sessions, engines, config.retrieval.top_k)
        for t in turns:
            row = {
                "source": f"conversation_{t.corpus}",
                "split": t.split,
                "articles": articles[t.sid] if t.corpus == "squad" else [],
                "in_scope": t.kind != "out_of_scope",
                "found": t.found,
                "right": t.right and t.kind != "out_of_scope",
                "signals": list(t.signals),
            }
            out.write(json.dumps(row) + "\n")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method, with an L2 penalty on the coefficients (not on
    the intercept); the inputs are used as they are."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def _figures(
    rows: list[dict[str, Any]], right: np.ndarray, scope: np.ndarray, gate: float, decline: float
) -> tuple[float, ...]:
    """Unhedged answers right, right answers hedged, out-of-scope declined, answerable
    declined, answerable answered right: as the bot would answer with these thresholds."""
    found = np.array([bool(r["found"]) for r in rows]) & (scope >= decline)
    is_right = np.array([bool(r["right"]) for r in rows]) & found
    inside = np.array([bool(r["in_scope"]) for r in rows])
    sure = found & (right >= gate)
    return (
        is_right[sure].mean() if sure.any() else 0.0,
        (right[is_right] < gate).mean() if is_right.any() else 0.0,
        (~found[~inside]).mean() if (~inside).any() else 0.0,
        (~found[inside]).mean() if inside.any() else 0.0,
        is_right[inside].mean() if inside.any() else 0.0,
    )


def _probabilities(rows: list[dict[str, Any]], w: np.ndarray, b: float) -> np.ndarray:
    x = np.array([r["signals"] or [0.0] * len(w) for r in rows], float)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    return np.where([bool(r["signals"]) for r in rows], p, 0.0)


def _relevance_gate(rows: list[dict[str, Any]], gate: float) -> tuple[float, ...]:
    """The same figures with the tiers the relevance gate alone gave (before the model)."""
    relevance = np.array(
        [1 / (1 + np.exp(-r["signals"][0])) if r["signals"] else 0.0 for r in rows]
    )
    return _figures(rows, relevance, np.ones(len(rows)), gate, 0.0)


def compare(rows: list[dict[str, Any]], models: dict[str, tuple[np.ndarray, float]]) -> None:
    """Held-out and fit figures at the shipped thresholds, against the relevance gate alone."""
    settings = RankingSettings()
    print(
        "\npart | unhedged right | right hedged | out of scope declined | answerable declined"
        " | answerable right   (relevance gate alone -> with the model)"
    )
    for split in ("held_out", "fit"):
        for name, sources in (
            ("squad questions and hidden articles", ("squad", "squad_hidden")),
            ("conversations, squad", ("conversation_squad",)),
            ("conversations, story", ("conversation_story",)),
        ):
            part = [r for r in rows if r["split"] == split and r["source"] in sources]
            if not part:
                continue
            before = _relevance_gate(part, settings.gate)
            after = _figures(
                part,
                _probabilities(part, *models["right"]),
                _probabilities(part, *models["scope"]),
                settings.gate,
                settings.decline,
            )
            pairs = " | ".join(f"{b:.3f} -> {a:.3f}" for b, a in zip(before, after, strict=True))
            print(f"{split} {name} ({len(part)}) | {pairs}")


def fit(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in args.rows.read_text(encoding="utf-8").splitlines()]
    train = [r for r in rows if r["split"] == "fit" and r["signals"]]
    x = np.array([r["signals"] for r in train], float)
    models = {}
    for name, label in (("right", "right"), ("scope", "in_scope")):
        y = np.array([float(r[label]) for r in train])
        models[name] = fit_logistic(x, y, args.l2)
        w, b = models[name]
        print(f"{name}: " + ", ".join(f"{n} {c:.3f}" for n, c in zip(SIGNALS, w, strict=True)))
        print(f"{name} intercept: {b:.3f}")
    compare(rows, models)
    for split in ("fit", "held_out"):
        for source in [*sorted({str(r["source"]) for r in rows}), "all"]:
            part = [r for r in rows if r["split"] == split and source in ("all", r["source"])]
            right = _probabilities(part, *models["right"])
            scope = _probabilities(part, *models["scope"])
            print(f"\n{split} / {source}: {len(part)} questions")
            print(
                "gate decline | unhedged right | right hedged | out declined | in declined | right"
            )
            for gate in args.gates:
                for decline in args.declines:
                    figures = _figures(part, right, scope, gate, decline)
                    print(f"{gate:.2f} {decline:.2f} | " + " | ".join(f"{v:.3f}" for v in figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("data_dir", type=Path)
    c.add_argument("--index", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--limit", type=int, default=0, help="an even sample of N squad questions")
    c.add_argument("--hidden", type=int, default=2000)
    c.add_argument("--part", choices=("all", "squad", "conversations"), default="all")
    f = sub.add_parser("fit")
    f.add_argument("rows", type=Path)
    f.add_argument("--l2", type=float, default=1.0)
    f.add_argument("--gates", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    f.add_argument("--declines", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    args = parser.parse_args()
    collect(args) if args.command == "collect" else fit(args)


if __name__ == "__main__":
    main()
