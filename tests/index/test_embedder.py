"""The embedding model: offline loading, normalised vectors, bfloat16, the ONNX backend."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.embedder import Embedder
from index.errors import IndexUnavailableError, ModelLoadError
from index.models import backend_problem, embedding_id
from index.settings import BuildSettings
from index.store import IndexStore
from tests.conftest import CORPUS, ROOT

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
    torch_embedder: Embedder, story_index: Path
) -> None:
    fast = Embedder(precision="bfloat16")
    assert fast.name == embedding_id(torch_embedder.name, "bfloat16") != torch_embedder.name
    exact, approx = torch_embedder.encode_passages(TEXTS), fast.encode_passages(TEXTS)
    assert np.allclose(np.linalg.norm(approx, axis=1), 1.0, atol=1e-5)
    assert float((exact * approx).sum(axis=1).min()) > 0.995
    # An index built another way is not silently queried with bfloat16 vectors.
    with pytest.raises(IndexUnavailableError, match="storybot reindex"):
        IndexStore.load(story_index, fast.name)


def test_unknown_precision_and_hub_names_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="Precision"):
        Embedder(precision="int4")
    with pytest.raises(ModelLoadError, match="no model hub"):
        Embedder("sentence-transformers/all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export cache for the whole session (each export takes seconds)."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def onnx_fp32(onnx_cache: Path) -> Embedder:
    return Embedder(backend="onnx", onnx_cache=onnx_cache)


def test_onnx_export_matches_torch_float32_and_is_cached(
    torch_embedder: Embedder, onnx_fp32: Embedder, onnx_cache: Path
) -> None:
    embedder = torch_embedder
    assert onnx_fp32.name == embedding_id(embedder.name, "float32", "onnx") != embedder.name
    assert onnx_fp32.dimension == embedder.dimension
    exact, onnx = embedder.encode_passages(TEXTS), onnx_fp32.encode_passages(TEXTS)
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert float((exact * onnx).sum(axis=1).min()) >= 0.999
    question = "When will the ministers visit Moscow?"
    assert float(embedder.encode_query(question) @ onnx_fp32.encode_query(question)) >= 0.999
    assert onnx_fp32.count_tokens(TEXTS) == embedder.count_tokens(TEXTS)
    # Exported once, verified, renamed into place; no temporary file left behind.
    (export,) = onnx_cache.iterdir()
    assert sorted(p.name for p in export.iterdir()) == ["export.json", "model.onnx"]
    modified = (export / "model.onnx").stat().st_mtime_ns
    again = Embedder(backend="onnx", onnx_cache=onnx_cache)
    assert (export / "model.onnx").stat().st_mtime_ns == modified
    assert np.array_equal(again.encode_passages(TEXTS), onnx)


def test_onnx_int8_is_close_and_independent_of_the_batch(
    torch_embedder: Embedder, onnx_cache: Path
) -> None:
    fast = Embedder(backend="onnx", precision="int8", onnx_cache=onnx_cache)
    assert fast.name.endswith("@onnx-int8-r2")
    exact, approx = torch_embedder.encode_passages(TEXTS), fast.encode_passages(TEXTS)
    assert float((exact * approx).sum(axis=1).min()) > 0.97
    # A text's vector does not depend on the texts embedded with it.
    alone = np.stack([fast.encode_passages([t])[0] for t in TEXTS])
    assert np.array_equal(alone, approx)


def test_onnx_workers_embed_concurrently_with_the_same_vectors(
    onnx_fp32: Embedder, onnx_cache: Path
) -> None:
    """One single-threaded session run by several workers at once: questions asked from many
    threads (as the bot does) get the same vectors as one worker computing them in turn."""
    one = Embedder(backend="onnx", onnx_cache=onnx_cache, threads=1)
    three = Embedder(backend="onnx", onnx_cache=onnx_cache, threads=3)
    assert (one._onnx.workers, three._onnx.workers) == (1, 3)
    questions = [f"What happened in {t.split()[0]} number {i}?" for i, t in enumerate(TEXTS * 4)]
    expected = np.stack([one.encode_query(q) for q in questions])
    with ThreadPoolExecutor(6) as pool:
        got = np.stack(list(pool.map(three.encode_query, questions)))
    assert np.allclose(got, expected, atol=1e-6)
    assert np.allclose(three.encode_passages(TEXTS), one.encode_passages(TEXTS), atol=1e-6)


def test_an_index_is_only_queried_by_the_backend_that_built_it(
    tmp_path: Path, torch_embedder: Embedder, onnx_fp32: Embedder
) -> None:
    folder = tmp_path / "index"
    build_index(CORPUS, folder, torch_embedder.name, lambda: torch_embedder, BuildSettings())
    with pytest.raises(IndexUnavailableError, match="storybot reindex"):
        IndexStore.load(folder, onnx_fp32.name)
    # Reindexing with the other backend embeds everything again, with that backend.
    report = build_index(CORPUS, folder, onnx_fp32.name, lambda: onnx_fp32, BuildSettings())
    assert report.embedded == report.passages > 0
    assert IndexStore.load(folder, onnx_fp32.name).manifest.model == onnx_fp32.name


def test_onnx_serving_does_not_import_torch(onnx_fp32: Embedder, onnx_cache: Path) -> None:
    """With the export cached, a fresh process embeds a question without torch."""
    script = (
        "import sys; from pathlib import Path; from index.embedder import Embedder; "
        f"e = Embedder(backend='onnx', onnx_cache=Path({str(onnx_cache)!r})); "
        "v = e.encode_query('Who won?'); "
        "print(v.shape[0], 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.split() == [str(onnx_fp32.dimension), "False", "False"]


@pytest.mark.parametrize(
    ("backend", "precision"), [("onnx", "bfloat16"), ("torch", "int8"), ("tensorflow", "float32")]
)
def test_backend_and_precision_must_go_together(backend: str, precision: str) -> None:
    assert backend_problem(backend, precision)
    with pytest.raises(ModelLoadError, match=f"backend {backend!r}"):
        Embedder(backend=backend, precision=precision)


def test_query_cache_gives_the_computed_vector_and_stays_bounded(
    onnx_fp32: Embedder, onnx_cache: Path
) -> None:
    cached = Embedder(backend="onnx", onnx_cache=onnx_cache, query_cache=2)
    questions = ["Who won?", "When was it formed?", "Who won?", "Where?", "Who won?"]
    for q in questions:
        vector = cached.encode_query(q)
        assert np.array_equal(vector, onnx_fp32.encode_query(q))
        vector[:] = 0  # a caller's changes do not reach the cache
    assert list(cached._query_cache) == ["Where?", "Who won?"]
    assert np.array_equal(cached.encode_query("Who won?"), onnx_fp32.encode_query("Who won?"))
