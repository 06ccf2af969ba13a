"""Near-duplicate texts: the same wire story from two outlets, a story saved twice.

Texts are compared by their word 5-grams ("shingles"). Two texts are near-duplicates when most
of the shorter one's shingles are in the other (overlap coefficient), so a copy with a
different first line, a byline or an extra closing paragraph is still found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DUPLICATE_OVERLAP", "Duplicate", "find_duplicates", "overlap", "shingles"]

DUPLICATE_OVERLAP = 0.8
SHINGLE = 5
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Duplicate:
    """``doc_id`` is a near-copy of ``original`` (the older one, or the first by id)."""

    doc_id: str
    original: str
    similarity: float


def shingles(text: str, size: int = SHINGLE) -> frozenset[int]:
    """Hashes of the text's overlapping runs of ``size`` words (lower-cased); a text shorter
    than that is one shingle."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return frozenset([hash(tuple(words))]) if words else frozenset()
    # Python's own hash of each run of words (a tuple, built in C): 1.8x faster than a CRC of
    # the joined words. Shingles are only compared within one process, never stored.
    return frozenset(map(hash, zip(*(words[i:] for i in range(size)), strict=False)))


def overlap(a: frozenset[int], b: frozenset[int]) -> float:
    """Share of the smaller set that the other holds (0 when either is empty)."""
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small)


def find_duplicates(
    documents: Sequence[tuple[str, str, str]], threshold: float = DUPLICATE_OVERLAP
) -> list[Duplicate]:
    """(doc_id, date, text) triples to the near-duplicates among them.

    Each duplicate names the document it copies: the older one by date (undated ones count as
    newest), then the first by id. Candidates are found through shared shingles, so unrelated
    documents are never compared.
    """
    sets = [shingles(text) for _, _, text in documents]
    postings: dict[int, list[int]] = {}
    for i, s in enumerate(sets):
        for h in s:
            postings.setdefault(h, []).append(i)
    order = sorted(
        range(len(documents)), key=lambda i: (documents[i][1] or "9999", documents[i][0])
    )
    rank = {doc: r for r, doc in enumerate(order)}
    found: dict[int, Duplicate] = {}
    for i in order:
        if i in found:
            continue
        shared: dict[int, int] = {}
        for h in sets[i]:
            for j in postings[h]:
                if j != i and rank[j] > rank[i]:
                    shared[j] = shared.get(j, 0) + 1
        for j, common in shared.items():
            if j in found:
                continue
            similarity = common / max(min(len(sets[i]), len(sets[j])), 1)
            if similarity >= threshold:
                found[j] = Duplicate(documents[j][0], documents[i][0], round(similarity, 3))
    return sorted(found.values(), key=lambda d: d.doc_id)
