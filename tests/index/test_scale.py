"""The index at scale, exercised small: the approximate FAISS index and compact sentence vectors
(thresholds set low), with real FAISS and the real model's vectors."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from index.ann import AnnSettings
from index.build import build_index
from index.embedder import Embedder
from index.encoder import GivenVectors
from index.engine import Engine
from index.lexicon import Lexicon
from index.passages import Passage
from index.settings import BuildSettings
from index.store import GenerationContents, IndexStore, write_generation
from index.terms import LexiconParts
from index.vector_index import make_faiss_index
from tests.conftest import CORPUS
from tests.index.test_engine import STORY_QUESTIONS

pytestmark = pytest.mark.slow


def test_story_answers_are_the_same_with_the_approximate_index(
    tmp_path: Path, embedder: Embedder, story_engine: Engine
) -> None:
    folder = tmp_path / "index"
    build_index(CORPUS, folder, embedder.name, lambda: embedder, BuildSettings(hnsw_above=1))
    store = IndexStore.load(folder, embedder.name)
    assert store.manifest.faiss_type == "IndexHNSWSQ"
    assert story_engine.store.manifest.faiss_type == "IndexFlatIP"
    questions = [q for q, _ in STORY_QUESTIONS]
    given = GivenVectors(embedder.name, questions, [embedder.encode_query(q) for q in questions])
    exact_engine = Engine(story_engine.store, given)
    approximate = Engine(store, given)
    for question, phrase in STORY_QUESTIONS:
        exact = exact_engine.ask(question)
        answer = approximate.ask(question)
        assert [s.text for s in answer.sentences] == [s.text for s in exact.sentences]
        assert [h.passage.passage_id for h in answer.hits] == [
            h.passage.passage_id for h in exact.hits
        ]
        assert phrase in answer.sentences[0].text


def test_hnsw_explores_more_candidates_as_the_index_grows() -> None:
    """efSearch is ``ef_search`` per 250,000 passages, never less: larger graphs need a wider
    search for the same recall (measured in docs/performance.md)."""
    ann = AnnSettings(hnsw_above=100, ef_search=64)
    assert [ann.ef_search_for(n) for n in (1, 250_000, 500_000, 1_000_000)] == [64, 64, 128, 256]
    vectors = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    index = make_faiss_index(vectors, ann)
    assert faiss.downcast_index(index).hnsw.efSearch == 64 and index.ntotal == 300
    assert AnnSettings().ef_search_for(1_000_000) == 1024


def _noisy(rng: np.random.Generator, vectors: np.ndarray, scale: float) -> np.ndarray:
    out = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * scale
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_compact_store_round_trip(tmp_path: Path, story_engine: Engine) -> None:
    """HNSW over 8-bit vectors and PQ-coded sentence vectors, written from arrays (perturbed
    copies of the story's real vectors) and read back."""
    rng = np.random.default_rng(3)
    real = story_engine.store
    base_sentences = real.sentence_vectors[0 : len(real.sentence_vectors)]
    texts = [s for p in real.passages for s in p.sentences]
    count, per = 2100, 5  # 10,500 sentences: enough to train 8-bit PQ
    picks = rng.integers(0, len(texts), (count, per))
    sentence_vectors = _noisy(rng, base_sentences[picks.ravel()], 0.02)
    passage_vectors = _noisy(
        rng, sentence_vectors.reshape(count, per, -1).mean(axis=1), 0.02
    ).astype(np.float32)
    passages = [
        Passage(f"p{i}", f"doc{i // 10}", "Title", "", i % 10, tuple(texts[j] for j in row))
        for i, row in enumerate(picks)
    ]
    offsets = np.arange(count + 1, dtype=np.int64) * per
    contents = GenerationContents(
        model="test-model",
        passages=passages,
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        offsets=offsets,
        lexicon=Lexicon.build(LexiconParts.from_passages(passages).ranked()),
        documents={f"doc{i}": {"title": "Title"} for i in range(count // 10)},
        corpus_fingerprint="x",
        settings_fingerprint="y",
    )
    ann = AnnSettings(hnsw_above=1000, sentence_pq_above=1000, rescore_below=10**9)
    write_generation(tmp_path, contents, ann)
    store = IndexStore.load(tmp_path, "test-model")
    assert store.manifest.faiss_type == "IndexHNSWSQ"
    assert store.manifest.sentence_codec == "pq"
    assert (store.folder / "sentence_codes.npy").stat().st_size < sentence_vectors.nbytes / 20
    assert not (store.folder / "sentences.npy").exists()
    # Passages come back as written, read lazily.
    assert len(store.passages) == count
    assert store.passages[1234] == passages[1234]
    assert list(store.passages)[-1] == passages[-1]
    # The approximate index finds what exact search finds.
    queries = _noisy(rng, base_sentences[rng.integers(0, len(texts), 50)], 0.05)
    exact = faiss.IndexFlatIP(passage_vectors.shape[1])
    exact.add(passage_vectors)
    _, want = exact.search(queries, 10)
    _, graph = store.dense.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(graph, want, strict=True)])
    assert recall >= 0.9
    served = [store.search(q, 10) for q in queries]  # re-scored with the float16 copies
    assert store.rescore is not None
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(served, want, strict=True)])
    assert recall >= 0.98
    # Sentence cosines from the PQ codes are close to the exact ones.
    rows = np.arange(0, len(sentence_vectors), 7)
    approx = store.sentence_vectors.cosines(rows, queries[0])
    assert np.abs(approx - sentence_vectors[rows] @ queries[0]).mean() < 0.03
    # Decoding the codes gives the vectors whose cosines the inner-product table computes.
    decoded = store.sentence_vectors[0:5]
    assert decoded.shape == (5, 384)
    assert np.array_equal(store.sentence_vectors.take(np.arange(5)), decoded)
    on_codes = store.sentence_vectors.cosines(np.arange(5), queries[0])
    assert np.allclose(decoded @ queries[0], on_codes, atol=1e-5)
