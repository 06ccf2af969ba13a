"""Posting lists and the forward index as bytes: base-128 variable-length codes (7 bits a byte,
so small numbers take one), coded and decoded with numpy a whole array at a time.

A term's posting list holds one code per passage that has the term, in row order:
(row - previous row) * 4 + min(tf - 1, 3); a term frequency coded 3 (tf >= 4) is kept apart, in
``tf_extra``. The forward index holds every word of every passage as its term id, one code a
word.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "decode_posting",
    "decode_varint",
    "encode_forward",
    "encode_postings",
    "encode_varint",
    "gather_ranges",
]


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


def encode_postings(
    word_terms: np.ndarray, word_rows: np.ndarray, rows: int, vocab_size: int
) -> dict[str, np.ndarray]:
    """The posting lists of words given by term id and row (of ``rows``): ``postings`` (the
    codes), ``postings_indptr`` (each term's first byte), ``passage_df`` (each term's number
    of postings), ``tf_extra`` and ``tf_extra_indptr`` (the frequencies coded 3)."""
    unique, tf = np.unique(word_terms * rows + word_rows, return_counts=True)
    term_of, row = np.divmod(unique, max(rows, 1))
    del unique
    passage_df = np.bincount(term_of, minlength=vocab_size)
    posting_starts = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(passage_df, out=posting_starts[1:])
    gaps = np.diff(row, prepend=0)
    firsts = posting_starts[:-1][passage_df > 0]
    gaps[firsts] = row[firsts]
    postings, sizes = encode_varint(gaps * 4 + np.minimum(tf - 1, 3))
    del gaps
    byte_starts = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=byte_starts[1:])
    indptr = byte_starts[posting_starts]
    del byte_starts, sizes
    escaped = tf >= 4
    tf_extra = tf[escaped]
    tf_extra = tf_extra.astype(
        np.uint8 if not len(tf_extra) or tf_extra.max() < 256 else np.uint32
    )
    tf_extra_indptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(np.bincount(term_of[escaped], minlength=vocab_size), out=tf_extra_indptr[1:])
    return {
        "postings": postings,
        "postings_indptr": indptr,
        "passage_df": passage_df.astype(np.uint32),
        "tf_extra": tf_extra,
        "tf_extra_indptr": tf_extra_indptr,
    }


def decode_posting(arrays: Mapping[str, np.ndarray], term: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, term frequencies) of a term's postings, read-only."""
    start, end = int(arrays["postings_indptr"][term]), int(arrays["postings_indptr"][term + 1])
    values = decode_varint(arrays["postings"][start:end])
    if len(values) != int(arrays["passage_df"][term]):
        raise ValueError(f"the posting list of term {term} is damaged")
    rows = np.cumsum(values >> 2)
    tf = (values & 3) + 1
    escaped = tf == 4
    if escaped.any():
        first = int(arrays["tf_extra_indptr"][term])
        tf[escaped] = arrays["tf_extra"][first : int(arrays["tf_extra_indptr"][term + 1])]
    rows.flags.writeable = False
    tf.flags.writeable = False
    return rows, tf


def encode_forward(
    ids: np.ndarray, words_per_passage: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The forward index of these term ids (every passage's words, passage after passage):
    its bytes, and the byte offset of each passage (one more than there are passages)."""
    n = len(words_per_passage)
    forward, sizes = encode_varint(ids)
    forward_offsets = np.zeros(n + 1, dtype=np.int64)
    if n:
        ends = np.cumsum(words_per_passage)
        byte_ends = np.cumsum(sizes)
        forward_offsets[1:] = np.where(ends > 0, byte_ends[np.maximum(ends - 1, 0)], 0)
        # passages without words end where the previous one ended
        forward_offsets[1:] = np.maximum.accumulate(forward_offsets[1:])
    return forward, forward_offsets
