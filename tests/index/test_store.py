"""The saved index: round trip, atomic generations, clear errors for damage or another model."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from index.build import build_index
from index.embedder import Embedder
from index.errors import IndexUnavailableError, ReindexInProgressError
from index.generations import build_lock
from index.settings import BuildSettings
from index.store import IndexStore

pytestmark = pytest.mark.slow


@pytest.fixture
def built(tmp_path: Path, story_index: Path) -> Path:
    """A private copy of the session's story index, safe to damage."""
    target = tmp_path / "index"
    shutil.copytree(story_index, target)
    return target


def _generation(folder: Path) -> Path:
    return folder / (folder / "CURRENT").read_text().strip()


def test_round_trip_keeps_passages_vectors_and_manifest(built: Path, embedder: Embedder) -> None:
    store = IndexStore.load(built, embedder.name)
    manifest = store.manifest
    assert manifest.model == embedder.name
    assert manifest.dimension == embedder.dimension == 384
    assert manifest.passage_count == len(store.passages) == store.dense.ntotal > 0
    assert manifest.document_count == 1
    assert len(manifest.corpus_fingerprint) == 64
    assert manifest.built_at > 0
    # The stored vector of each passage is what the model makes of it, and is normalised.
    vectors = store.passage_vectors(range(len(store)))
    assert vectors.shape == (len(store), 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    # Sentence vectors line up with the passages' sentences.
    assert (
        store.offsets[-1]
        == len(store.sentence_vectors)
        == sum(len(p.sentences) for p in store.passages)
    )


def _flip_last_byte(path: Path) -> None:
    """Damage that keeps the file's size: only the checksum catches it."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda g: (g / "dense.faiss").write_bytes(b"not a faiss index"), "dense.faiss"),
        (lambda g: (g / "passages.zst").unlink(), "passages.zst is missing"),
        (lambda g: (g / "lexicon" / "forward.bin").unlink(), "lexicon/forward.bin is missing"),
        (
            lambda g: (g / "lexicon" / "postings.npy").write_bytes(b"\x93NUMPY garbage"),
            "lexicon/postings.npy",
        ),
        (lambda g: (g / "manifest.json").write_text("{broken"), "damaged"),
        (lambda g: (g / "manifest.json").unlink(), "manifest.json is missing"),
        (lambda g: (g / "sentences.npy").write_bytes(b"\x93NUMPY garbage"), "sentences.npy"),
        (lambda g: shutil.rmtree(g), "not an index generation"),
        (lambda g: _flip_last_byte(g / "lexicon" / "terms.txt"), "terms.txt has changed"),
    ],
)
def test_damaged_index_gives_clear_error(built: Path, embedder: Embedder, damage, message) -> None:
    damage(_generation(built))
    with pytest.raises(IndexUnavailableError, match=message) as info:
        IndexStore.load(built, embedder.name)
    assert "storybot reindex" in str(info.value)


@pytest.mark.parametrize(
    "rel",
    [
        "passages.zst",
        "lexicon/forward.bin",
        "lexicon/postings.npy",
        "lexicon/part_words.npy",
        "lexicon/terms.txt",
    ],
)
def test_truncated_files_are_caught_without_checksums(
    built: Path, embedder: Embedder, rel: str
) -> None:
    """Files too large to checksum at start-up are checked by their structure: a truncated one
    still gives the clear message."""
    path = _generation(built) / rel
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexUnavailableError, match="storybot reindex"):
        IndexStore.load(built, embedder.name, verify=False)


def test_index_of_an_older_format_says_to_reindex(built: Path, embedder: Embedder) -> None:
    manifest = _generation(built) / "manifest.json"
    raw = json.loads(manifest.read_text())
    raw["format_version"] = 3
    manifest.write_text(json.dumps(raw))
    with pytest.raises(IndexUnavailableError, match=r"older storybot \(index format 3") as info:
        IndexStore.load(built, embedder.name)
    assert "Run `storybot reindex`" in str(info.value)


def test_truncated_faiss_file_is_caught_even_without_checksums(
    built: Path, embedder: Embedder
) -> None:
    faiss_file = _generation(built) / "dense.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(IndexUnavailableError, match="storybot reindex"):
        IndexStore.load(built, embedder.name, verify=False)


def test_index_of_another_model_is_refused(built: Path) -> None:
    with pytest.raises(IndexUnavailableError, match="built with the model") as info:
        IndexStore.load(built, "/models/some-other-model")
    assert "storybot reindex" in str(info.value)


def test_missing_index_says_to_reindex(tmp_path: Path, embedder: Embedder) -> None:
    with pytest.raises(IndexUnavailableError, match=r"no index .* yet.*storybot reindex"):
        IndexStore.load(tmp_path / "nothing", embedder.name)


def test_a_failed_build_leaves_the_old_index_serving(
    built: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    before = (built / "CURRENT").read_text()

    def exploding_embedder() -> Embedder:
        raise RuntimeError("power cut mid-build")

    (corpus_dir / "new.md").write_text("# New\n\nA brand new story that needs embedding.\n")
    with pytest.raises(RuntimeError, match="power cut"):
        build_index(corpus_dir, built, embedder.name, exploding_embedder, BuildSettings())
    assert (built / "CURRENT").read_text() == before
    store = IndexStore.load(built, embedder.name)
    assert store.manifest.document_count == 1
    assert not [p for p in built.iterdir() if p.name.endswith(".partial")]


def test_second_build_while_one_runs_is_refused(built: Path) -> None:
    with (
        build_lock(built),
        pytest.raises(ReindexInProgressError, match="already running"),
        build_lock(built),
    ):
        pass  # pragma: no cover


def test_manifest_lists_every_file_with_its_size_and_checksum(built: Path) -> None:
    gen = _generation(built)
    manifest = json.loads((gen / "manifest.json").read_text())
    on_disk = {
        p.relative_to(gen).as_posix(): p.read_bytes()
        for p in gen.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(manifest["files"]) == set(on_disk)  # every file, and only those
    for rel, content in on_disk.items():
        entry = manifest["files"][rel]
        assert entry["size"] == len(content), rel
        assert entry["sha256"] == hashlib.sha256(content).hexdigest(), rel  # all are small
