"""A corpus as term ids, the input a lexicon is built from: every word of every passage as its
term (its stem, marked with "!" for a stop word), and each passage part's number of words."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .keyword import STOP_WORDS, _stemmer, _words
from .passages import Passage

if TYPE_CHECKING:
    from .lexicon import Lexicon

__all__ = [
    "STOP_PREFIX",
    "LexiconParts",
    "analyse",
    "analyse_passage",
    "bigram_pairs",
    "term_kinds",
]

STOP_PREFIX = "!"


def analyse(text: str) -> list[str]:
    """Every word of ``text`` as a term: its stem, prefixed with "!" for a stop word."""
    words = _words(text)
    stems = _stemmer().stemWords(words)
    return [STOP_PREFIX + s if w in STOP_WORDS else s for w, s in zip(words, stems, strict=True)]


def analyse_passage(passage: Passage) -> tuple[list[str], list[int]]:
    """The terms of a passage's title, section and sentences in order, and each part's count."""
    terms: list[str] = []
    counts: list[int] = []
    for part in (passage.title, passage.section, *passage.sentences):
        found = analyse(part)
        terms.extend(found)
        counts.append(len(found))
    return terms, counts


def bigram_pairs(text: str) -> list[tuple[str, str]]:
    """Adjacent stemmed words, stop words kept (so phrases do not bridge over them)."""
    stems = _stemmer().stemWords(_words(text))
    return list(itertools.pairwise(stems))


def term_kinds(terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Whether each term is a stop word, and the id of the first term with its stem (a stop
    and a content word can share one)."""
    stop = np.fromiter((t.startswith(STOP_PREFIX) for t in terms), bool, len(terms))
    stem_first: dict[str, int] = {}
    term_stem = np.fromiter(
        (stem_first.setdefault(t.removeprefix(STOP_PREFIX), i) for i, t in enumerate(terms)),
        np.int64,
        len(terms),
    )
    return stop, term_stem


@dataclass(slots=True)
class LexiconParts:
    """Terms and per-word term ids of a corpus, before the derived arrays are computed."""

    terms: list[str]
    ids: np.ndarray  # term id of every word, passage after passage
    part_words: np.ndarray  # words of each part (title, section, sentences of each passage)
    offsets: np.ndarray  # sentence offsets: passage i owns sentences offsets[i]..offsets[i+1]

    @classmethod
    def from_passages(
        cls,
        passages: Sequence[Passage],
        reuse: tuple[Lexicon, Sequence[int | None]] | None = None,
        terms: Iterable[str] = (),
    ) -> LexiconParts:
        """Analyse the passages; with ``reuse`` = (previous lexicon, each passage's row in it or
        None), passages found there keep their term ids and are not analysed again."""
        offsets = np.zeros(len(passages) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(p.sentences) for p in passages])
        vocabulary: dict[str, int] = {}
        if reuse is not None:
            vocabulary = dict(reuse[0].vocabulary)
        for term in terms:
            vocabulary.setdefault(term, len(vocabulary))
        old_rows = list(reuse[1]) if reuse is not None else [None] * len(passages)
        old_ids, old_parts = _reused(reuse[0] if reuse is not None else None, old_rows)
        ids: list[np.ndarray] = []
        part_words: list[np.ndarray] = []
        for passage, old in zip(passages, old_rows, strict=True):
            if old is not None:
                ids.append(old_ids[old])
                part_words.append(old_parts[old])
                continue
            found, counts = analyse_passage(passage)
            ids.append(
                np.fromiter(
                    (vocabulary.setdefault(t, len(vocabulary)) for t in found),
                    dtype=np.int64,
                    count=len(found),
                )
            )
            part_words.append(np.asarray(counts, dtype=np.int64))
        flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        parts = np.concatenate(part_words) if part_words else np.zeros(0, np.int64)
        return cls(list(vocabulary), flat.astype(np.int64), parts, offsets)

    def ranked(self) -> LexiconParts:
        """The same with term ids in order of frequency (frequent terms code in one byte)."""
        counts = np.bincount(self.ids, minlength=len(self.terms))
        order = np.argsort(-counts, kind="stable")
        new_id = np.empty(len(order), dtype=np.int64)
        new_id[order] = np.arange(len(order))
        terms = [self.terms[i] for i in order]
        return LexiconParts(terms, new_id[self.ids], self.part_words, self.offsets)


def _reused(
    previous: Lexicon | None, old_rows: Sequence[int | None]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Term ids and part word counts of the previous lexicon's rows that are reused, by row."""
    kept = [r for r in old_rows if r is not None]
    old_ids: dict[int, np.ndarray] = {}
    old_parts: dict[int, np.ndarray] = {}
    if kept and previous is not None:
        decoded, counts = previous.decode_rows(np.asarray(kept, dtype=np.int64))
        splits = np.cumsum(counts)[:-1]
        for row, chunk in zip(kept, np.split(decoded, splits), strict=True):
            old_ids[row] = chunk
            old_parts[row] = previous.parts_of(row)
    return old_ids, old_parts
