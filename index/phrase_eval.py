"""The answer phrase's precision/coverage curve: the phrase ``answer_span`` would bold in each
answer's first sentence under several margins (how far the best phrase must beat the next,
by kind), scored against the gold answers as SQuAD scores them. The shipped margins are
``answer_span.KIND_MARGINS``; the curve shows what looser and stricter ones would give."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .answer_span import KIND_MARGINS, answer_span
from .question_kind import question_kind

__all__ = ["MARGINS", "PhraseCurve"]

NEVER = math.inf
# (time, number, name) margins along the curve, loosest first.
MARGINS: tuple[dict[str, float], ...] = (
    {"time": 0.0, "number": 0.0, "name": 0.0},
    {"time": 0.0, "number": 0.2, "name": 1.0},
    dict(KIND_MARGINS),
    {"time": 0.2, "number": 0.5, "name": NEVER},
    {"time": 0.5, "number": 1.0, "name": NEVER},
)


@dataclass(slots=True)
class PhraseCurve:
    """Accumulates, per point of ``MARGINS``, how many answers get a phrase and its EM/F1."""

    answered: int = 0
    shown: list[int] = field(default_factory=lambda: [0] * len(MARGINS))
    em: list[float] = field(default_factory=lambda: [0.0] * len(MARGINS))
    f1: list[float] = field(default_factory=lambda: [0.0] * len(MARGINS))

    def add(
        self,
        question: str,
        sentence: str | None,
        answers: Sequence[str],
        match: Callable[[str, str], tuple[float, float]],
    ) -> None:
        """One answered question and its first answer sentence (None: no phrase can be shown);
        ``match`` gives (EM, F1) of a phrase and a gold answer."""
        self.answered += 1
        kind = question_kind(question)
        if sentence is None or not kind or not answers:
            return
        for i, margins in enumerate(MARGINS):
            if margins[kind] == NEVER:
                continue
            span = answer_span(question, sentence, margins[kind])
            if span is None:
                continue
            scores = [match(span.text, gold) for gold in answers]
            self.shown[i] += 1
            self.em[i] += max(s[0] for s in scores)
            self.f1[i] += max(s[1] for s in scores)

    def figures(self) -> list[dict[str, object]]:
        return [
            {
                "margins": {k: (None if v == NEVER else v) for k, v in margins.items()},
                "shipped": margins == KIND_MARGINS,
                "coverage": round(self.shown[i] / max(self.answered, 1), 4),
                "em": round(self.em[i] / self.shown[i], 4) if self.shown[i] else 0.0,
                "f1": round(self.f1[i] / self.shown[i], 4) if self.shown[i] else 0.0,
            }
            for i, margins in enumerate(MARGINS)
        ]
