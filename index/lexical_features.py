"""The keyword features of candidate passages: passage, word-pair and sentence BM25, read from
their forward entries (the cost follows the number of candidates, not the size of the index)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .postings import gather_ranges
from .store import IndexStore

__all__ = ["Lexical", "lexical_features", "merge_lexical", "span_max"]


@dataclass(slots=True)
class Lexical:
    """Keyword features of some candidate passages, aligned with ``rows``."""

    rows: list[int]
    keyword: np.ndarray  # BM25 of the passage
    bigram: np.ndarray  # BM25 of its word pairs
    sentence_bm25: np.ndarray  # BM25 of each of its sentences, passage after passage
    counts: np.ndarray  # sentences of each passage


def lexical_features(
    store: IndexStore, rows: list[int], tokens: list[str], pairs: list[tuple[str, str]]
) -> Lexical:
    """Passage, word-pair and sentence BM25 of these passages (read from their forward
    entries: the cost follows the number of rows, not the size of the index)."""
    index = np.asarray(rows, dtype=np.int64)
    counts = store.offsets[index + 1] - store.offsets[index]
    if not rows:
        empty = np.zeros(0, np.float32)
        return Lexical([], empty, empty, empty, counts)
    candidates = store.lexicon.candidates(index)
    return Lexical(
        rows,
        store.lexicon.scores_of(tokens, index),
        candidates.pair_scores(pairs),
        candidates.sentence_scores(tokens),
        counts,
    )


def merge_lexical(rows: list[int], first: Lexical, second: Lexical) -> Lexical:
    """The features of ``rows`` (each in ``first.rows`` or ``second.rows``), in that order."""
    if first.rows == rows and not second.rows:
        return first
    place = {row: i for i, row in enumerate(first.rows + second.rows)}
    pick = np.fromiter((place[row] for row in rows), np.int64, len(rows))
    counts = np.concatenate([first.counts, second.counts])
    starts = np.cumsum(counts) - counts
    sentence_bm25 = np.concatenate([first.sentence_bm25, second.sentence_bm25])
    return Lexical(
        rows,
        np.concatenate([first.keyword, second.keyword])[pick],
        np.concatenate([first.bigram, second.bigram])[pick],
        sentence_bm25[gather_ranges(starts[pick], starts[pick] + counts[pick])],
        counts[pick],
    )


def span_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The maximum of ``values`` in each segment ``starts[i]..starts[i+1]`` (0 when empty)."""
    counts = np.diff(starts)
    out = np.zeros(len(counts), np.float32)
    filled = counts > 0
    if values.size and filled.any():
        out[filled] = np.maximum.reduceat(values, starts[:-1][filled])
    return out
