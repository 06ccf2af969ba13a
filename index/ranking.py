"""Pure ranking decisions: fusing the dense and keyword sides, duplicates, the relevance gate,
and which sentences answer the question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RankingSettings",
    "collapse_duplicates",
    "fuse",
    "is_relevant",
    "relevance",
    "score_sentences",
    "term_overlap",
    "top_rows",
]


@dataclass(frozen=True, slots=True)
class RankingSettings:
    """Global knobs of retrieval. Defaults are the values tuned on squad_v11_dev (see README)."""

    depth: int = 50  # candidates taken from each side before fusion
    dense_weight: float = 0.30  # cosine of question and whole passage
    sentence_weight: float = 0.30  # cosine of question and the passage's best sentence
    keyword_weight: float = 0.40  # BM25 divided by the question's maximum possible BM25
    top_k: int = 3  # passages returned as snippets
    duplicate_cosine: float = 0.97  # passages closer than this to a better one are dropped
    gate: float = 0.35  # below this relevance the answer is "not found"
    answer_sentences: int = 2  # at most this many sentences lead the reply
    sentence_cosine_weight: float = 0.6
    sentence_overlap_weight: float = 0.4
    second_sentence_ratio: float = 0.9  # a second sentence must score this close to the first


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties by lower index)."""
    if k <= 0 or scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def fuse(
    dense: np.ndarray, sentence: np.ndarray, keyword: np.ndarray, settings: RankingSettings
) -> np.ndarray:
    """One score per candidate: a weighted sum of features that already share a 0..1 scale."""
    return (
        settings.dense_weight * dense
        + settings.sentence_weight * sentence
        + settings.keyword_weight * keyword
    )


def collapse_duplicates(
    order: Sequence[int], vectors: np.ndarray, texts: Sequence[str], threshold: float
) -> list[int]:
    """Keep candidates (positions into ``vectors``/``texts``, best first) that are not near-copies
    of a better one: same text, or cosine above ``threshold``."""
    kept: list[int] = []
    seen_texts: set[str] = set()
    for i in order:
        text = " ".join(texts[i].lower().split())
        if text in seen_texts:
            continue
        if kept and float(np.max(vectors[kept] @ vectors[i])) >= threshold:
            continue
        kept.append(i)
        seen_texts.add(text)
    return kept


def relevance(dense: float, sentence: float, keyword: float) -> float:
    """How strongly the best passage matches the question, on a scale meant for the gate."""
    return max(dense, sentence) * 0.6 + keyword * 0.4


def is_relevant(score: float, settings: RankingSettings) -> bool:
    return score >= settings.gate


def term_overlap(question_terms: set[str], sentence_terms: Sequence[str]) -> float:
    """Share of the question's content terms that the sentence contains (0..1)."""
    if not question_terms:
        return 0.0
    return len(question_terms.intersection(sentence_terms)) / len(question_terms)


def score_sentences(
    cosines: np.ndarray, overlaps: np.ndarray, settings: RankingSettings
) -> np.ndarray:
    """How well each candidate sentence answers the question."""
    return settings.sentence_cosine_weight * cosines + settings.sentence_overlap_weight * overlaps
