"""The keyword index (index/lexicon.py) and the compressed passage store, without the model:
scores equal bm25s's (the implementation they replace), a reindex that reuses term ids gives
what a build from scratch gives, and everything survives a round trip through the disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.build_vectors import embedding_text
from index.chunking import chunk_document
from index.documents import scan_corpus
from index.keyword import tokenize
from index.lexicon import Lexicon
from index.passage_blocks import PassageList, reuse_dictionary, write_passages
from index.passages import Passage
from index.postings import decode_posting, decode_varint, encode_varint
from index.terms import LexiconParts, bigram_pairs
from tests.conftest import CORPUS

QUESTIONS = [
    "Who won the election?",
    "wombat quokka",
    "When was the bridge opened to the public?",
    "What did the minister say about the budget of the city?",
    "How many people live in the town",
    "of the of the",
    "zzzz unknownword",
    "",
]


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    """The shipped story's passages, and 60 more recombining its sentences under a few titles
    (seeded), so that words have a spread of frequencies."""
    scan = scan_corpus(CORPUS)
    found = [p for d in scan.documents for p in chunk_document(d, 60, 1, 20)]
    sentences = [s for p in found for s in p.sentences]
    rng = np.random.default_rng(5)
    titles = [found[0].title, "Budget vote in the city council", "The bridge: a history"]
    for i in range(60):
        picked = rng.choice(len(sentences), int(rng.integers(1, 6)), replace=False)
        found.append(
            Passage(
                f"r{i}",
                f"doc{i // 4}",
                titles[i % 3],
                "",
                i % 4,
                tuple(sentences[j] for j in picked),
            )
        )
    # an empty title and a passage without words, which BM25 counts as length 1
    found.append(Passage("empty", "x/empty", "", "", 0, ("—",)))
    # term frequencies past the posting code's 2 bits and past a byte
    found.append(Passage("repeats", "x/rep", "Quokka", "", 0, ("quokka " * 5 + "wombat " * 300,)))
    found.append(dataclasses.replace(found[0], passage_id="sectioned", section="In brief"))
    return found


def bigram_tokens(text: str) -> list[str]:
    """Adjacent stemmed words as "a_b" tokens, for bm25s."""
    return [f"{a}_{b}" for a, b in bigram_pairs(text)]


def _bm25(tokens: list[list[str]]) -> bm25s.BM25:
    model = bm25s.BM25(k1=0.7, b=0.6, method="lucene")
    model.index([t or [""] for t in tokens], show_progress=False)
    return model


def _reference(passages: list[Passage], question: str) -> tuple[np.ndarray, ...]:
    """Passage, sentence and word-pair BM25 as the format-3 index computed them (bm25s)."""
    words, pairs = tokenize(question), bigram_tokens(question)
    passage = _bm25([tokenize(embedding_text(p)) for p in passages])
    sentence = _bm25([tokenize(f"{p.title} {s}") for p in passages for s in p.sentences])
    pair = _bm25([bigram_tokens(embedding_text(p)) for p in passages])
    zeros = np.zeros(len(passages), np.float32)
    return (
        passage.get_scores(words) if words else zeros,
        sentence.get_scores(words) if words else np.zeros(sum(len(p.sentences) for p in passages)),
        pair.get_scores(pairs) if pairs else zeros,
    )


def _scores(lexicon: Lexicon, question: str) -> tuple[np.ndarray, ...]:
    words, pairs = tokenize(question), bigram_pairs(question)
    rows = np.arange(lexicon.size)
    candidates = lexicon.candidates(rows)
    return (
        lexicon.scores(words),
        candidates.sentence_scores(words),
        candidates.pair_scores(pairs),
    )


def test_scores_equal_bm25s(passages: list[Passage]) -> None:
    lexicon = Lexicon.build(LexiconParts.from_passages(passages).ranked())
    for question in QUESTIONS:
        want = _reference(passages, question)
        got = _scores(lexicon, question)
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
        # candidates' scores (any subset, any order) are the same as the whole index's
        rows = np.array([7, 2, 30, 2, len(passages) - 1])
        np.testing.assert_array_equal(lexicon.scores_of(tokenize(question), rows), got[0][rows])
        pairs = lexicon.candidates(rows).pair_scores(bigram_pairs(question))
        np.testing.assert_array_equal(pairs, got[2][rows])
        top, scores = lexicon.top(tokenize(question), 10)
        expected = [r for r in np.lexsort((np.arange(len(got[0])), -got[0])) if got[0][r] > 0]
        assert list(top) == expected[:10]
        # summed in float64 there (as format 3's search did), in float32 here
        np.testing.assert_allclose(scores, got[0][top], rtol=1e-6)
    assert any(lexicon.scores(tokenize(q)).max() > 0 for q in QUESTIONS)


def test_round_trip(passages: list[Passage], tmp_path: Path) -> None:
    built = Lexicon.build(LexiconParts.from_passages(passages).ranked())
    built.save(tmp_path)
    loaded = Lexicon.load(tmp_path, built.offsets)
    assert loaded.terms == built.terms
    for question in QUESTIONS:
        for a, b in zip(_scores(built, question), _scores(loaded, question), strict=True):
            np.testing.assert_array_equal(a, b)
    parts = loaded.parts()
    np.testing.assert_array_equal(parts.ids, built.parts().ids)
    # frequent terms first, so most words take one byte
    assert parts.terms[0] == "!the"
    assert (tmp_path / "forward.bin").stat().st_size < 1.6 * len(parts.ids)


def _postings_by_term(lexicon: Lexicon) -> dict[str, list[tuple[int, int]]]:
    out = {}
    for term, name in enumerate(lexicon.terms):
        rows, tf = decode_posting(lexicon.arrays, term)
        if len(rows):
            out[name] = list(zip(rows.tolist(), tf.tolist(), strict=True))
    return out


def test_reusing_term_ids_gives_what_a_build_from_scratch_gives(
    passages: list[Passage],
) -> None:
    before = passages[:-5]
    first = Lexicon.build(LexiconParts.from_passages(before).ranked())
    changed = dataclasses.replace(
        passages[3], passage_id="changed", sentences=("A brand new quokka sentence.",)
    )
    after = [*passages[:3], changed, *passages[4:20], *passages[-5:], *passages[21:-5]]
    old_rows = {p.passage_id: i for i, p in enumerate(before)}
    reuse = [old_rows.get(p.passage_id) for p in after]
    assert sum(r is None for r in reuse) == 6  # the changed one and the five new ones
    incremental = Lexicon.build(LexiconParts.from_passages(after, (first, reuse)))
    scratch = Lexicon.build(LexiconParts.from_passages(after).ranked())
    assert _postings_by_term(incremental) == _postings_by_term(scratch)
    assert "quokka" in incremental.vocabulary
    for name in ("passage_lengths", "part_words"):
        np.testing.assert_array_equal(incremental.arrays[name], scratch.arrays[name])
    for question in [*QUESTIONS, "quokka sentence", "wombat quokka"]:
        for a, b in zip(_scores(incremental, question), _scores(scratch, question), strict=True):
            np.testing.assert_array_equal(a, b)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**40), max_size=200))
def test_varint_round_trip(values: list[int]) -> None:
    data, sizes = encode_varint(np.asarray(values, dtype=np.uint64))
    assert sizes.sum() == len(data)
    assert decode_varint(data).tolist() == values


def test_truncated_varint_is_refused() -> None:
    data, _ = encode_varint(np.array([5, 300, 70000], dtype=np.uint64))
    with pytest.raises(ValueError, match="truncated"):
        decode_varint(data[:-1])


@pytest.mark.parametrize("copies", [1, 40])  # 40: enough blocks to train a dictionary
def test_passage_compression_round_trip(
    passages: list[Passage], tmp_path: Path, copies: int
) -> None:
    many = [
        dataclasses.replace(p, passage_id=f"{p.passage_id}-{i}", url=f"https://x/{i}")
        for i in range(copies)
        for p in passages
    ]
    write_passages(tmp_path, many)
    blocks = np.load(tmp_path / "passage_blocks.npy")
    dictionary = (tmp_path / "passages.dict").read_bytes()
    assert bool(dictionary) == (copies > 1)
    stored = PassageList(tmp_path / "passages.zst", blocks, len(many), 16, dictionary)
    assert list(stored) == many
    for row in (0, 17, len(many) - 1, 5):
        assert stored[row] == many[row]
    assert stored[-1] == many[-1]
    assert stored.row_by_id() == {p.passage_id: i for i, p in enumerate(many)}
    raw = sum(len(p.text) for p in many)
    assert (tmp_path / "passages.zst").stat().st_size < raw / (2 if copies > 1 else 1)
    with pytest.raises(ValueError, match="does not match"):
        PassageList(tmp_path / "passages.zst", blocks[:-1], len(many), 16, dictionary)


def test_a_reindex_keeps_the_dictionary_until_the_corpus_doubles() -> None:
    assert reuse_dictionary(10_000, 10_001)
    assert reuse_dictionary(10_000, 20_000)
    assert not reuse_dictionary(10_000, 20_001)
    assert not reuse_dictionary(100, 101)  # too few passages to have trained one
