"""Data types shared by the whole engine: documents, passages, hits and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .answer_confidence import AnswerSignals


@dataclass(frozen=True, slots=True)
class Section:
    """A run of paragraphs under one heading ("" for text before the first heading)."""

    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """One file of the corpus, read and split into sections, with its metadata."""

    doc_id: str  # path relative to the corpus folder, with forward slashes
    title: str
    sections: tuple[Section, ...]
    source: str = ""
    date: str = ""
    url: str = ""
    fingerprint: str = ""  # sha256 of the file's bytes

    @property
    def text(self) -> str:
        return "\n\n".join(p for s in self.sections for p in s.paragraphs)


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk of a document: the unit that is retrieved and cited.

    ``sentences`` are the passage's sentences in order; ``text`` is them joined. ``position`` is
    the passage's 0-based place in its document and ``count`` how many passages the document has
    (neither is part of the id).
    """

    passage_id: str
    doc_id: str
    title: str
    section: str
    position: int
    sentences: tuple[str, ...]
    source: str = ""
    date: str = ""
    url: str = ""
    count: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage found for a question, with its fused score and the scores behind it."""

    passage: Passage
    score: float
    dense: float = 0.0  # cosine of question and passage (or its best sentence)
    keyword: float = 0.0  # BM25 score normalised to [0, 1] within the question


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    """A sentence of the corpus chosen as (part of) the answer, tied to where it came from."""

    text: str
    passage: Passage
    score: float


@dataclass(frozen=True, slots=True)
class Answer:
    """What the engine says to a question: answer sentences first, then passages as snippets."""

    question: str
    query: str  # the question as searched, after follow-up context was applied
    found: bool
    sentences: tuple[AnswerSentence, ...] = ()
    hits: tuple[Hit, ...] = ()
    nearest_titles: tuple[str, ...] = field(default=())  # when not found: what the corpus is about
    sure: bool = True  # False: the answer may not be right, and the reply says so
    relevance: float = 0.0  # the gate's probability that the best passage answers
    # The phrase of the first sentence that answers the question, as (start, end) in its text;
    # set only when a phrase of the kind asked for stands out (index/answer_span.py); a hedged
    # answer keeps its phrase, under its "not sure" line.
    phrase: tuple[int, int] | None = None
    # The probability that the first sentence answers the question (index/answer_confidence.py)
    # and the signals it was computed from (None when not found).
    confidence: float = 0.0
    signals: AnswerSignals | None = None

    @property
    def phrase_text(self) -> str:
        if self.phrase is None or not self.sentences:
            return ""
        return self.sentences[0].text[self.phrase[0] : self.phrase[1]]
