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

The three BM25s are the ones bm25s computed before (the "lucene" variant, k1 0.7, b 0.6, a text
without tokens counting as one of length 1): passage BM25 over title, section and text, sentence
BM25 over the title and one sentence, pair BM25 over adjacent stemmed words with stop words
kept. Only the passage BM25 is searched over the whole index (``top``); sentence and pair scores
are only ever needed for a question's ~200 candidates, so they are computed from those
candidates' forward entries and the stored document frequencies. A reindex re-tokenises only new
passages: the others' term ids are copied from the previous generation, and every derived array
is rebuilt from the term ids with numpy in a fraction of a second at 10,000 passages.
"""

from __future__ import annotations

import collections
import functools
import itertools
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .keyword import STOP_WORDS, _stemmer, _words
from .passages import Passage

__all__ = ["K1", "B", "Lexicon", "LexiconParts", "analyse_passage", "bigram_pairs"]

K1, B = 0.7, 0.6  # tuned on squad_v11_dev (k1 anywhere in 0.5-0.9 measures the same)
CACHE_BYTES = 128 * 2**20  # posting weights kept per index (8 bytes a posting)


def _best(rows: np.ndarray, totals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best positive totals (best first, ties by lower row) and their rows."""
    from .ranking import top_rows

    best = top_rows(totals, k)
    best = best[totals[best] > 0]
    return rows[best].astype(np.int64), totals[best]


STOP_PREFIX = "!"
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
    """Adjacent stemmed words (stop words kept), as ``keyword.bigram_tokens`` pairs them."""
    stems = _stemmer().stemWords(_words(text))
    return list(itertools.pairwise(stems))


def _idf(df: np.ndarray | float, n: int) -> np.ndarray:
    """BM25 "lucene" idf, computed in float64 and kept as float32, as bm25s keeps it."""
    df = np.asarray(df, dtype=np.float64)
    return np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)


def _norm(lengths: np.ndarray, average: float, k1: float, b: float) -> np.ndarray:
    """k1 (1 - b + b dl / avgdl) per document, in float64: bm25s computes the term-frequency
    part in float64 and rounds the score to float32 once, and so does this module."""
    return k1 * ((1 - b) + b * lengths.astype(np.float64) / average)


# -- variable-length coding of term ids ---------------------------------------------------


