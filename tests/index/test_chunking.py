"""Chunking: sentence and section boundaries, size limits, overlap, stable ids."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunking import chunk_document, pack_sentences, split_sentences, split_windows
from index.passages import Document, Section


def _doc(*sections: Section, doc_id: str = "d.md") -> Document:
    return Document(doc_id=doc_id, title="T", sections=sections)


def test_split_sentences_respects_abbreviations_and_decimals() -> None:
    text = "Mr. Smith paid $3.50 in the U.S. yesterday. He left at 5 p.m. on Friday. Then rain."
    assert split_sentences(text) == [
        "Mr. Smith paid $3.50 in the U.S. yesterday.",
        "He left at 5 p.m. on Friday.",
        "Then rain.",
    ]


def test_passages_keep_their_section_heading_and_position() -> None:
    doc = _doc(
        Section("", ("Intro sentence one. Intro sentence two.",)),
        Section("Background", ("Some background here. And more of it.",)),
    )
    passages = chunk_document(doc, max_words=50, min_words=0)
    assert [p.section for p in passages] == ["", "Background"]
    assert [p.position for p in passages] == [0, 1]
    assert all(p.count == 2 for p in passages)


def test_long_paragraph_splits_at_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(10)]
    chunks = pack_sentences([sentences], max_words=21, overlap=1)
    assert all(sum(len(s.split()) for s in c) <= 21 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after[0] == before[-1]  # one sentence of overlap


def test_short_paragraphs_merge_until_min_words() -> None:
    paragraphs = [["Tiny one."], ["Tiny two."], ["A much longer paragraph with many words in it."]]
    assert pack_sentences(paragraphs, max_words=100, overlap=0, min_words=5) == [
        ("Tiny one.", "Tiny two.", "A much longer paragraph with many words in it.")
    ]


def test_ids_are_stable_and_depend_on_content_and_source() -> None:
    section = Section("", ("The same text. Twice over.",))
    a = chunk_document(_doc(section))
    b = chunk_document(_doc(section))
    c = chunk_document(_doc(section, doc_id="other.md"))
    d = chunk_document(_doc(Section("", ("The same text. Changed.",))))
    assert a[0].passage_id == b[0].passage_id
    assert a[0].passage_id != c[0].passage_id
    assert a[0].passage_id != d[0].passage_id


_word = st.text(alphabet="abcdefghij", min_size=1, max_size=8)
_sentence = st.lists(_word, min_size=1, max_size=15).map(lambda ws: " ".join(ws) + ".")
_paragraph = st.lists(_sentence, min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_paragraph, min_size=1, max_size=6),
    st.integers(5, 60),
    st.integers(0, 2),
    st.integers(0, 30),
)
def test_packing_loses_no_sentence_and_respects_the_limit(
    paragraphs: list[list[str]], max_words: int, overlap: int, min_words: int
) -> None:
    min_words = min(min_words, max_words)
    chunks = pack_sentences(paragraphs, max_words, overlap, min_words)
    flat = [s for p in paragraphs for s in p]
    # Every sentence appears, in order; the only extras are the carried overlap sentences.
    concat = [s for chunk in chunks for s in chunk]
    position = iter(concat)
    assert all(any(s == c for c in position) for s in flat)  # flat is a subsequence
    assert len(concat) - len(flat) <= overlap * (len(chunks) - 1)
    for chunk in chunks:
        words = sum(len(s.split()) for s in chunk)
        assert words <= max_words or len(chunk) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12000), st.integers(5, 400))
def test_windows_rejoin_to_the_text_and_stay_within_their_size(text: str, size: int) -> None:
    pieces = split_windows(text, size)
    assert "".join(pieces) == text
    assert all(len(p) <= size for p in pieces)


def test_a_pathological_paragraph_is_split_in_linear_time() -> None:
    """pysbd alone is quadratic on "a. a. a. …" (8,000 of them took 15 s); in windows the
    work grows with the length (pytest-timeout fails a run that hangs)."""
    sentences = split_sentences("a. " * 20000)
    assert len(sentences) >= 10000
    assert split_sentences("One sentence. Another one.") == ["One sentence.", "Another one."]
