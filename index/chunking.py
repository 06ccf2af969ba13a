"""Split documents into passages along sentence and section boundaries (pure, apart from pysbd)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from .passages import Document, Passage

__all__ = ["chunk_document", "pack_sentences", "passage_id", "split_sentences", "split_windows"]


@functools.cache
def _segmenter() -> Any:  # a pysbd.Segmenter (pysbd has no type hints)
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


# pysbd's time grows with the square of its input on some texts ("a. " 8,000 times took 15 s),
# so a long paragraph is given to it in windows of at most this many characters (about 1 s at
# worst), cut after a full stop where there is one: the work stays linear, and ordinary
# paragraphs (squad_v11_dev's longest is 4,063 characters) are one window.
SEGMENT_CHARS = 10_000


def split_windows(text: str, size: int = SEGMENT_CHARS) -> list[str]:
    """``text`` in consecutive pieces of at most ``size`` characters, cut after ". " or at a
    space where possible (joined, they are ``text``)."""
    pieces, start = [], 0
    while len(text) - start > size:
        cut = text.rfind(". ", start, start + size) + 2
        if cut <= start + 2:
            cut = text.rfind(" ", start, start + size) + 1
        if cut <= start + 1:
            cut = start + size
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph, by pysbd's rules (abbreviations, decimals, quotes)."""
    paragraph = " ".join(paragraph.split())
    if not paragraph:
        return []
    segmenter = _segmenter()
    sentences = [s.strip() for piece in split_windows(paragraph) for s in segmenter.segment(piece)]
    return [s for s in sentences if s]


def _words(sentence: str) -> int:
    return len(sentence.split())


def pack_sentences(
    paragraphs: Sequence[Sequence[str]], max_words: int, overlap: int, min_words: int = 0
) -> list[tuple[str, ...]]:
    """Group a section's sentences (given per paragraph) into chunks.

    A chunk ends at a paragraph end once it holds ``min_words`` words, so paragraphs stay whole and
    short ones are merged with the next. A chunk never exceeds ``max_words``: a longer paragraph is
    split at sentence ends, and each continuation starts with the last ``overlap`` sentences before
    it. A single sentence longer than the limit is a chunk of its own (never cut mid-sentence). A
    short tail left at the section's end joins the chunk before it when that fits.
    """
    chunks: list[tuple[str, ...]] = []
    current: list[str] = []
    count = 0
    for paragraph in paragraphs:
        size = sum(_words(s) for s in paragraph)
        if current and count + size > max_words:
            chunks.append(tuple(current))
            current, count = [], 0
        for sentence in paragraph:
            words = _words(sentence)
            if current and count + words > max_words:
                chunks.append(tuple(current))
                carried = current[-overlap:] if overlap else []
                if sum(_words(s) for s in carried) + words > max_words:
                    carried = []
                current, count = list(carried), sum(_words(s) for s in carried)
            current.append(sentence)
            count += words
        if current and count >= min_words:
            chunks.append(tuple(current))
            current, count = [], 0
    if current:
        if chunks and count < min_words and sum(map(_words, chunks[-1])) + count <= max_words:
            chunks[-1] = chunks[-1] + tuple(current)
        else:
            chunks.append(tuple(current))
    return chunks


def passage_id(doc_id: str, section: str, sentences: Iterable[str]) -> str:
    """Stable id from the passage's source and content: unchanged passages keep their id."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in (doc_id, section, *sentences):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:16]


def chunk_document(
    document: Document, max_words: int = 160, overlap: int = 1, min_words: int = 40
) -> list[Passage]:
    """All passages of a document, in reading order, each carrying its section heading."""
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for section in document.sections:
        sentences_by_paragraph = [split_sentences(p) for p in section.paragraphs]
        for sentences in pack_sentences(sentences_by_paragraph, max_words, overlap, min_words):
            pid = passage_id(document.doc_id, section.heading, sentences)
            if pid in seen:  # the same text twice in one section: keep ids unique and stable
                seen[pid] += 1
                pid = passage_id(document.doc_id, f"{section.heading}#{seen[pid]}", sentences)
            else:
                seen[pid] = 0
            passages.append(
                Passage(
                    passage_id=pid,
                    doc_id=document.doc_id,
                    title=document.title,
                    section=section.heading,
                    position=len(passages),
                    sentences=sentences,
                    source=document.source,
                    date=document.date,
                    url=document.url,
                )
            )
    return [dataclasses.replace(p, count=len(passages)) for p in passages]
