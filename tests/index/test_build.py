"""Incremental reindexing: only changed passages are embedded again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard

from index.build import build_index
from index.embedder import Embedder
from index.listing import indexed_documents, list_documents
from index.manifest import file_entries
from index.passage_blocks import PassageList
from index.settings import BuildSettings
from index.store import IndexStore

pytestmark = pytest.mark.slow

_LONG_FIRST = (
    "The first paragraph of the second story stays exactly the same in both versions of it, "
    "word for word, so its passage keeps its id. It is long enough to be a passage of its own, "
    "because it has more than forty words in it, which is the configured minimum size."
)


class CountingEmbedder(Embedder):
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:  # share the loaded model, do not reload it
        self.__dict__.update(inner.__dict__)
        self.embedded: list[str] = []

    def encode_passages(self, texts, progress=None, chunk=512):  # type: ignore[no-untyped-def]
        self.embedded.extend(texts)
        return super().encode_passages(texts, progress, chunk)


def test_reindex_after_editing_one_document_embeds_only_its_changed_passages(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    (corpus_dir / "second.md").write_text(
        "---\ntitle: Second story\nsource: Wire\n---\n\n" + _LONG_FIRST + "\n\n"
        "The second paragraph talks about a harbour that was opened in the spring by the mayor "
        "of the city, with music and speeches. Thousands of people came to watch the boats, and "
        "the mayor promised that the new quay would bring trade back to the old town.\n"
    )
    folder = tmp_path / "index"
    counting = CountingEmbedder(embedder)
    first = build_index(corpus_dir, folder, embedder.name, lambda: counting, BuildSettings())
    assert first.added == ["000_1517f336e036ffe5.md", "second.md"]
    total = first.passages

    story = corpus_dir / "second.md"
    story.write_text(story.read_text().replace("in the spring", "in the autumn"))
    counting.embedded.clear()
    second = build_index(corpus_dir, folder, embedder.name, lambda: counting, BuildSettings())
    assert second.changed == ["second.md"] and not second.added and not second.removed
    assert second.embedded == 1
    # The changed passage and its sentences, nothing else.
    assert counting.embedded[0].startswith("Second story. The second paragraph")
    assert len(counting.embedded) == 1 + 2
    assert not any("stays exactly the same" in t for t in counting.embedded)
    assert second.passages == total

    store = IndexStore.load(folder, embedder.name)
    fresh = embedder.encode_passages([f"Second story. {_LONG_FIRST}"])[0]
    row = next(i for i, p in enumerate(store.passages) if "stays exactly" in p.text)
    assert float(store.passage_vectors([row])[0] @ fresh) > 0.999  # reused vector is right


def test_a_new_title_alone_embeds_the_documents_passages_again(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    """The model and BM25 read the title with each passage, and passage ids do not hold it."""
    story = corpus_dir / "second.md"
    story.write_text(f"---\ntitle: Second story\nsource: Wire\n---\n\n{_LONG_FIRST}\n")
    folder = tmp_path / "index"
    counting = CountingEmbedder(embedder)
    build_index(corpus_dir, folder, embedder.name, lambda: counting, BuildSettings())
    story.write_text(story.read_text().replace("Second story", "Harbour quarrel"))
    counting.embedded.clear()
    report = build_index(corpus_dir, folder, embedder.name, lambda: counting, BuildSettings())
    assert report.changed == ["second.md"] and report.embedded == 1
    assert counting.embedded[0].startswith("Harbour quarrel. The first paragraph")

    store = IndexStore.load(folder, embedder.name)
    row = next(i for i, p in enumerate(store.passages) if "stays exactly" in p.text)
    fresh = embedder.encode_passages([f"Harbour quarrel. {_LONG_FIRST}"])[0]
    assert float(store.passage_vectors([row])[0] @ fresh) > 0.999
    found, _ = store.lexicon.top(["harbour", "quarrel"], 5)
    assert list(found) == [row]


def test_changing_a_prefix_embeds_every_passage_again(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    """The prefixes (e5's "passage: " and "query: ") are part of what the vectors are made
    from: a reindex after changing either one embeds everything again."""
    folder = tmp_path / "index"
    counting = CountingEmbedder(embedder)
    build_index(corpus_dir, folder, embedder.name, lambda: counting, BuildSettings())
    for passage, query in (("passage: ", ""), ("passage: ", "query: ")):
        counting.passage_prefix, counting.query_prefix = passage, query  # as the config sets them
        settings = BuildSettings(passage_prefix=passage, query_prefix=query)
        report = build_index(corpus_dir, folder, embedder.name, lambda: counting, settings)
        assert not report.unchanged and report.embedded == report.passages > 0, (passage, query)
        again = build_index(corpus_dir, folder, embedder.name, lambda: counting, settings)
        assert again.unchanged


def test_passage_counts_are_recorded_so_listing_documents_reads_no_passage(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    (corpus_dir / "second.md").write_text(f"---\ntitle: Second story\n---\n\n{_LONG_FIRST}\n")
    folder = tmp_path / "index"
    build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())
    store = IndexStore.load(folder, embedder.name)
    counted = list_documents(store.documents, (p.doc_id for p in store.passages))
    assert [i.passages for i in counted] == [
        int(store.documents[i.doc_id]["passages"]) for i in counted
    ]
    assert counted[1].passages == 1 and counted[0].passages > 1

    class UnreadPassages(PassageList):
        """The real passage list, refusing to be read."""

        def __init__(self, inner: PassageList) -> None:
            self.__dict__.update(inner.__dict__)

        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("the passages must not be read")

        def __getitem__(self, row):  # type: ignore[no-untyped-def]
            raise AssertionError("the passages must not be read")

    store.passages = UnreadPassages(store.passages)  # type: ignore[arg-type]
    assert indexed_documents(store) == counted


def test_reindex_with_no_change_does_nothing_and_loads_no_model(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "index"
    build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())
    before = (folder / "CURRENT").read_text()

    def no_model() -> Embedder:
        raise AssertionError("the model must not be loaded when nothing changed")

    report = build_index(corpus_dir, folder, embedder.name, no_model, BuildSettings())
    assert report.unchanged
    assert (folder / "CURRENT").read_text() == before


def test_removed_and_unreadable_documents(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    (corpus_dir / "extra.txt").write_text("An extra story about a harbour opening in spring.\n")
    (corpus_dir / "later-broken.txt").write_text("A story that will be damaged later on.\n")
    folder = tmp_path / "index"
    build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())

    (corpus_dir / "extra.txt").unlink()
    (corpus_dir / "later-broken.txt").write_bytes(b"\x00\x01\x02binary garbage" * 50)
    report = build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())
    assert report.removed == ["extra.txt"]
    assert report.kept_previous == ["later-broken.txt"]
    assert "later-broken.txt" in report.summary() and "binary" in report.summary()
    store = IndexStore.load(folder, embedder.name)
    assert any("damaged later" in p.text for p in store.passages)  # nothing lost
    assert not any("harbour" in p.text for p in store.passages)


def test_reindex_of_one_changed_file_matches_a_full_build_without_reading_the_others(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    (corpus_dir / "a.txt").write_text("A story about a harbour opening in the spring.\n")
    (corpus_dir / "b.txt").write_text("A story about a bridge that was closed for repairs.\n")
    folder = tmp_path / "index"
    build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())
    (corpus_dir / "a.txt").write_text("A story about a harbour opening in the autumn.\n")
    # b.txt is unchanged: its passages are taken from the index, the file is not parsed again
    report = build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())
    assert report.changed == ["a.txt"]
    assert report.embedded == 1
    assert not report.skipped

    full = tmp_path / "full"
    build_index(corpus_dir, full, embedder.name, lambda: embedder, BuildSettings())
    incremental, fresh = IndexStore.load(folder), IndexStore.load(full)
    assert [p.passage_id for p in incremental.passages] == [p.passage_id for p in fresh.passages]
    assert list(incremental.passages) == list(fresh.passages)  # (passages are read lazily)
    assert incremental.documents == fresh.documents
    assert (
        incremental.passage_vectors(range(len(fresh))) @ fresh.passage_vectors(range(len(fresh))).T
    ).diagonal().min() > 0.999


def test_an_index_written_before_languages_were_recorded_gets_them_without_embedding(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    """An index with no languages in its manifest and documents (as an older storybot wrote
    them) is written again at the next reindex, though the corpus is unchanged, with each
    document's language told from its passages; nothing is embedded again."""
    folder = tmp_path / "index"
    build_index(corpus_dir, folder, embedder.name, lambda: embedder, BuildSettings())
    generation = folder / (folder / "CURRENT").read_text().strip()
    documents_file = generation / "documents.json.zst"
    documents = json.loads(zstandard.ZstdDecompressor().decompress(documents_file.read_bytes()))
    assert {meta["language"] for meta in documents.values()} == {"en"}
    for meta in documents.values():
        del meta["language"]
    documents_file.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(documents).encode()))
    manifest = json.loads((generation / "manifest.json").read_text())
    assert manifest["languages"] == ["en"]
    del manifest["languages"]
    manifest["files"] = {
        name: entry for name, entry in file_entries(generation).items() if name != "manifest.json"
    }
    (generation / "manifest.json").write_text(json.dumps(manifest))
    assert IndexStore.load(folder, embedder.name).manifest.languages is None

    counting = CountingEmbedder(embedder)
    report = build_index(corpus_dir, folder, embedder.name, lambda: counting, BuildSettings())
    assert not report.unchanged and counting.embedded == []
    store = IndexStore.load(folder, embedder.name)
    assert store.manifest.languages == ["en"]
    assert {d: m["language"] for d, m in store.documents.items()} == dict.fromkeys(documents, "en")
    again = build_index(corpus_dir, folder, embedder.name, lambda: counting, BuildSettings())
    assert again.unchanged
