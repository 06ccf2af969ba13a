"""What the engine needs of a model: questions to vectors (a protocol, so that an index can be
searched with vectors computed elsewhere, as the scale benchmark does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

__all__ = ["GivenVectors", "QueryEncoder", "unit_rows"]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in place (a zero row stays zero); returns ``vectors``."""
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


class QueryEncoder(Protocol):
    """Turns questions into unit vectors of the index's model (``index.embedder.Embedder``)."""

    name: str  # the embedding id the index was built with

    def encode_query(self, question: str) -> np.ndarray:
        """One question to a (dimension,) unit vector."""
        ...

    def cached_query(self, question: str) -> np.ndarray | None:
        """The vector of a question already at hand, or None (it must then be encoded)."""
        ...


class GivenVectors:
    """An encoder over vectors computed elsewhere, one per known question (benchmarks search a
    large index with vectors embedded beforehand, without loading the model); other questions
    go to ``fallback``, or raise KeyError."""

    def __init__(
        self,
        name: str,
        questions: Sequence[str],
        vectors: np.ndarray,
        fallback: QueryEncoder | None = None,
    ) -> None:
        self.name = name
        self._vectors = {
            q: np.asarray(v, dtype=np.float32) for q, v in zip(questions, vectors, strict=True)
        }
        self._fallback = fallback

    def cached_query(self, question: str) -> np.ndarray | None:
        known = self._vectors.get(question)
        if known is None and self._fallback is not None:
            return self._fallback.cached_query(question)
        return known

    def encode_query(self, question: str) -> np.ndarray:
        known = self._vectors.get(question)
        if known is not None:
            return known
        if self._fallback is None:
            raise KeyError(f"No vector was given for the question {question[:80]!r}.")
        return self._fallback.encode_query(question)
