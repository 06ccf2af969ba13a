"""The embedding model: offline loading, normalised vectors, the bfloat16 path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedder import Embedder, embedding_id
from index.errors import IndexUnavailableError, ModelLoadError
from index.store import IndexStore

pytestmark = pytest.mark.slow

TEXTS = [
    "The foreign ministers of Mali, Burkina Faso and Niger will visit Moscow on April 3-4.",
    "Russia has supplied military aid to the AES nations through the Wagner Group.",
    "A short one.",
]


def test_vectors_are_normalised_and_queries_differ_from_passages(embedder: Embedder) -> None:
    vectors = embedder.encode_passages(TEXTS)
    assert vectors.shape == (3, embedder.dimension)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.encode_query("When will the ministers visit Moscow?")
    assert int(np.argmax(vectors @ query)) == 0


def test_bfloat16_matches_float32_and_is_recorded_in_the_index_id(
    embedder: Embedder, story_index: Path
) -> None:
    fast = Embedder(precision="bfloat16")
    assert fast.name == embedding_id(embedder.name, "bfloat16") != embedder.name
    exact, approx = embedder.encode_passages(TEXTS), fast.encode_passages(TEXTS)
    assert np.allclose(np.linalg.norm(approx, axis=1), 1.0, atol=1e-5)
    assert float((exact * approx).sum(axis=1).min()) > 0.995
    # An index built in float32 is not silently queried with bfloat16 vectors.
    with pytest.raises(IndexUnavailableError, match="storybot reindex"):
        IndexStore.load(story_index, fast.name)


def test_unknown_precision_and_hub_names_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="Precision"):
        Embedder(precision="int4")
    with pytest.raises(ModelLoadError, match="no model hub"):
        Embedder("sentence-transformers/all-MiniLM-L6-v2")
