"""The engine: a question (and the conversation so far) to an Answer with cited sentences.

It retrieves: one Retrieval and one index generation per question (the Retrieval carries its
store), read with the follow-up context (``followup``); the pure decisions live in ``ranking``
and ``lexical_features``, the answer's composition in ``answer_composition``."""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .answer_composition import compose, refocus, refocuses
from .embedder import default_onnx_cache
from .encoder import QueryEncoder
from .followup import Turn, contextualize, reading, strip_connective, with_context
from .keyword import content_terms, question_weights, text_terms, tokenize
from .language import languages_differ, not_english, question_language
from .language_offset import candidate_offsets, shifted
from .lexical_features import Lexical, lexical_features, merge_lexical, span_max
from .metadata import normalize_date
from .onnx_backend import worker_count
from .other_languages import ask_other_too, holds_other_languages, in_english, prefer_other
from .passages import Answer, Hit, Passage
from .ranking import (
    ACROSS_KEYWORD_SCALE,
    Features,
    collapse_duplicates,
    coverage,
    favour_answer_type,
    fuse,
    gate_model,
    multilingual,
    prefer_newer,
    relevance,
)
from .reader import Reading, reader_question, reads_index, shared_reader
from .settings import RankingSettings
from .store import IndexStore
from .terms import bigram_pairs

__all__ = ["Engine", "Retrieval"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Retrieval:
    """Ranked passages for one query, with the features the gate and the answer need."""

    hits: list[Hit]
    rows: list[int]
    relevance: float
    query_vector: np.ndarray = field(repr=False)
    store: IndexStore = field(repr=False)  # the index generation ``rows`` are rows of
    # Per sentence of the kept passages (``spans`` maps a row to its sentences here): BM25 and
    # cosine with the question, computed once during retrieval and reused for the answer.
    sentence_bm25: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    sentence_cosine: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.float32), repr=False
    )
    spans: dict[int, range] = field(default_factory=dict, repr=False)
    # The sentence BM25 that counts as 1 when sentences are scored (0: the best sentence's).
    sentence_bm25_scale: float = 0.0
    # How many of the dense and keyword sides rank the best passage first on their own (0..2).
    agreement: float = 0.0
    # What the gate read: the best passage's cosine, its best sentence's, its coverage.
    gate_features: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # What ranking added to a kept row's cosines (``index/language_offset.py``; none: 0).
    offsets: dict[int, float] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class _KeywordSide:
    rows: list[int]  # the BM25 candidates, best first
    pairs: list[tuple[str, str]]  # the query's word pairs
    lexical: Lexical  # the candidates' keyword features
    weights: dict[str, float]  # the query's word weights (for the relevance gate)


def _shown(
    store: IndexStore, rows: list[int], hidden: Callable[[Passage], bool] | None
) -> list[int]:
    """The rows whose passages ``hidden`` does not select."""
    if hidden is None:
        return rows
    return [r for r in rows if not hidden(store.passages[r])]


@functools.cache
def _keyword_pool() -> ThreadPoolExecutor | None:
    """Threads for the keyword side of questions being embedded (one per core; none on one
    core, where there is nothing to run it beside)."""
    workers = worker_count(0)
    return ThreadPoolExecutor(workers, thread_name_prefix="keywords") if workers > 1 else None


