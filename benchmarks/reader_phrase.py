"""The answer phrase's precision/coverage curves: the rules (index/answer_span.py), the reader
(index/reader.py) above a span probability, and their combinations, on each half of
squad_v11_dev's articles (the reader was trained on the fit half; ``--pick`` chooses there).

    .venv/bin/python -m benchmarks.fit_confidence collect ../shared/data/squad_v11_dev \\
        --index /tmp/squad-index --out /tmp/rows-squad.jsonl --part squad --hidden 0
    .venv/bin/python -m benchmarks.reader_phrase /tmp/rows-squad.jsonl

Coverage is the share of answered questions that get a phrase; EM and F1 are SQuAD's, over the
phrases shown, against every gold answer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.train_reader import article_half
from index.eval_metrics import normalize_answer, token_f1

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
Rule = Callable[[dict[str, Any]], str | None]


def _reader(threshold: float) -> Rule:
    return lambda r: r["reader"] if r["reader"] and r["reader_prob"] >= threshold else None


def _dates_then_reader(threshold: float) -> Rule:
    """The rules' phrase for a date question, else the reader's."""
    return lambda r: r["rule"] if r["kind"] == "time" and r["rule"] else _reader(threshold)(r)


def _rules_then_reader(threshold: float) -> Rule:
    """The rules' phrase when they find one, else the reader's."""
    return lambda r: r["rule"] or _reader(threshold)(r)


def figures(rows: list[dict[str, Any]], rule: Rule) -> tuple[float, float, float]:
    """Coverage of answered questions, EM and F1 of the phrases shown."""
    shown, em, f1 = 0, 0.0, 0.0
    for r in rows:
        phrase = rule(r)
        if not phrase:
            continue
        shown += 1
        em += max(float(normalize_answer(phrase) == normalize_answer(g)) for g in r["answers"])
        f1 += max(token_f1(phrase, g) for g in r["answers"])
    return shown / max(len(rows), 1), em / max(shown, 1), f1 / max(shown, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.rows.read_text(encoding="utf-8").splitlines()]
    answered = [r for r in rows if r["source"] == "squad" and r.get("sentence")]
    halves = {
        h: [r for r in answered if article_half(r["articles"][0]) == h]
        for h in ("fit", "held_out")
    }
    print(
        f"answered: fit articles {len(halves['fit'])}, held-out articles {len(halves['held_out'])}"
    )
    curves: list[tuple[str, Rule]] = [("rules (shipped margins)", lambda r: r["rule"])]
    for name, make in (
        ("reader", _reader),
        ("dates by rules, else reader", _dates_then_reader),
        ("rules, else reader", _rules_then_reader),
    ):
        curves += [(f"{name} >= {t:.1f}", make(t)) for t in THRESHOLDS]
    print("phrase | fit: coverage, EM, F1 | held-out: coverage, EM, F1")
    for name, rule in curves:
        parts = [figures(halves[h], rule) for h in ("fit", "held_out")]
        print(f"{name} | " + " | ".join(f"{c:.3f}, {e:.3f}, {f:.3f}" for c, e, f in parts))


if __name__ == "__main__":
    main()
