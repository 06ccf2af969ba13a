"""``storybot eval --gate``: how far the three tiers (answer / "not sure" / not found) can be
trusted on a question-answering set.

Every question is asked twice: as it is (answerable) and with every passage of its gold article
hidden (it should be declined); everyday questions the corpus has nothing on should be declined
too. Reported: the relevance gate's error rates along its curve (the "not found" side), and the
answer confidence's figures (``index/answer_confidence.py``): the share of unhedged answers that
are right, of right answers that are hedged, and of out-of-scope questions declined, on the
whole set and on the held-out half (the model was fitted on the other half, ``split_of``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .engine import Engine
from .passages import Answer, Passage

__all__ = ["GateSample", "confidence_figures", "evaluate_gate", "in_articles", "split_of"]

RELEVANCE_CURVE = (0.02, 0.05, 0.08, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
CONFIDENCE_CURVE = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


class _Question(Protocol):
    @property
    def qid(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def answers(self) -> tuple[str, ...]: ...
    @property
    def passage_ids(self) -> tuple[str, ...]: ...


def split_of(key: str) -> str:
    """The half a question or session belongs to: models are fitted on ``fit`` and reported
    on ``held_out``, by a hash of the id so that the halves never change."""
    return "fit" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "held_out"


def in_articles(articles: set[str], passage: Passage) -> bool:
    """Whether the passage belongs to one of the articles (ids before the ``#``)."""
    return passage.doc_id.split("#", 1)[0] in articles


@dataclass(frozen=True, slots=True)
class GateSample:
    """One question as answered: its tier, confidence and whether the reply was right."""

    in_scope: bool
    found: bool
    sure: bool
    right: bool  # the first answer sentence holds a gold answer (never, when out of scope)
    relevance: float
    confidence: float
    split: str


def _sample(answer: Answer, answers: Sequence[str], in_scope: bool, split: str) -> GateSample:
    text = answer.sentences[0].text.lower() if answer.found and answer.sentences else ""
    right = (
        in_scope and bool(text) and any(a.strip().lower() in text for a in answers if a.strip())
    )
    return GateSample(
        in_scope, answer.found, answer.found and answer.sure, right, answer.relevance,
        answer.confidence, split,
    )  # fmt: skip


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def confidence_figures(
    samples: Sequence[GateSample], gate: float | None = None
) -> dict[str, float]:
    """The three confidence figures (and how many answerable questions were declined); with
    ``gate``, as if answers under that confidence were hedged."""
    inside = [s for s in samples if s.in_scope]
    out = [s for s in samples if not s.in_scope]
    found = [s for s in samples if s.found]
    sure = [s for s in found if (s.sure if gate is None else s.confidence >= gate)]
    right = [s for s in found if s.right]
    return {
        "answers": len(found),
        "unhedged_right": _share(sum(s.right for s in sure), len(sure)),
        "right_hedged": _share(sum(s not in sure for s in right), len(right)),
        "out_of_scope_declined": _share(sum(not s.found for s in out), len(out)),
        "answerable_declined": _share(sum(not s.found for s in inside), len(inside)),
        "answerable_right": _share(len(right), len(inside)),
    }


def evaluate_gate(
    engine: Engine, questions: Sequence[_Question], everyday: Sequence[str]
) -> dict[str, object]:
    """The gate's and the confidence's figures (see the module's docstring)."""
    samples: list[GateSample] = []
    for q in questions:
        split = split_of(q.qid)
        samples.append(_sample(engine.ask(q.question), q.answers, True, split))
        gold = {p.split("#", 1)[0] for p in q.passage_ids}
        hiding = engine.hiding(functools.partial(in_articles, gold))
        samples.append(_sample(hiding.ask(q.question), (), False, split))
    everyday_samples = [_sample(engine.ask(q), (), False, "everyday") for q in everyday]
    answerable = [s.relevance for s in samples if s.in_scope]
    unanswerable = [s.relevance for s in samples if not s.in_scope]
    everyday_scores = [s.relevance for s in everyday_samples]
    settings = engine.settings

    def rates(threshold: float) -> dict[str, float]:
        return {
            "threshold": threshold,
            "false_not_found": float(np.mean([s < threshold for s in answerable])),
            "false_answer": float(np.mean([s >= threshold for s in unanswerable])),
            "false_answer_everyday": float(np.mean([s >= threshold for s in everyday_scores]))
            if everyday_scores
            else 0.0,
        }

    held_out = [s for s in samples if s.split == "held_out"]
    return {
        "questions": len(questions),
        "everyday": len(everyday),
        "gate": rates(settings.gate),
        "hedge": rates(settings.hedge),
        "curve": [rates(t) for t in RELEVANCE_CURVE],
        "confidence": {
            "gate": settings.gate,
            "decline": settings.decline,
            "all": confidence_figures(samples + everyday_samples),
            "held_out": confidence_figures(held_out),
            "everyday_declined": confidence_figures(everyday_samples)["out_of_scope_declined"],
            "curve": [{"gate": t, **confidence_figures(held_out, t)} for t in CONFIDENCE_CURVE],
        },
    }