class Engine:
    """Holds the model and the current index; ``swap`` replaces the index while questions run."""

    def __init__(
        self,
        store: IndexStore,
        embedder: QueryEncoder,
        settings: RankingSettings | None = None,
    ) -> None:
        self._store = store
        self.embedder = embedder
        self.settings = settings or RankingSettings()
        self._hidden: Callable[[Passage], bool] | None = None
        # The split (``index.other_languages_model``): an engine over the same passages with a
        # multilingual model, for questions known to be in a language other than English.
        self.other: Engine | None = None

    def for_question(self, question: str) -> Engine:
        """The engine that answers ``question``: ``other`` when there is one and the question
        is in another language than English, else this one."""
        if self.other is not None and not_english(question):
            return self.other
        return self

    def hiding(self, hidden: Callable[[Passage], bool]) -> Engine:
        """This engine with the passages ``hidden`` selects taken out of every search (the
        evaluation asks questions whose answer has been taken out of the corpus)."""
        view = Engine(self._store, self.embedder, self.settings)
        view._hidden = hidden
        view.other = self.other.hiding(hidden) if self.other is not None else None
        return view

    @property
    def store(self) -> IndexStore:
        return self._store

    def swap(self, store: IndexStore) -> None:
        """Serve from ``store`` from now on; searches already running finish on the old one
        (each reads ``_store`` once, and replacing a reference is atomic)."""
        self._store = store

    # -- retrieval -----------------------------------------------------------------------

    def dense_rows(
        self, vector: np.ndarray, depth: int, store: IndexStore | None = None
    ) -> list[int]:
        """Passage rows nearest to the question vector (FAISS inner product), best first."""
        store = store or self._store
        if not len(store):
            return []
        return store.search(vector, depth)

    def keyword_rows(
        self, tokens: list[str], depth: int, store: IndexStore | None = None
    ) -> tuple[list[int], np.ndarray]:
        """Passage rows with the best BM25 scores (best first, only those above 0), and their
        scores. Only the posting lists of the question's words are read."""
        store = store or self._store
        rows, scores = store.lexicon.top(tokens, depth)
        return [int(i) for i in rows], scores

    def retrieve(self, query: str, k: int | None = None, question: str | None = None) -> Retrieval:
        """Hybrid search: dense and BM25 candidates, fused, de-duplicated, best first.

        ``question`` is the question as asked when ``query`` adds context from earlier turns;
        its wording says what kind of answer to look for.

        Long because it is the one sequence every question runs, on arrays it shares from step
        to step (candidates, features, fusion, duplicates, dates, relevance); each decision in
        it is a call into ``ranking`` or ``lexical_features``.
        """
        store = self._store
        k = max(self.settings.top_k if k is None else k, 1)
        if not len(store):
            return Retrieval([], [], 0.0, self._question_vector(query), store)
        tokens = tokenize(query)
        vector, dense_rows, keyword = self._candidates(store, query, tokens)
        rows = list(dict.fromkeys(dense_rows + keyword.rows))
        if not rows:
            return Retrieval([], [], 0.0, vector, store)
        settings = self.settings
        # Every feature is computed for the candidates only, so the cost does not grow with
        # the size of the index; the keyword side's own candidates have theirs already.
        found = set(keyword.lexical.rows)
        more = lexical_features(store, [r for r in rows if r not in found], tokens, keyword.pairs)
        lexical = merge_lexical(rows, keyword.lexical, more)
        vectors = store.passage_vectors(rows)
        sentence_ids, counts = store.candidate_sentences(rows)
        starts = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(counts, out=starts[1:])
        sentence_cos = store.sentence_vectors.cosines(sentence_ids, vector)
        sentence_bm25 = lexical.sentence_bm25
        features = Features(
            keyword=lexical.keyword,
            dense=vectors @ vector,
            sentence_keyword=span_max(sentence_bm25, starts),
            bigram=lexical.bigram,
            sentence=span_max(sentence_cos, starts),
        )
        shift = candidate_offsets(store, query, rows)
        scale = self._keyword_scale(store, query, rows, features)
        fused = fuse(shifted(features, shift), settings, scale)
        if settings.type_weight or settings.definition_weight:
            favour_answer_type(
                lambda i: store.passages[rows[i]].sentences,
                fused,
                question or query,
                tokens,
                self.settings,
            )
        order = [int(i) for i in np.argsort(-fused, kind="stable")]
        kept = collapse_duplicates(
            order,
            vectors,
            lambda i: store.passages[rows[i]].text,
            settings.duplicate_cosine,
            settings.duplicate_overlap,
            limit=k,
        )
        if settings.date_margin > 0:
            dates = {i: normalize_date(store.passages[rows[i]].date) for i in kept}
            kept = prefer_newer(kept, fused, dates, settings.date_margin)
        hits = [
            Hit(
                store.passages[rows[i]],
                float(fused[i]),
                float(max(features.dense[i], features.sentence[i])),
                float(features.keyword[i]),
            )
            for i in kept
        ]
        best = kept[0]
        passage = store.passages[rows[best]]
        covered = coverage(
            keyword.weights,
            set(text_terms(f"{passage.title} {passage.section} {passage.text}")),
        )
        evidence = (float(features.dense[best]), float(features.sentence[best]), covered)
        gate = gate_model(store.manifest.model)
        across = gate_model(store.manifest.model, across=True)
        # Only a model with a gate of its own for other languages pays for telling them.
        if across is not gate and languages_differ(query, passage.text):
            gate = across.for_language(question_language(query))
        score = relevance(*evidence, gate)
        return Retrieval(
            hits,
            [rows[i] for i in kept],
            score,
            vector,
            store,
            sentence_bm25,
            sentence_cos.astype(np.float32),
            {rows[i]: range(int(starts[i]), int(starts[i + 1])) for i in kept},
            agreement=float(
                (int(np.argmax(features.dense)) == best)
                + (int(np.argmax(features.keyword)) == best)
            ),
            gate_features=evidence,
            offsets={} if shift is None else {rows[i]: float(shift[i]) for i in kept},
        )

    @staticmethod
    def _keyword_scale(
        store: IndexStore, query: str, rows: list[int], features: Features
    ) -> float:
        """How much the keyword features count: less when the question is in another language
        than the passage the dense side ranks first (a multilingual model only: its gate for
        other languages says so)."""
        if not multilingual(store.manifest.model) or not rows:
            return 1.0
        lead = store.passages[rows[int(np.argmax(features.dense))]].text
        return ACROSS_KEYWORD_SCALE if languages_differ(query, lead) else 1.0

    def _candidates(
        self, store: IndexStore, query: str, tokens: list[str]
    ) -> tuple[np.ndarray, list[int], _KeywordSide]:
        """The question's vector, its dense candidates and its keyword side. When the vector
        must be computed, the keyword side runs on another core meanwhile (onnxruntime and
        torch run without the interpreter lock)."""
        vector = self.embedder.cached_query(query)
        pool = _keyword_pool() if vector is None else None
        if pool is None:
            if vector is None:
                vector = self.embedder.encode_query(query)
            return (
                vector,
                self._dense_side(store, vector),
                self._keyword_side(store, query, tokens),
            )
        pending = pool.submit(self._keyword_side, store, query, tokens)
        try:
            vector = self.embedder.encode_query(query)
            dense_rows = self._dense_side(store, vector)
        finally:
            keyword = pending.result()
        return vector, dense_rows, keyword

    def _keyword_side(self, store: IndexStore, query: str, tokens: list[str]) -> _KeywordSide:
        """Everything that does not need the question's vector: the BM25 candidates with
        their keyword features, the question's word pairs and word weights."""
        rows, _ = self.keyword_rows(tokens, self.settings.depth, store)
        rows = _shown(store, rows, self._hidden)
        pairs = bigram_pairs(query)
        return _KeywordSide(
            rows, pairs, lexical_features(store, rows, tokens, pairs), question_weights(query)
        )

    def _dense_side(self, store: IndexStore, vector: np.ndarray) -> list[int]:
        return _shown(store, self.dense_rows(vector, self.settings.depth, store), self._hidden)

    # -- answering -----------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[Turn] = (), k: int | None = None) -> Answer:
        """Answer a question; ``history`` holds the conversation's earlier turns, oldest first."""
        engine = self.for_question(question)
        if engine is not self:
            return engine.ask(question, history, k)
        query = contextualize(question, history)
        found = self.retrieve(query, k, question)
        if history and query == question.strip() and reading(question) == "either":
            # It may point back, but it may stand alone too ("When was it formed?", "What is
            # the AES?"): take it with the previous turn only if the corpus answers that
            # reading clearly better.
            joined = with_context(question, history)
            combined = self.retrieve(joined, k, question)
            if combined.relevance > found.relevance + self.settings.context_margin:
                query, found = joined, combined
        own, weight = strip_connective(question), self.settings.followup_sentence_weight
        if query != question.strip() and found.hits and refocuses(own, weight):
            found = refocus(found, own, self._question_vector(own), weight)
        continued = history[-1].cited if history and query != question.strip() else ""
        found = self.across_languages(query, question, k, found)
        return compose(question, query, found, self.settings, continued, self.read)

    def across_languages(
        self, query: str, question: str, k: int | None, found: Retrieval
    ) -> Retrieval:
        """The retrieval that answers: when the corpus holds documents in other languages than
        English and this engine is not sure, ``other``'s over those documents if the gate finds
        it likelier to answer (``index/other_languages.py``); else ``found``."""
        other = self.other
        if (
            other is None
            or not holds_other_languages(found.store.manifest.languages)
            or not ask_other_too(found.relevance)
        ):
            return found
        theirs = other._beyond_english().retrieve(query, k, question)
        return theirs if theirs.hits and prefer_other(found.relevance, theirs.relevance) else found

    def _beyond_english(self) -> Engine:
        """This engine over the passages of the documents not recorded as English (and not
        hidden)."""
        documents, hidden = self._store.documents, self._hidden
        return self.hiding(
            lambda p: in_english(documents.get(p.doc_id)) or (hidden is not None and hidden(p))
        )

    def read(self, question: str, query: str, sentence: str) -> Reading | None:
        """The reader on an answer sentence, for its phrase: None for a question known not to be
        in English (it was trained on English only), on an index larger than
        ``reader_max_passages`` or when it cannot be loaded."""
        limit = self.settings.reader_max_passages
        if not_english(question) or not reads_index(len(self._store), limit):
            return None
        reader = shared_reader(getattr(self.embedder, "onnx_cache", None) or default_onnx_cache())
        if reader is None:
            return None
        asked = reader_question(question, query, len(content_terms(question)))
        return reader.read(asked, [sentence])[0]

    def _question_vector(self, text: str) -> np.ndarray:
        cached = self.embedder.cached_query(text)
        return cached if cached is not None else self.embedder.encode_query(text)

    def document_count(self) -> int:
        return len(self._store.documents)

    def document_titles(
        self, limit: int | None = None, offset: int = 0
    ) -> list[tuple[str, str, str]]:
        """(title, date, source) of the documents in the index, in corpus order: ``limit`` of
        them from the ``offset``-th (all when ``limit`` is None)."""
        stop = None if limit is None else offset + limit
        documents = itertools.islice(self._store.documents.items(), offset, stop)
        return [
            (d.get("title", doc_id), d.get("date", ""), d.get("source", ""))
            for doc_id, d in documents
        ]
