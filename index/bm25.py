"""BM25, as bm25s computed it (the "lucene" variant): the maths, the statistics a lexicon
stores for it, and the sentence and word-pair scores of a question's candidate passages.

A text without tokens counts as one of length 1. Term-frequency parts are computed in float64
and each term's contribution rounded to float32 once, as bm25s does, so the scores equal its
own (tests/index/test_lexicon.py checks them against it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .topk import top_rows

if TYPE_CHECKING:
    from .lexicon import Lexicon

__all__ = [
    "K1",
    "B",
    "Candidates",
    "best",
    "idf",
    "length_norm",
    "pair_statistics",
    "sentence_statistics",
    "sum_postings",
    "weights",
]

K1, B = 0.7, 0.6  # tuned on squad_v11_dev (k1 anywhere in 0.5-0.9 measures the same)


def idf(df: np.ndarray | float, n: int) -> np.ndarray:
    """BM25 "lucene" idf, computed in float64 and kept as float32, as bm25s keeps it."""
    df = np.asarray(df, dtype=np.float64)
    return np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)


def length_norm(lengths: np.ndarray, average: float, k1: float, b: float) -> np.ndarray:
    """k1 (1 - b + b dl / avgdl) per document, in float64: bm25s computes the term-frequency
    part in float64 and rounds the score to float32 once, and so does this module."""
    return k1 * ((1 - b) + b * lengths.astype(np.float64) / average)


def weights(tf: np.ndarray, norm: np.ndarray, term_idf: np.ndarray | float) -> np.ndarray:
    """One term's BM25 contribution to each document holding it ``tf`` times (float32)."""
    tf = tf.astype(np.float64)
    return (np.float64(term_idf) * (tf / (norm + tf))).astype(np.float32)


