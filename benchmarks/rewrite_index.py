"""Rewrite an index's passages and vectors as a new index, with other thresholds or from the
previous format, so that quality can be compared on the same vectors.

    .venv/bin/python -m benchmarks.rewrite_index /tmp/sq3 /tmp/sq4
    .venv/bin/python -m benchmarks.rewrite_index /tmp/sq4 /tmp/sq4-hnsw --hnsw-above 1000
    .venv/bin/python -m benchmarks.rewrite_index /tmp/sq4 /tmp/sq4-both --hnsw-above 1000 \\
        --sentence-pq-above 1000

SRC may be a format-3 index (passages.jsonl, exact dense.faiss, int8 sentences.npy; read here
without the old code) or a current one. Only the dense vectors are taken from SRC exactly as
stored; the keyword index is rebuilt from the passages' text.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import faiss
import numpy as np

from index.ann import AnnSettings
from index.lexicon import Lexicon
from index.passages import Passage
from index.store import GenerationContents, IndexStore, write_generation
from index.terms import LexiconParts


def read_any(folder: Path) -> tuple[dict, list[Passage], np.ndarray, np.ndarray, np.ndarray, dict]:
    """(manifest, passages, passage vectors, sentence vectors, offsets, documents)."""
    gen = folder / (folder / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    if manifest["format_version"] != 3:
        store = IndexStore.load(folder, verify=False)
        passages = list(store.passages)
        vectors = store.passage_vectors(range(len(passages)))
        sentences = np.asarray(store.sentence_vectors[0 : len(store.sentence_vectors)])
        return manifest, passages, vectors, sentences, store.offsets, store.documents
    passages = []
    with (gen / "passages.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            record["sentences"] = tuple(record["sentences"])
            passages.append(Passage(**record))
    dense = faiss.read_index(str(gen / "dense.faiss"))
    vectors = dense.reconstruct_n(0, dense.ntotal)
    if manifest.get("sentence_codec", "int8") != "int8":
        raise SystemExit("a format-3 source must have int8 sentence vectors")
    sentences = np.load(gen / "sentences.npy").astype(np.float32) * np.load(
        gen / "sentence_scale.npy"
    )
    offsets = np.load(gen / "offsets.npy")
    documents = json.loads((gen / "documents.json").read_text(encoding="utf-8"))
    return manifest, passages, vectors, sentences, offsets, documents


def add_rescore_options(parser: argparse.ArgumentParser) -> None:
    """--rescore / --no-rescore, shared with benchmarks.scale."""
    parser.add_argument("--rescore", action="store_true", help="float16 re-scoring at any size")
    parser.add_argument("--no-rescore", action="store_true", help="no float16 re-scoring")


def rescore_below(args: argparse.Namespace) -> int:
    """--rescore: float16 re-scoring at any size; --no-rescore: never; else the default."""
    if args.rescore:
        return 1 << 62
    return 0 if args.no_rescore else AnnSettings().rescore_below


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--hnsw-above", type=int, default=AnnSettings().hnsw_above)
    parser.add_argument("--sentence-pq-above", type=int, default=AnnSettings().sentence_pq_above)
    add_rescore_options(parser)
    args = parser.parse_args()
    if args.target.exists():
        raise SystemExit(f"{args.target} exists; give a new folder")
    manifest, passages, vectors, sentences, offsets, documents = read_any(args.source)
    ann = AnnSettings(
        hnsw_above=args.hnsw_above,
        sentence_pq_above=args.sentence_pq_above,
        rescore_below=rescore_below(args),
    )
    contents = GenerationContents(
        model=manifest["model"],
        passages=passages,
        passage_vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        sentence_vectors=np.ascontiguousarray(sentences, dtype=np.float32),
        offsets=np.asarray(offsets, dtype=np.int64),
        lexicon=Lexicon.build(LexiconParts.from_passages(passages).ranked()),
        documents=documents,
        corpus_fingerprint=manifest["corpus_fingerprint"],
        settings_fingerprint=manifest["settings_fingerprint"],
    )
    written = write_generation(args.target, contents, ann)
    print(
        f"{args.target}: {written.passage_count} passages, {written.faiss_type}, sentence "
        f"vectors {written.sentence_codec}, {sum(f['size'] for f in written.files.values()):,} "
        "bytes"
    )


if __name__ == "__main__":
    main()
