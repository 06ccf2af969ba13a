"""Keyword side of retrieval: BM25 (bm25s) over stemmed, stop-word-free tokens."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

__all__ = ["STOP_WORDS", "KeywordIndex", "content_terms", "tokenize"]

_TOKEN = re.compile(r"\w+")
STOP_WORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | {
    "s",
    "t",
    "what",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "whose",
    "why",
    "how",
    "did",
    "does",
    "do",
    "many",
    "much",
}
_local = threading.local()  # PyStemmer's stemmers are not thread-safe: one per thread


def _stemmer():  # type: ignore[no-untyped-def]
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def content_terms(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stop words (not stemmed), in order."""
    return [w for w in _TOKEN.findall(text.lower().replace("’", "'")) if w not in STOP_WORDS]


def tokenize(text: str) -> list[str]:
    """Stemmed content words: what BM25 indexes and searches."""
    return _stemmer().stemWords(content_terms(text))


class KeywordIndex:
    """BM25 over passages; scores come back for every passage, in passage order."""

    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self._bm25 = model
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> KeywordIndex:
        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        tokens = [tokenize(t) or [""] for t in texts]
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

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each distinct token (0 for unknown ones)."""
        vocab = self._bm25.vocab_dict if self.size else {}
        n = max(self.size, 1)
        weights = {}
        for token in set(tokens):
            df = self._doc_freq(vocab[token]) if token in vocab else 0
            weights[token] = float(np.log(1 + (n - df + 0.5) / (df + 0.5))) if df else 0.0
        return weights

    def max_score(self, query_tokens: Sequence[str]) -> float:
        """The score a passage would get if it held every query token once: sum of their idf·(k1+1).

        Dividing by it puts BM25 scores on a scale that means the same thing for every question.
        """
        return sum(self.idf(query_tokens).values()) * (self._bm25.k1 + 1)

    def _doc_freq(self, token_id: int) -> int:
        indptr = self._bm25.scores["indptr"]
        return int(indptr[token_id + 1] - indptr[token_id])
