"""The engine: a question (and the conversation so far) to an Answer with cited sentences."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embedder import Embedder
from .followup import Turn, contextualize
from .keyword import tokenize
from .passages import Answer, AnswerSentence, Hit
from .ranking import (
    RankingSettings,
    answer_type,
    collapse_duplicates,
    fuse,
    is_relevant,
    matches_answer_type,
    relevance,
    score_sentences,
    term_overlap,
    top_rows,
)
from .store import IndexStore

__all__ = ["Engine", "Retrieval"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Retrieval:
    """Ranked passages for one query, with the features the gate and the answer need."""

    hits: list[Hit]
    rows: list[int]
    relevance: float
    query_vector: np.ndarray = field(repr=False)
    # Per-method rankings (passage rows, best first), for evaluation.
    dense_rows: list[int] = field(default_factory=list)
    keyword_rows: list[int] = field(default_factory=list)


class Engine:
    """Holds the model and the current index; ``swap`` replaces the index while questions run."""

    def __init__(
        self, store: IndexStore, embedder: Embedder, settings: RankingSettings | None = None
    ) -> None:
        self._store = store
        self.embedder = embedder
        self.settings = settings or RankingSettings()
        self._swap_lock = threading.Lock()

    @classmethod
    def open(
        cls, folder: Path, embedder: Embedder, settings: RankingSettings | None = None
    ) -> Engine:
        return cls(IndexStore.load(folder, embedder.name), embedder, settings)

    @property
    def store(self) -> IndexStore:
        return self._store

    def swap(self, store: IndexStore) -> None:
        """Serve from ``store`` from now on; searches already running finish on the old one."""
        with self._swap_lock:
            self._store = store

    # -- retrieval -----------------------------------------------------------------------

    def dense_rows(self, vector: np.ndarray, depth: int, store: IndexStore | None = None
                   ) -> list[int]:
        """Passage rows nearest to the question vector (FAISS inner product), best first."""
        store = store or self._store
        if not len(store):
            return []
        _, ids = store.dense.search(vector[None, :], min(depth, len(store)))
        return [int(i) for i in ids[0] if i >= 0]

    def keyword_rows(self, tokens: list[str], depth: int, store: IndexStore | None = None
                     ) -> tuple[list[int], np.ndarray]:
        """Passage rows with the best BM25 scores (best first), and every passage's score."""
        store = store or self._store
        scores = store.keyword.scores(tokens)
        return [int(i) for i in top_rows(scores, depth) if scores[i] > 0], scores

    def retrieve(self, query: str, k: int | None = None) -> Retrieval:
        """Hybrid search: dense and BM25 candidates, fused, de-duplicated, best first."""
        store = self._store
        settings = self.settings
        k = max(settings.top_k if k is None else k, 1)
        vector = self.embedder.encode_query(query)
        if not len(store):
            return Retrieval([], [], 0.0, vector)
        dense_rows = self.dense_rows(vector, settings.depth, store)
        tokens = tokenize(query)
        keyword_rows, keyword_all = self.keyword_rows(tokens, settings.depth, store)
        max_keyword = store.keyword.max_score(tokens) or 1.0

        rows = list(dict.fromkeys(dense_rows + keyword_rows))
        vectors = store.passage_vectors(rows)
        dense = vectors @ vector
        sentence = np.array(
            [self._best_sentence_cosine(store, r, vector) for r in rows], dtype=np.float32
        )
        keyword = np.minimum(keyword_all[rows] / max_keyword, 1.0)
        fused = fuse(dense, sentence, keyword, settings)
        order = [int(i) for i in np.argsort(-fused, kind="stable")]
        texts = [store.passages[r].text for r in rows]
        kept = collapse_duplicates(order, vectors, texts, settings.duplicate_cosine)[:k]
        hits = [
            Hit(store.passages[rows[i]], float(fused[i]), float(max(dense[i], sentence[i])),
                float(keyword[i]))
            for i in kept
        ]
        best = kept[0]
        score = relevance(float(dense[best]), float(sentence[best]), float(keyword[best]))
        return Retrieval(hits, [rows[i] for i in kept], score, vector, dense_rows, keyword_rows)

    @staticmethod
    def _best_sentence_cosine(store: IndexStore, row: int, vector: np.ndarray) -> float:
        span = store.sentence_rows(row)
        if not len(span):
            return 0.0
        block = np.asarray(store.sentence_vectors[span.start : span.stop], dtype=np.float32)
        return float(np.max(block @ vector))

    # -- answering -----------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[Turn] = (), k: int | None = None) -> Answer:
        """Answer a question; ``history`` holds the conversation's earlier turns, oldest first."""
        query = contextualize(question, history)
        return self.compose(question, query, self.retrieve(query, k))

    def compose(self, question: str, query: str, found: Retrieval) -> Answer:
        """The Answer for retrieved passages: "not found" below the gate, else cited sentences."""
        if not found.hits or not is_relevant(found.relevance, self.settings):
            return Answer(question, query, False, nearest_titles=self._nearest_titles(found))
        sentences = self._answer_sentences(self._store, question, query, found)
        return Answer(question, query, True, tuple(sentences), tuple(found.hits))

    def _answer_sentences(
        self, store: IndexStore, question: str, query: str, found: Retrieval
    ) -> list[AnswerSentence]:
        """The sentences of the top passages that best answer the question."""
        settings = self.settings
        weights = store.keyword.idf([*tokenize(question), *tokenize(query)])
        kind = answer_type(question)
        best_score = found.hits[0].score
        candidates: list[tuple[float, int, int, str]] = []  # (score, hit rank, sentence index)
        for rank, (hit, row) in enumerate(zip(found.hits, found.rows, strict=True)):
            if hit.score < best_score * 0.85 and rank > 0:
                break
            span = store.sentence_rows(row)
            block = np.asarray(store.sentence_vectors[span.start : span.stop], dtype=np.float32)
            cosines = block @ found.query_vector
            overlaps = np.array(
                [term_overlap(weights, tokenize(s)) for s in hit.passage.sentences],
                dtype=np.float32,
            )
            typed = np.array(
                [matches_answer_type(s, question, kind) for s in hit.passage.sentences],
                dtype=np.float32,
            )
            scores = score_sentences(cosines, overlaps, typed, settings) * (1.0 - 0.1 * rank)
            candidates.extend(
                (float(s), rank, i, hit.passage.sentences[i]) for i, s in enumerate(scores)
            )
        candidates.sort(key=lambda c: -c[0])
        chosen: list[AnswerSentence] = []
        seen: set[str] = set()
        for score, rank, _, text in candidates:
            if len(chosen) >= settings.answer_sentences:
                break
            if chosen and score < chosen[0].score * settings.second_sentence_ratio:
                break
            if text in seen:
                continue
            seen.add(text)
            chosen.append(AnswerSentence(text, found.hits[rank].passage, score))
        return chosen

    def _nearest_titles(self, found: Retrieval) -> tuple[str, ...]:
        titles = dict.fromkeys(h.passage.title for h in found.hits)
        return tuple(titles)[:3]

    def document_titles(self) -> list[tuple[str, str, str]]:
        """(title, date, source) of every document in the index, in corpus order."""
        return [
            (d.get("title", doc_id), d.get("date", ""), d.get("source", ""))
            for doc_id, d in self._store.documents.items()
        ]