def encode_varint(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Little-endian base-128 bytes of each value, and how many bytes each took."""
    values = np.asarray(values, dtype=np.uint64)
    sizes = np.ones(len(values), dtype=np.int64)
    for bits in (7, 14, 21, 28, 35):
        sizes += values >= (np.uint64(1) << np.uint64(bits))
    starts = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    out = np.empty(int(starts[-1]), dtype=np.uint8)
    rest = values.copy()
    for k in range(int(sizes.max()) if len(sizes) else 0):
        live = sizes > k
        more = sizes[live] > k + 1
        out[starts[:-1][live] + k] = (rest[live] & np.uint64(127)).astype(np.uint8) | (
            more.astype(np.uint8) << 7
        )
        rest >>= np.uint64(7)
    return out, sizes


def decode_varint(data: np.ndarray) -> np.ndarray:
    """The values of a stream of complete base-128 codes."""
    data = np.asarray(data, dtype=np.uint8)
    if not len(data):
        return np.zeros(0, dtype=np.int64)
    last = data < 128
    if not last[-1]:
        raise ValueError("truncated variable-length code")
    ends = np.flatnonzero(last)
    values = data[ends].astype(np.int64)
    if len(ends) == len(data):  # every code one byte
        return values
    sizes = np.diff(ends, prepend=-1)
    longer = np.flatnonzero(sizes > 1)
    k = 1
    while len(longer):  # Horner's rule from each code's last byte back to its first
        values[longer] = (values[longer] << 7) | (data[ends[longer] - k] & 127)
        k += 1
        longer = longer[sizes[longer] > k]
    return values


def gather_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Indices starts[0]..ends[0], starts[1]..ends[1], ... concatenated."""
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(total, dtype=np.int64)


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
        kept = [r for r in old_rows if r is not None]
        old_ids: dict[int, np.ndarray] = {}
        old_parts: dict[int, np.ndarray] = {}
        if kept and reuse is not None:
            previous = reuse[0]
            decoded, counts = previous.decode_rows(np.asarray(kept, dtype=np.int64))
            splits = np.cumsum(counts)[:-1]
            for row, chunk in zip(kept, np.split(decoded, splits), strict=True):
                old_ids[row] = chunk
                old_parts[row] = previous.parts_of(row)
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


class Lexicon:
    """The stored keyword index of a generation (see the module's docstring)."""

    def __init__(self, arrays: dict[str, np.ndarray], forward: np.ndarray, meta: dict) -> None:
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

    # -- building ----------------------------------------------------------------------

    @classmethod
    def build(cls, parts: LexiconParts, k1: float = K1, b: float = B) -> Lexicon:
        """Every derived array from the term ids, in memory (``save`` writes them)."""
        terms = parts.terms
        vocab_size = max(len(terms), 1)
        ids = np.asarray(parts.ids, dtype=np.int64)  # (int32 copies below keep memory down)
        offsets = np.asarray(parts.offsets, dtype=np.int64)
        n = len(offsets) - 1
        part_words = np.asarray(parts.part_words, dtype=np.int64)
        sentence_count = int(offsets[-1])
        if len(part_words) != sentence_count + 2 * n:
            raise ValueError("part_words does not match the sentence offsets")
        stop = np.fromiter((t.startswith(STOP_PREFIX) for t in terms), bool, len(terms))
        stem_first: dict[str, int] = {}
        term_stem = np.fromiter(
            (stem_first.setdefault(t.removeprefix(STOP_PREFIX), i) for i, t in enumerate(terms)),
            np.int64,
            len(terms),
        )
        part_of_passage_start = offsets[:-1] + 2 * np.arange(n)
        words_per_passage = (
            np.add.reduceat(part_words, part_of_passage_start) if n else np.zeros(0, np.int64)
        )
        small = np.int32 if max(n, len(part_words)) < 2**31 else np.int64
        passage_of_word = np.repeat(np.arange(n, dtype=small), words_per_passage)
        part_of_word = np.repeat(np.arange(len(part_words), dtype=small), part_words)
        content = ~stop[ids] if len(ids) else np.zeros(0, bool)

        # passage postings: (term, row) -> tf
        keys = ids[content] * n + passage_of_word[content]
        unique, tf = np.unique(keys, return_counts=True)
        term_of, rows = np.divmod(unique, max(n, 1))
        del unique, keys
        passage_df = np.bincount(term_of, minlength=vocab_size)
        posting_starts = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(passage_df, out=posting_starts[1:])
        gaps = np.diff(rows, prepend=0)
        firsts = posting_starts[:-1][passage_df > 0]
        gaps[firsts] = rows[firsts]
        postings, sizes = encode_varint(gaps * 4 + np.minimum(tf - 1, 3))
        del gaps
        byte_starts = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=byte_starts[1:])
        indptr = byte_starts[posting_starts]
        escaped = tf >= 4
        tf_extra = tf[escaped]
        tf_extra = tf_extra.astype(
            np.uint8 if not len(tf_extra) or tf_extra.max() < 256 else np.uint32
        )
        tf_extra_indptr = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_of[escaped], minlength=vocab_size), out=tf_extra_indptr[1:])
        del byte_starts, sizes, escaped
        passage_lengths = np.bincount(passage_of_word[content], minlength=n)

        # sentences: a sentence's tokens are its title's and its own content words
        is_sentence_part = np.ones(len(part_words), bool)
        is_sentence_part[part_of_passage_start] = False
        is_sentence_part[part_of_passage_start + 1] = False
        sentence_part = part_sentences(offsets)  # sentence row of each part, or -1
        content_per_part = np.bincount(part_of_word[content], minlength=len(part_words))
        title_content = content_per_part[part_of_passage_start]
        sentence_of_passage = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
        sentence_lengths = content_per_part[is_sentence_part] + title_content[sentence_of_passage]
        in_title = content & (part_of_word == part_of_passage_start[passage_of_word])
        title_pairs = np.unique(ids[in_title] * n + passage_of_word[in_title])
        word_sentence = sentence_part[part_of_word]
        in_sentence = content & (word_sentence >= 0)
        sentence_pairs = np.unique(
            ids[in_sentence] * max(sentence_count, 1) + word_sentence[in_sentence]
        )
        s_term, s_row = np.divmod(sentence_pairs, max(sentence_count, 1))
        also_title = np.isin(s_term * n + sentence_of_passage[s_row], title_pairs)
        sentence_df = np.bincount(s_term[~also_title], minlength=vocab_size)
        t_term, t_row = np.divmod(title_pairs, max(n, 1))
        sentence_df += np.bincount(
            t_term, weights=np.diff(offsets)[t_row], minlength=vocab_size
        ).astype(np.int64)

        # word pairs over the whole passage (title, section, sentences), stop words kept
        stems = term_stem[ids]
        del part_of_word, content, in_title, in_sentence, word_sentence
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
        bigram_keys, bigram_df = np.unique(held, return_counts=True)
        common = bigram_df >= 2

        forward, sizes = encode_varint(ids)
        forward_offsets = np.zeros(n + 1, dtype=np.int64)
        if n:
            ends = np.cumsum(words_per_passage)
            byte_ends = np.cumsum(sizes)
            forward_offsets[1:] = np.where(ends > 0, byte_ends[np.maximum(ends - 1, 0)], 0)
            # passages without words end where the previous one ended
            forward_offsets[1:] = np.maximum.accumulate(forward_offsets[1:])
        word_dtype = np.uint16 if not len(part_words) or part_words.max() < 2**16 else np.uint32
        arrays = {
            "offsets": offsets,
            "forward_offsets": forward_offsets,
            "part_words": part_words.astype(word_dtype),
            "postings": postings,
            "postings_indptr": indptr,
            "passage_df": passage_df.astype(np.uint32),
            "tf_extra": tf_extra,
            "tf_extra_indptr": tf_extra_indptr,
            "passage_lengths": passage_lengths.astype(np.uint32),
            "sentence_df": sentence_df.astype(np.uint32),
            "bigram_keys": bigram_keys[common].astype(np.uint64),
            "bigram_df": bigram_df[common].astype(np.uint32),
            "term_stem": term_stem.astype(np.uint32),
            "term_stop": stop.astype(np.uint8),
        }
        bigram_lengths = np.maximum(words_per_passage - 1, 1)
        meta = {
            "passages": n,
            "sentences": sentence_count,
            "terms": len(terms),
            "k1": k1,
            "b": b,
            "pair_base": vocab_size,
            "average_passage_length": float(np.maximum(passage_lengths, 1).mean()) if n else 1.0,
            "average_sentence_length": (
                float(np.maximum(sentence_lengths, 1).mean()) if sentence_count else 1.0
            ),
            "average_pair_length": float(bigram_lengths.mean()) if n else 1.0,
        }
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
        checks = (
            len(arrays["forward_offsets"]) == lexicon.size + 1,
            int(arrays["forward_offsets"][-1]) == len(forward),
            len(arrays["part_words"]) == lexicon.sentence_count + 2 * lexicon.size,
            len(arrays["postings_indptr"]) == max(int(meta["terms"]), 1) + 1,
            int(arrays["postings_indptr"][-1]) == len(arrays["postings"]),
            len(arrays["passage_df"]) == max(int(meta["terms"]), 1),
            len(arrays["tf_extra_indptr"]) == max(int(meta["terms"]), 1) + 1,
            int(arrays["tf_extra_indptr"][-1]) == len(arrays["tf_extra"]),
            len(arrays["passage_lengths"]) == lexicon.size,
            len(offsets) == lexicon.size + 1 and int(offsets[-1]) == lexicon.sentence_count,
        )
        if not all(checks):
            raise ValueError("the keyword index (lexicon/) does not match the manifest")
        return lexicon

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
        return _norm(lengths, self.meta["average_passage_length"], self.k1, self.b)

    def _decode_posting(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, term frequencies) of a term's postings, read-only."""
        a = self._a
        start, end = int(a["postings_indptr"][term]), int(a["postings_indptr"][term + 1])
        values = decode_varint(a["postings"][start:end])
        if len(values) != int(a["passage_df"][term]):
            raise ValueError(f"the posting list of term {term} is damaged")
        rows = np.cumsum(values >> 2)
        tf = (values & 3) + 1
        escaped = tf == 4
        if escaped.any():
            first = int(a["tf_extra_indptr"][term])
            tf[escaped] = a["tf_extra"][first : int(a["tf_extra_indptr"][term + 1])]
        rows.flags.writeable = False
        tf.flags.writeable = False
        return rows, tf

    def _posting(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 weights) of a term's postings, read-only; kept in a cache of at most
        ``CACHE_BYTES``."""
        with self._cache_lock:
            found = self._cache.get(term)
            if found is not None:
                self._cache.move_to_end(term)
                return found
        rows, tf = self._decode_posting(term)
        weights = self._weights(rows, tf, self._idf_passage(term))
        rows = rows.astype(np.int32 if self.size < 2**31 else np.int64)
        rows.flags.writeable = False
        weights.flags.writeable = False
        size = rows.nbytes + weights.nbytes
        with self._cache_lock:
            if term not in self._cache:
                self._cache[term] = (rows, weights)
                self._cache_bytes += size
            while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
                _, (old_rows, old_weights) = self._cache.popitem(last=False)
                self._cache_bytes -= old_rows.nbytes + old_weights.nbytes
        return rows, weights

    def _idf_passage(self, term: int) -> np.float32:
        return _idf(int(self._a["passage_df"][term]), self.size)[()]

    def _weights(self, rows: np.ndarray, tf: np.ndarray, idf: np.float32) -> np.ndarray:
        tf = tf.astype(np.float64)
        return (np.float64(idf) * (tf / (self._passage_norm[rows] + tf))).astype(np.float32)

    def top(self, stems: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` passages with the best positive BM25 (best first, ties by lower row) and
        their scores. Only the query terms' posting lists are read."""
        terms = self.term_ids(stems)
        if not terms or k <= 0 or not self.size:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # A word asked twice counts twice, its posting list read once. The totals are summed in
        # float64, where sums of a few float32 weights are exact: the order does not matter.
        repeats = collections.Counter(terms)
        found = [self._posting(t) for t in repeats]
        rows = np.concatenate([r for r, _ in found])
        weights = np.concatenate(
            [
                w if repeats[t] == 1 else w * np.float64(repeats[t])
                for t, (_, w) in zip(repeats, found, strict=True)
            ],
            dtype=np.float64,
        )
        if not len(rows):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if len(rows) * 8 < self.size:  # few matches: sort them rather than touch every row
            unique, inverse = np.unique(rows, return_inverse=True)
            totals = np.bincount(inverse, weights=weights)
        else:
            # (bincount converts int32 rows itself, at twice the cost of astype)
            totals = np.bincount(rows.astype(np.intp), weights=weights, minlength=self.size)
            # Every posting weighs more than 0, so the rows held are those with a total.
            unique = np.flatnonzero(totals > 0)
            totals = totals[unique]
        return _best(unique, totals.astype(np.float32), k)

    def scores(self, stems: Sequence[str]) -> np.ndarray:
        """Passage BM25 of every passage (for tests and small indexes)."""
        totals = np.zeros(self.size, dtype=np.float32)
        for term in self.term_ids(stems):
            rows, weights = self._posting(term)
            totals[rows] += weights
        return totals

    def scores_of(self, stems: Sequence[str], rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Passage BM25 of only these rows, by binary search in each term's posting list."""
        wanted = np.asarray(rows, dtype=np.int64)
        totals = np.zeros(len(wanted), dtype=np.float32)
        if not len(wanted):
            return totals
        for term in self.term_ids(stems):
            posting, weights = self._posting(term)
            if not len(posting):
                continue
            at = np.searchsorted(posting, wanted)
            inside = at < len(posting)
            hit = np.zeros(len(wanted), dtype=bool)
            hit[inside] = posting[at[inside]] == wanted[inside]
            if hit.any():
                totals[hit] += weights[at[hit]]
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
        part_rows, part_counts = self._part_rows(rows)
        words = self._a["part_words"][part_rows].astype(np.int64)
        within = np.repeat(np.arange(len(rows)), part_counts)
        return np.bincount(within, weights=words, minlength=len(rows)).astype(np.int64)

    def _part_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


class Candidates:
    """Sentence and word-pair BM25 of a few passages, from their forward entries."""

    def __init__(self, lexicon: Lexicon, rows: np.ndarray) -> None:
        self.lexicon = lexicon
        self.rows = rows
        self.ids = lexicon.forward_ids(rows)
        part_rows, self.part_counts = lexicon._part_rows(rows)
        self.part_words = lexicon._a["part_words"][part_rows].astype(np.int64)
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
        content = lex._a["term_stop"][self.ids] == 0
        per_part = np.bincount(self.part_of_word[content], minlength=len(self.part_words)).astype(
            np.int64
        )
        lengths = np.maximum(per_part[is_sentence] + per_part[first_part][owner], 1)
        norm = _norm(lengths, lex.meta["average_sentence_length"], lex.k1, lex.b)
        df = lex._a["sentence_df"]
        for term in terms:
            at = self.part_of_word[self.ids == term]
            if not len(at):
                continue
            per = np.bincount(at, minlength=len(self.part_words))
            tf = (per[is_sentence] + per[first_part][owner]).astype(np.float64)
            idf = np.float64(_idf(int(df[term]), lex.sentence_count)[()])
            totals += (idf * (tf / (norm + tf))).astype(np.float32)
        return totals

    def pair_scores(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Word-pair BM25 of each candidate passage, as ``bm25_bigrams`` scored them."""
        lex = self.lexicon
        totals = np.zeros(len(self.rows), dtype=np.float32)
        keys = lex.pair_keys(pairs)
        if not keys or not len(self.ids):
            return totals
        stems = lex._a["term_stem"][self.ids].astype(np.int64)
        owner = np.repeat(np.arange(len(self.rows)), self.words)
        same = owner[1:] == owner[:-1]
        pair_keys = (stems[:-1] * int(lex.meta["pair_base"]) + stems[1:])[same]
        pair_owner = owner[1:][same]
        lengths = np.maximum(self.words - 1, 1)
        norm = _norm(lengths, lex.meta["average_pair_length"], lex.k1, lex.b)
        table, table_df = lex._a["bigram_keys"], lex._a["bigram_df"]
        for key in keys:
            at = pair_owner[pair_keys == key]
            if not len(at):
                continue
            tf = np.bincount(at, minlength=len(self.rows)).astype(np.float64)
            i = int(np.searchsorted(table, np.uint64(key)))
            df = int(table_df[i]) if i < len(table) and int(table[i]) == key else 1
            idf = np.float64(_idf(df, lex.size)[()])
            totals += (idf * (tf / (norm + tf))).astype(np.float32)
        return totals


def part_sentences(offsets: np.ndarray) -> np.ndarray:
    """For each part (title, section, sentences of each passage): its sentence row, or -1."""
    counts = np.diff(offsets) + 2
    total = int(counts.sum())
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    sentence = np.repeat(offsets[:-1], counts) + within - 2
    return np.where(within >= 2, sentence, -1)