def sum_postings(
    postings: Sequence[tuple[np.ndarray, np.ndarray]], repeats: Sequence[int], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rows (of ``size``) that some posting list holds, and their summed weights (float64,
    where sums of a few float32 weights are exact: the order does not matter). A term asked
    ``repeats`` times counts that many times, its posting list read once."""
    rows = np.concatenate([r for r, _ in postings])
    summed = np.concatenate(
        [
            w if times == 1 else w * np.float64(times)
            for (_, w), times in zip(postings, repeats, strict=True)
        ],
        dtype=np.float64,
    )
    if len(rows) * 8 < size:  # few matches: sort them rather than touch every row
        unique, inverse = np.unique(rows, return_inverse=True)
        return unique, np.bincount(inverse, weights=summed)
    # (bincount converts int32 rows itself, at twice the cost of astype)
    totals = np.bincount(rows.astype(np.intp), weights=summed, minlength=size)
    # Every posting weighs more than 0, so the rows held are those with a total.
    unique = np.flatnonzero(totals > 0)
    return unique, totals[unique]


def best(rows: np.ndarray, totals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best positive totals (best first, ties by lower row) and their rows."""
    chosen = top_rows(totals, k)
    chosen = chosen[totals[chosen] > 0]
    return rows[chosen].astype(np.int64), totals[chosen]


# -- statistics stored at build time -------------------------------------------------------


def part_sentences(offsets: np.ndarray) -> np.ndarray:
    """For each part (title, section, sentences of each passage): its sentence row, or -1."""
    counts = np.diff(offsets) + 2
    total = int(counts.sum())
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    sentence = np.repeat(offsets[:-1], counts) + within - 2
    return np.where(within >= 2, sentence, -1)


def sentence_statistics(
    ids: np.ndarray,
    content: np.ndarray,
    passage_of_word: np.ndarray,
    part_words: np.ndarray,
    offsets: np.ndarray,
    vocab_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Sentence BM25's document frequency of each term and length of each sentence, where a
    sentence's tokens are its passage title's content words and its own."""
    n = len(offsets) - 1
    sentence_count = int(offsets[-1])
    part_of_passage_start = offsets[:-1] + 2 * np.arange(n)
    small = np.int32 if max(n, len(part_words)) < 2**31 else np.int64
    part_of_word = np.repeat(np.arange(len(part_words), dtype=small), part_words)
    is_sentence_part = np.ones(len(part_words), bool)
    is_sentence_part[part_of_passage_start] = False
    is_sentence_part[part_of_passage_start + 1] = False
    content_per_part = np.bincount(part_of_word[content], minlength=len(part_words))
    title_content = content_per_part[part_of_passage_start]
    sentence_of_passage = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    sentence_lengths = content_per_part[is_sentence_part] + title_content[sentence_of_passage]
    in_title = content & (part_of_word == part_of_passage_start[passage_of_word])
    title_pairs = np.unique(ids[in_title] * n + passage_of_word[in_title])
    word_sentence = part_sentences(offsets)[part_of_word]
    del part_of_word, in_title
    in_sentence = content & (word_sentence >= 0)
    sentence_pairs = np.unique(
        ids[in_sentence] * max(sentence_count, 1) + word_sentence[in_sentence]
    )
    del in_sentence, word_sentence
    s_term, s_row = np.divmod(sentence_pairs, max(sentence_count, 1))
    also_title = np.isin(s_term * n + sentence_of_passage[s_row], title_pairs)
    sentence_df = np.bincount(s_term[~also_title], minlength=vocab_size)
    t_term, t_row = np.divmod(title_pairs, max(n, 1))
    sentence_df += np.bincount(
        t_term, weights=np.diff(offsets)[t_row], minlength=vocab_size
    ).astype(np.int64)
    return sentence_df, sentence_lengths


def pair_statistics(
    stems: np.ndarray, passage_of_word: np.ndarray, vocab_size: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Word pairs (canonical stem ids a * vocab_size + b of adjacent words of a passage, stop
    words kept) held by two passages or more, sorted, and their document frequencies."""
    same = passage_of_word[1:] == passage_of_word[:-1]
    pair_keys = (stems[:-1] * vocab_size + stems[1:])[same]
    pair_rows = passage_of_word[1:][same].astype(np.int64)
    if vocab_size * vocab_size * max(n, 1) < 2**63:
        held = np.unique(pair_keys * max(n, 1) + pair_rows) // max(n, 1)
    else:  # too large to combine: sort the pairs per passage instead
        order = np.lexsort((pair_keys, pair_rows))
        k, r = pair_keys[order], pair_rows[order]
        first = np.ones(len(k), bool)
        first[1:] = (k[1:] != k[:-1]) | (r[1:] != r[:-1])
        held = k[first]
    keys, df = np.unique(held, return_counts=True)
    common = df >= 2
    return keys[common], df[common]


# -- a question's candidates ---------------------------------------------------------------


class Candidates:
    """Sentence and word-pair BM25 of a few passages, from their forward entries."""

    def __init__(self, lexicon: Lexicon, rows: np.ndarray) -> None:
        self.lexicon = lexicon
        self.rows = rows
        self.ids = lexicon.forward_ids(rows)
        part_rows, self.part_counts = lexicon.part_rows(rows)
        self.part_words = lexicon.arrays["part_words"][part_rows].astype(np.int64)
        self.part_of_word = np.repeat(np.arange(len(part_rows)), self.part_words)
        # Words per passage: its parts' words (every passage has a title and a section part).
        first_parts = np.cumsum(self.part_counts) - self.part_counts
        self.words = (
            np.add.reduceat(self.part_words, first_parts)
            if len(rows)
            else np.zeros(0, dtype=np.int64)
        )

    def sentence_scores(self, stems: Sequence[str]) -> np.ndarray:
        """BM25 of each sentence of the candidates (title + sentence), in candidate order, as
        ``bm25_sentences`` scored them."""
        lex = self.lexicon
        first_part = np.cumsum(self.part_counts) - self.part_counts  # each candidate's title
        is_sentence = np.ones(len(self.part_words), bool)
        is_sentence[first_part] = False
        is_sentence[first_part + 1] = False
        sentences = int(is_sentence.sum())
        totals = np.zeros(sentences, dtype=np.float32)
        terms = lex.term_ids(stems)
        if not terms or not sentences:
            return totals
        owner = np.repeat(np.arange(len(self.rows)), self.part_counts - 2)
        content = lex.arrays["term_stop"][self.ids] == 0
        per_part = np.bincount(self.part_of_word[content], minlength=len(self.part_words)).astype(
            np.int64
        )
        lengths = np.maximum(per_part[is_sentence] + per_part[first_part][owner], 1)
        norm = length_norm(lengths, lex.meta["average_sentence_length"], lex.k1, lex.b)
        df = lex.arrays["sentence_df"]
        for term in terms:
            at = self.part_of_word[self.ids == term]
            if not len(at):
                continue
            per = np.bincount(at, minlength=len(self.part_words))
            tf = per[is_sentence] + per[first_part][owner]
            totals += weights(tf, norm, idf(int(df[term]), lex.sentence_count)[()])
        return totals

    def pair_scores(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Word-pair BM25 of each candidate passage, as ``bm25_bigrams`` scored them."""
        lex = self.lexicon
        totals = np.zeros(len(self.rows), dtype=np.float32)
        keys = lex.pair_keys(pairs)
        if not keys or not len(self.ids):
            return totals
        stems = lex.arrays["term_stem"][self.ids].astype(np.int64)
        owner = np.repeat(np.arange(len(self.rows)), self.words)
        same = owner[1:] == owner[:-1]
        pair_keys = (stems[:-1] * int(lex.meta["pair_base"]) + stems[1:])[same]
        pair_owner = owner[1:][same]
        lengths = np.maximum(self.words - 1, 1)
        norm = length_norm(lengths, lex.meta["average_pair_length"], lex.k1, lex.b)
        table, table_df = lex.arrays["bigram_keys"], lex.arrays["bigram_df"]
        for key in keys:
            at = pair_owner[pair_keys == key]
            if not len(at):
                continue
            tf = np.bincount(at, minlength=len(self.rows))
            i = int(np.searchsorted(table, np.uint64(key)))
            df = int(table_df[i]) if i < len(table) and int(table[i]) == key else 1
            totals += weights(tf, norm, idf(df, lex.size)[()])
        return totals
