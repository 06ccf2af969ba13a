"""The keyword side of the index (format 4): BM25 over passages, over sentences and over word
pairs, from one compact forward index and the passages' posting lists, built with numpy.

What is stored (folder ``lexicon/`` of a generation)::

    terms.txt           one term per line: a stemmed content word, or "!" + the stem of a stop
                        word (stop words count for word pairs, never for BM25 over words)
    forward.bin         every word of every passage (title, section, sentences) as its term id,
                        variable-length coded (7 bits a byte; frequent terms take one byte)
    forward_offsets.npy byte offset of each passage in forward.bin
    part_words.npy      words of each part: passage i's parts (title, section, then its
                        sentences) are rows offsets[i] + 2 i ... offsets[i + 1] + 2 i + 1
    postings.npy        the passages holding each content term, in row order, as one
                        base-128 code a posting: (row - previous row) * 4 + min(tf - 1, 3)
                        (1.6 bytes a posting at 1M passages); postings_indptr.npy: each term's
                        first byte; passage_df.npy: each term's number of postings;
                        tf_extra.npy: the term frequency of each posting coded 3 (tf >= 4), in
                        posting order, tf_extra_indptr.npy: each term's first
    passage_lengths.npy content words of each passage (BM25's document length)
    sentence_df.npy     how many sentences hold each term (in the sentence or its title)
    bigram_keys.npy     word pairs held by two passages or more (canonical stem ids a * base + b)
                        and bigram_df.npy their document frequencies (a pair found in the
                        candidates but missing here occurs in one passage)
    term_stem.npy       canonical term id of each term's stem (a stop and a content word can
                        share one); term_stop.npy: 1 for stop-word terms
    lexicon.json        counts, average lengths, k1, b, the packing

The three BM25s (index/bm25.py) are the ones bm25s computed before: passage BM25 over title,
section and text, sentence BM25 over the title and one sentence, pair BM25 over adjacent stemmed
words with stop words kept. Only the passage BM25 is searched over the whole index (``top``);
sentence and pair scores are only ever needed for a question's ~200 candidates, so they are
computed from those candidates' forward entries and the stored document frequencies. A reindex
re-tokenises only new passages (index/terms.py): the others' term ids are copied from the
previous generation, and every derived array is rebuilt from the term ids with numpy in a
fraction of a second at 10,000 passages. The codes themselves: index/postings.py.
"""

from __future__ import annotations

import collections
import functools
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bm25 import (
    K1,
    B,
    Candidates,
    best,
    idf,
    length_norm,
    pair_statistics,
    sentence_statistics,
    sum_postings,
    weights,
)
from .postings import decode_posting, decode_varint, encode_forward, encode_postings, gather_ranges
from .terms import STOP_PREFIX, LexiconParts, term_kinds

__all__ = ["Lexicon"]

CACHE_BYTES = 128 * 2**20  # posting weights kept per index (8 bytes a posting)
_ARRAYS = (
    "forward_offsets",
    "part_words",
    "postings",
    "postings_indptr",
    "passage_df",
    "tf_extra",
    "tf_extra_indptr",
    "passage_lengths",
    "sentence_df",
    "bigram_keys",
    "bigram_df",
    "term_stem",
    "term_stop",
)


