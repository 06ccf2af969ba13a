"""Keyword side of retrieval: BM25 (bm25s) over stemmed, stop-word-free tokens."""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from .ranking import top_rows

__all__ = [
    "STOP_WORDS",
    "KeywordIndex",
    "bigram_tokens",
    "content_terms",
    "question_weights",
    "text_terms",
    "tokenize",
    "word_information",
]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# bm25s's English list plus common function words and question words: measured on squad_v11_dev,
# the larger list adds 0.011 to BM25's recall@1.
STOP_WORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also many much one""".split()
)
_local = threading.local()  # PyStemmer's stemmers are not thread-safe: one per thread


def _stemmer():  # type: ignore[no-untyped-def]
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("’", "'"))


def content_terms(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stop words (not stemmed), in order."""
    return [w for w in _words(text) if w not in STOP_WORDS]


def tokenize(text: str) -> list[str]:
    """Stemmed content words: what BM25 indexes and searches."""
    return _stemmer().stemWords(content_terms(text))


@functools.lru_cache(maxsize=16384)
def text_terms(text: str) -> tuple[str, ...]:
    """``tokenize(text)`` as a tuple, remembered: answering tokenises the candidate passages and
    their sentences, and popular passages come back for question after question."""
    return tuple(tokenize(text))


@functools.lru_cache(maxsize=65536)
def word_information(word: str) -> float:
    """How much a word says, from its frequency in general English (wordfreq): 9 minus its Zipf
    frequency, so "the" ≈ 1.3, "big" ≈ 3.3, "Lavrov" ≈ 6.3, and an unknown word 9. Unlike the
    corpus's idf, it means the same in a one-story corpus as in a large one."""
    from wordfreq import zipf_frequency

    return max(0.0, 9.0 - zipf_frequency(word, "en"))


def question_weights(text: str) -> dict[str, float]:
    """Each stemmed content word of a question, weighted by its information."""
    weights: dict[str, float] = {}
    words = content_terms(text)
    for word, stem in zip(words, _stemmer().stemWords(words), strict=True):
        weights[stem] = max(weights.get(stem, 0.0), word_information(word))
    return weights


def bigram_tokens(text: str) -> list[str]:
    """Adjacent stemmed words (stop words kept, so phrases do not bridge over them) as "a_b"."""
    words = _stemmer().stemWords(_words(text))
    return [f"{a}_{b}" for a, b in itertools.pairwise(words)]


class KeywordIndex:
    """BM25 over passages; scores come back for every passage, in passage order."""

    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self._bm25 = model
        self.size = size
        # Plain array views of bm25s's (memory-mapped) sparse matrix: indexing a np.memmap
        # from Python costs microseconds per call.
        matrix = getattr(model, "scores", None) or {}
        self._matrix = tuple(
            np.asarray(matrix[key]) if key in matrix else np.zeros(0)
            for key in ("indptr", "indices", "data")
        )

    @classmethod
    def build(cls, tokens: Sequence[list[str]], k1: float = 0.7, b: float = 0.6) -> KeywordIndex:
        """BM25 ("lucene" variant) over pre-tokenised texts. k1 0.7 and b 0.6 were tuned on
        squad_v11_dev (k1 anywhere in 0.5-0.9 measures the same)."""
        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        tokens = [t or [""] for t in tokens]
        if tokens:
            model.index(tokens, show_progress=False)
        return cls(model, len(tokens))

    def save(self, folder: Path) -> None:
        if self.size:
            self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> KeywordIndex:
        if not size:
            return cls(bm25s.BM25(), 0)
        model = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        return cls(model, size)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for these tokens (zeros when none is known)."""
        if not self.size or not query_tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(list(query_tokens)), dtype=np.float32)

    def _postings(self, query_tokens: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(document rows, BM25 weights) of each known query token, repeats included."""
        if not self.size:
            return []
        vocab = self._bm25.vocab_dict
        indptr, indices, data = self._matrix
        found = []
        for token in query_tokens:
            column = vocab.get(token)
            if column is not None:
                start, end = int(indptr[column]), int(indptr[column + 1])
                found.append((indices[start:end], data[start:end]))
        return found

    def top(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows with a positive score (best first, ties by lower row) and their
        scores. Only the query tokens' posting lists are read, so the cost follows how common
        the words are rather than the size of the index."""
        postings = self._postings(query_tokens)
        if not postings or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = np.concatenate([r for r, _ in postings])
        weights = np.concatenate([w for _, w in postings])
        if len(rows) * 8 < self.size:  # few matches: sort them rather than touch every row
            unique, inverse = np.unique(rows, return_inverse=True)
            totals = np.bincount(inverse, weights=weights).astype(np.float32)
        else:
            totals = np.bincount(rows, weights=weights, minlength=self.size).astype(np.float32)
            unique = np.flatnonzero(totals)
            totals = totals[unique]
        best = top_rows(totals, k)
        return unique[best].astype(np.int64), totals[best]

    def scores_of(
        self, query_tokens: Sequence[str], rows: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """BM25 scores of only these rows, the same as ``scores(query_tokens)[rows]``, found by
        binary search in each query token's posting list."""
        wanted = np.asarray(rows, dtype=np.int64)
        totals = np.zeros(len(wanted), dtype=np.float32)
        for posting, weights in self._postings(query_tokens):
            if not len(posting):
                continue
            at = np.searchsorted(posting, wanted)
            inside = at < len(posting)
            hit = np.zeros(len(wanted), dtype=bool)
            hit[inside] = posting[at[inside]] == wanted[inside]
            totals[hit] += weights[at[hit]]
        return totals
