"""How well questions are grouped into gaps, against topics labelled by hand
(``evaluation/gaps/questions.jsonl``): pairwise precision and recall, and the adjusted Rand
index, over a range of thresholds. The threshold is fitted on half the topics and reported on
the other half (``storybot gaps --evaluate FILE``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np

from .gaps import MAX_QUESTION_CHARS, group_vectors

__all__ = [
    "GroupingScore",
    "LabelledQuestion",
    "adjusted_rand",
    "best_threshold",
    "load_labelled",
    "pairwise",
    "score_grouping",
    "split_topics",
]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_QUESTIONS = 20_000


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    topic: str
    question: str


@dataclass(frozen=True, slots=True)
class GroupingScore:
    threshold: float
    precision: float
    recall: float
    ari: float
    groups: int


def load_labelled(path: Path) -> list[LabelledQuestion]:
    """JSON lines ``{"topic": ..., "question": ...}``; blank lines skipped. A file over 4 MB or
    20,000 questions, or a bad line, raises ValueError naming the line."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is over {MAX_FILE_BYTES // 1024 // 1024} MB.")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            topic, question = item["topic"], item["question"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f'{path}:{number}: expected {{"topic": ..., "question": ...}}'
            ) from None
        if not isinstance(topic, str) or not isinstance(question, str) or not question.strip():
            raise ValueError(f"{path}:{number}: topic and question must be non-empty strings")
        questions.append(LabelledQuestion(topic, question[:MAX_QUESTION_CHARS]))
        if len(questions) > MAX_QUESTIONS:
            raise ValueError(f"{path} holds more than {MAX_QUESTIONS} questions.")
    return questions


def _pairs(sizes: Sequence[int]) -> int:
    return sum(comb(n, 2) for n in sizes)


def pairwise(truth: Sequence[str], predicted: Sequence[int]) -> tuple[float, float]:
    """Pairwise precision (pairs put together that share a topic) and recall (pairs sharing a
    topic that were put together); 1.0 when there is no pair to count."""
    together = _pairs(list(Counter(predicted).values()))
    same = _pairs(list(Counter(truth).values()))
    both = _pairs(list(Counter(zip(truth, predicted, strict=True)).values()))
    return (both / together if together else 1.0, both / same if same else 1.0)


def adjusted_rand(truth: Sequence[str], predicted: Sequence[int]) -> float:
    """The adjusted Rand index of two labellings (1: the same partition; about 0: chance)."""
    n = len(truth)
    if n < 2:
        return 1.0
    both = _pairs(list(Counter(zip(truth, predicted, strict=True)).values()))
    a = _pairs(list(Counter(truth).values()))
    b = _pairs(list(Counter(predicted).values()))
    expected = a * b / comb(n, 2)
    top = (a + b) / 2
    return 1.0 if top == expected else (both - expected) / (top - expected)


def split_topics(questions: Sequence[LabelledQuestion]) -> tuple[set[str], set[str]]:
    """The topics in two halves (sorted by name, alternately): fit on one, report the other."""
    topics = sorted({q.topic for q in questions})
    return set(topics[0::2]), set(topics[1::2])


def score_grouping(
    questions: Sequence[LabelledQuestion], vectors: np.ndarray, threshold: float
) -> GroupingScore:
    """Group the questions at ``threshold`` and score the groups against their topics."""
    groups = group_vectors(vectors, threshold)
    predicted = [0] * len(questions)
    for label, members in enumerate(groups):
        for row in members:
            predicted[row] = label
    truth = [q.topic for q in questions]
    precision, recall = pairwise(truth, predicted)
    return GroupingScore(
        threshold, precision, recall, adjusted_rand(truth, predicted), len(groups)
    )


def best_threshold(scores: Sequence[GroupingScore]) -> GroupingScore:
    """The score with the highest adjusted Rand index (ties: the lower threshold)."""
    return max(scores, key=lambda s: (round(s.ari, 6), -s.threshold))