class Lexicon:
    """The stored keyword index of a generation (see the module's docstring)."""

    def __init__(
        self, arrays: dict[str, np.ndarray], forward: np.ndarray, meta: dict[str, Any]
    ) -> None:
        self._a = arrays
        self._forward = forward
        self.meta = meta
        self.size = int(meta["passages"])
        self.sentence_count = int(meta["sentences"])
        self.k1 = float(meta["k1"])
        self.b = float(meta["b"])
        # BM25 weights of recently asked terms' postings (a question reads its terms twice,
        # and common terms, the costly ones, come back in most questions)
        self._cache: collections.OrderedDict[int, tuple[np.ndarray, np.ndarray]] = (
            collections.OrderedDict()
        )
        self._cache_bytes = 0
        self._cache_lock = threading.Lock()
        self._terms_path: Path | None = None
        self._terms: list[str] | None = None
        self.offsets: np.ndarray = arrays["offsets"]

    @property
    def arrays(self) -> Mapping[str, np.ndarray]:
        """The stored arrays by name (see the module's docstring), and the sentence offsets."""
        return self._a

    # -- building ----------------------------------------------------------------------

    @classmethod
    def build(cls, parts: LexiconParts, k1: float = K1, b: float = B) -> Lexicon:
        """Every derived array from the term ids, in memory (``save`` writes them). Each step
        drops its temporary arrays when done: at a million passages they weigh gigabytes."""
        terms = parts.terms
        vocab_size = max(len(terms), 1)
        ids = np.asarray(parts.ids, dtype=np.int64)  # (int32 copies below keep memory down)
        offsets = np.asarray(parts.offsets, dtype=np.int64)
        n = len(offsets) - 1
        part_words = np.asarray(parts.part_words, dtype=np.int64)
        if len(part_words) != int(offsets[-1]) + 2 * n:
            raise ValueError("part_words does not match the sentence offsets")
        stop, term_stem = term_kinds(terms)
        words_per_passage = (
            np.add.reduceat(part_words, offsets[:-1] + 2 * np.arange(n))
            if n
            else np.zeros(0, np.int64)
        )
        small = np.int32 if max(n, len(part_words)) < 2**31 else np.int64
        passage_of_word = np.repeat(np.arange(n, dtype=small), words_per_passage)
        content = ~stop[ids] if len(ids) else np.zeros(0, bool)
        arrays = encode_postings(ids[content], passage_of_word[content], n, vocab_size)
        passage_lengths = np.bincount(passage_of_word[content], minlength=n)
        sentence_df, sentence_lengths = sentence_statistics(
            ids, content, passage_of_word, part_words, offsets, vocab_size
        )
        del content
        bigram_keys, bigram_df = pair_statistics(term_stem[ids], passage_of_word, vocab_size, n)
        del passage_of_word
        forward, arrays["forward_offsets"] = encode_forward(ids, words_per_passage)
        word_dtype = np.uint16 if not len(part_words) or part_words.max() < 2**16 else np.uint32
        arrays |= {
            "offsets": offsets,
            "part_words": part_words.astype(word_dtype),
            "passage_lengths": passage_lengths.astype(np.uint32),
            "sentence_df": sentence_df.astype(np.uint32),
            "bigram_keys": bigram_keys.astype(np.uint64),
            "bigram_df": bigram_df.astype(np.uint32),
            "term_stem": term_stem.astype(np.uint32),
            "term_stop": stop.astype(np.uint8),
        }
        meta = _meta(len(terms), k1, b, passage_lengths, sentence_lengths, words_per_passage)
        lexicon = cls(arrays, forward, meta)
        lexicon._terms = list(terms)
        return lexicon

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "terms.txt").write_text("".join(t + "\n" for t in self.terms), encoding="utf-8")
        self._forward.tofile(folder / "forward.bin")
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", self._a[name])
        (folder / "lexicon.json").write_text(json.dumps(self.meta, indent=1))

    @classmethod
    def load(cls, folder: Path, offsets: np.ndarray) -> Lexicon:
        """Memory-map a saved lexicon; ``offsets`` are the generation's sentence offsets."""
        meta = json.loads((folder / "lexicon.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        arrays["offsets"] = np.asarray(offsets, dtype=np.int64)
        size = (folder / "forward.bin").stat().st_size
        forward = (
            np.asarray(np.memmap(folder / "forward.bin", np.uint8, "r"))
            if size
            else np.zeros(0, np.uint8)
        )
        lexicon = cls(arrays, forward, meta)
        lexicon._terms_path = folder / "terms.txt"
        lexicon.terms  # noqa: B018 - read now, so a damaged file is found at load
        if not lexicon._consistent():
            raise ValueError("the keyword index (lexicon/) does not match the manifest")
        return lexicon

    def _consistent(self) -> bool:
        """Whether the arrays' lengths agree with each other and with the counts."""
        a, terms, offsets = self._a, max(int(self.meta["terms"]), 1), self.offsets
        return all(
            (
                len(a["forward_offsets"]) == self.size + 1,
                int(a["forward_offsets"][-1]) == len(self._forward),
                len(a["part_words"]) == self.sentence_count + 2 * self.size,
                len(a["postings_indptr"]) == terms + 1,
                int(a["postings_indptr"][-1]) == len(a["postings"]),
                len(a["passage_df"]) == terms,
                len(a["tf_extra_indptr"]) == terms + 1,
                int(a["tf_extra_indptr"][-1]) == len(a["tf_extra"]),
                len(a["passage_lengths"]) == self.size,
                len(offsets) == self.size + 1 and int(offsets[-1]) == self.sentence_count,
            )
        )

    # -- vocabulary --------------------------------------------------------------------

    @property
    def terms(self) -> list[str]:
        if self._terms is None:
            assert self._terms_path is not None
            text = self._terms_path.read_text(encoding="utf-8")
            self._terms = text.split("\n")[:-1]
            if len(self._terms) != int(self.meta["terms"]):
                raise ValueError("lexicon/terms.txt does not match lexicon.json")
        return self._terms

    @functools.cached_property
    def vocabulary(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.terms)}

    def term_ids(self, stems: Sequence[str]) -> list[int]:
        """Content term ids of stemmed query words (unknown ones left out, repeats kept)."""
        vocab = self.vocabulary
        return [vocab[s] for s in stems if s in vocab]

    def pair_keys(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Keys of query word pairs whose both stems occur in the corpus (repeats kept)."""
        vocab = self.vocabulary
        stem = self._a["term_stem"]
        base = int(self.meta["pair_base"])
        keys = []
        for a, b in pairs:
            ia = vocab.get(a, vocab.get(STOP_PREFIX + a))
            ib = vocab.get(b, vocab.get(STOP_PREFIX + b))
            if ia is not None and ib is not None:
                keys.append(int(stem[ia]) * base + int(stem[ib]))
        return keys

    # -- passage BM25 ------------------------------------------------------------------

    @functools.cached_property
    def _passage_norm(self) -> np.ndarray:
        lengths = np.maximum(self._a["passage_lengths"], 1)
        return length_norm(lengths, self.meta["average_passage_length"], self.k1, self.b)

    def _posting(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 weights) of a term's postings, read-only; kept in a cache of at most
        ``CACHE_BYTES``."""
        with self._cache_lock:
            found = self._cache.get(term)
            if found is not None:
                self._cache.move_to_end(term)
                return found
        rows, tf = decode_posting(self._a, term)
        term_idf = idf(int(self._a["passage_df"][term]), self.size)[()]
        term_weights = weights(tf, self._passage_norm[rows], term_idf)
        rows = rows.astype(np.int32 if self.size < 2**31 else np.int64)
        rows.flags.writeable = False
        term_weights.flags.writeable = False
        size = rows.nbytes + term_weights.nbytes
        with self._cache_lock:
            if term not in self._cache:
                self._cache[term] = (rows, term_weights)
                self._cache_bytes += size
            while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
                _, (old_rows, old_weights) = self._cache.popitem(last=False)
                self._cache_bytes -= old_rows.nbytes + old_weights.nbytes
        return rows, term_weights

    def top(self, stems: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` passages with the best positive BM25 (best first, ties by lower row) and
        their scores. Only the query terms' posting lists are read."""
        terms = self.term_ids(stems)
        if not terms or k <= 0 or not self.size:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        repeats = collections.Counter(terms)
        found = [self._posting(t) for t in repeats]
        if not sum(len(rows) for rows, _ in found):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows, totals = sum_postings(found, list(repeats.values()), self.size)
        return best(rows, totals.astype(np.float32), k)

    def scores(self, stems: Sequence[str]) -> np.ndarray:
        """Passage BM25 of every passage (for tests and small indexes)."""
        totals = np.zeros(self.size, dtype=np.float32)
        for term in self.term_ids(stems):
            rows, term_weights = self._posting(term)
            totals[rows] += term_weights
        return totals

    def scores_of(self, stems: Sequence[str], rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Passage BM25 of only these rows, by binary search in each term's posting list."""
        wanted = np.asarray(rows, dtype=np.int64)
        totals = np.zeros(len(wanted), dtype=np.float32)
        if not len(wanted):
            return totals
        for term in self.term_ids(stems):
            posting, term_weights = self._posting(term)
            if not len(posting):
                continue
            at = np.searchsorted(posting, wanted)
            inside = at < len(posting)
            hit = np.zeros(len(wanted), dtype=bool)
            hit[inside] = posting[at[inside]] == wanted[inside]
            if hit.any():
                totals[hit] += term_weights[at[hit]]
        return totals

    # -- the forward index -------------------------------------------------------------

    def forward_ids(self, rows: np.ndarray) -> np.ndarray:
        """Term ids of every word of these passages, concatenated."""
        offsets = self._a["forward_offsets"]
        return decode_varint(self._forward[gather_ranges(offsets[rows], offsets[rows + 1])])

    def decode_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Term ids of every word of these passages, concatenated, and how many each has."""
        return self.forward_ids(rows), self.words_of(rows)

    def words_of(self, rows: np.ndarray) -> np.ndarray:
        part_rows, part_counts = self.part_rows(rows)
        words = self._a["part_words"][part_rows].astype(np.int64)
        within = np.repeat(np.arange(len(rows)), part_counts)
        return np.bincount(within, weights=words, minlength=len(rows)).astype(np.int64)

    def part_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The part rows of these passages (title, section, sentences), concatenated, and how
        many parts each has."""
        offsets = self.offsets
        starts = offsets[rows] + 2 * rows
        counts = offsets[rows + 1] - offsets[rows] + 2
        return gather_ranges(starts, starts + counts), counts

    def parts_of(self, row: int) -> np.ndarray:
        start = int(self.offsets[row]) + 2 * row
        stop = int(self.offsets[row + 1]) + 2 * row + 2
        return self._a["part_words"][start:stop].astype(np.int64)

    def parts(self) -> LexiconParts:
        """Terms and term ids of the whole index (the input ``build`` derives it from)."""
        rows = np.arange(self.size, dtype=np.int64)
        ids, _ = self.decode_rows(rows)
        return LexiconParts(
            list(self.terms), ids, self._a["part_words"].astype(np.int64), self.offsets
        )

    def candidates(self, rows: Sequence[int] | np.ndarray) -> Candidates:
        return Candidates(self, np.asarray(rows, dtype=np.int64))


def _meta(
    terms: int,
    k1: float,
    b: float,
    passage_lengths: np.ndarray,
    sentence_lengths: np.ndarray,
    words_per_passage: np.ndarray,
) -> dict[str, Any]:
    """lexicon.json: counts, BM25's parameters and average lengths (keys in this order)."""
    n, sentence_count = len(passage_lengths), len(sentence_lengths)
    return {
        "passages": n,
        "sentences": sentence_count,
        "terms": terms,
        "k1": k1,
        "b": b,
        "pair_base": max(terms, 1),
        "average_passage_length": float(np.maximum(passage_lengths, 1).mean()) if n else 1.0,
        "average_sentence_length": (
            float(np.maximum(sentence_lengths, 1).mean()) if sentence_count else 1.0
        ),
        "average_pair_length": float(np.maximum(words_per_passage - 1, 1).mean()) if n else 1.0,
    }
