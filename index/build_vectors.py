"""The vectors of a build: a passage's and its sentences', reused from the previous index when
the passage is there unchanged, embedded otherwise (the model is loaded only then)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .build_report import BuildReport, ProgressFn
from .embedder import Embedder
from .passages import Passage
from .store import IndexStore

__all__ = ["build_vectors", "embedding_text"]


def embedding_text(passage: Passage) -> str:
    """What the model reads for a passage: its document title and section, then its text."""
    head = ". ".join(p for p in (passage.title, passage.section) if p)
    return f"{head}. {passage.text}" if head else passage.text


def build_vectors(
    passages: Sequence[Passage],
    previous: IndexStore | None,
    old_rows: dict[str, int],
    load_embedder: Callable[[], Embedder],
    report: BuildReport,
    progress: ProgressFn | None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Passage vectors and per-passage sentence vectors: reused from ``previous`` when the
    passage id is there, embedded otherwise. The model is loaded only if something is new."""
    to_embed = [i for i, p in enumerate(passages) if p.passage_id not in old_rows]
    embedder = load_embedder() if to_embed or previous is None else None
    if embedder is not None:
        dimension = embedder.dimension
    else:
        assert previous is not None
        dimension = previous.manifest.dimension
    passage_vectors = np.zeros((len(passages), dimension), dtype=np.float32)
    sentence_vectors = [np.zeros((0, dimension), np.float32)] * len(passages)
    embedding = set(to_embed)
    reused = [i for i in range(len(passages)) if i not in embedding]
    if reused and previous is not None:
        rows = [old_rows[passages[i].passage_id] for i in reused]
        passage_vectors[reused] = previous.passage_vectors(rows)
        for i, row in zip(reused, rows, strict=True):
            span = previous.sentence_rows(row)
            sentence_vectors[i] = np.asarray(
                previous.sentence_vectors[span.start : span.stop], dtype=np.float32
            )
    if to_embed and embedder is not None:
        _embed(
            embedder,
            [passages[i] for i in to_embed],
            to_embed,
            passage_vectors,
            sentence_vectors,
            report,
            progress,
        )
    return passage_vectors, sentence_vectors


def _embed(
    embedder: Embedder,
    passages: Sequence[Passage],
    positions: Sequence[int],
    passage_vectors: np.ndarray,
    sentence_vectors: list[np.ndarray],
    report: BuildReport,
    progress: ProgressFn | None,
) -> None:
    """Embed passages and their sentences in one stream, so progress counts every text."""
    texts = [embedding_text(p) for p in passages]
    sentences = [s for p in passages for s in p.sentences]
    total = len(texts) + len(sentences)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embedding", done, total)

    if progress:
        progress("embedding", 0, total)
    passage_vectors[list(positions)] = embedder.encode_passages(texts, step)
    flat = embedder.encode_passages(sentences, step)
    start = 0
    for position, passage in zip(positions, passages, strict=True):
        sentence_vectors[position] = flat[start : start + len(passage.sentences)]
        start += len(passage.sentences)
    report.embedded = len(passages)
    report.tokens = embedder.count_tokens(texts) + embedder.count_tokens(sentences)
