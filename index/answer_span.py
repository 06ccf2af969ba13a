"""The answer picked out: the phrase of an answer sentence that answers the question (a date, a
number, a person, a place, a name), found with pure rules and never invented: always a span of
the sentence, and only when one candidate clearly stands out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .keyword import content_terms
from .question_kind import question_kind
from .reader import Reading

__all__ = [
    "KIND_MARGINS",
    "MAX_SENTENCE",
    "READER_THRESHOLD",
    "Span",
    "answer_span",
    "pick_phrase",
]

MAX_SENTENCE = 2000  # characters: longer sentences are not searched (every regex here is linear)
# How far the best phrase must beat the next, by kind: chosen on the fit half of squad_v11_dev
# for a bolded-phrase F1 over 0.7 (names are the least certain kind; see docs/quality.md).
KIND_MARGINS = {"time": 0.0, "number": 0.5, "name": 1.5}
# Where the rules find no phrase, the reader's is shown from this span probability: the
# loosest threshold whose phrases keep an F1 over 0.7 on the fit half of squad_v11_dev's
# articles, rules included (benchmarks/reader_phrase.py; docs/quality.md, "The answer phrase").
READER_THRESHOLD = 0.3

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:1\d{3}|20\d{2})s?"
_TIME = re.compile(
    rf"\b(?:{_DAY}(?:\s?[-–]\s?{_DAY})?\s+{_MONTH}(?:,?\s+{_YEAR})?"
    rf"|{_MONTH}\s+{_DAY}(?:\s?[-–]\s?{_DAY})?(?:,?\s+{_YEAR})?"
    rf"|{_MONTH},?\s+{_YEAR}"
    rf"|(?:early|late|mid)[-\s]{_YEAR}"
    rf"|{_YEAR}(?:\s?[-–]\s?(?:\d{{2,4}}))?"
    r"|(?:the\s+)?\d{1,2}(?:st|nd|rd|th)\s+century"
    r"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday))\b"
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|dozen|half"
)
_NUMBER = re.compile(
    r"(?:[$£€]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?[-–]\s?\d[\d,]*(?:\.\d+)?)?"
    r"(?:\s?(?:%|percent|per cent|million|billion|trillion|thousand|hundred))?"
    rf"|\b(?:{_NUMBER_WORDS})(?:[\s-](?:{_NUMBER_WORDS}))*\b(?:\s(?:million|billion))?",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"\b[A-Z][\w’'.\-]*(?:\s+(?:(?:of|de|da|del|van|von|der|the|for|la|le|y)\s+)?"
    r"[A-Z][\w’'.\-]*)*"
)
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_LEADING = re.compile(r"^(?:the|a|an|in|on|at|by|since|about|some|around|of)\s+", re.IGNORECASE)
_WORD = re.compile(r"[\w’'\-]+")


@dataclass(frozen=True, slots=True)
class Span:
    """A phrase of the sentence: ``sentence[start:end] == text``."""

    start: int
    end: int
    text: str
    score: float


def _trim_asked(sentence: str, start: int, end: int, asked: set[str]) -> tuple[int, int]:
    """A name less the words the question already holds at either end ("NFL Commissioner
    Roger Goodell" for "Who was the commissioner of the NFL?" -> "Roger Goodell")."""
    words = list(re.finditer(r"\S+", sentence[start:end]))
    first, last = 0, len(words)
    while first < last and words[first].group(0).lower().strip(".,'’") in asked:
        first += 1
    while last > first and words[last - 1].group(0).lower().strip(".,'’") in asked:
        last -= 1
    if first == last:
        return start, start
    return start + words[first].start(), start + words[last - 1].end()


def _candidates(sentence: str, kind: str, asked: set[str]) -> list[tuple[int, int]]:
    pattern = {"time": _TIME, "number": _NUMBER, "name": _NAME}[kind]
    spans = []
    for match in pattern.finditer(sentence):
        start, end = match.span()
        text = sentence[start:end]
        lead = _LEADING.match(text)
        if lead and kind != "time":
            start += lead.end()
        if kind == "name":
            start, end = _trim_asked(sentence, start, end, asked)
            possessive = _POSSESSIVE.search(sentence[start:end])
            if possessive:
                end = start + possessive.start()
        text = sentence[start:end].rstrip(" .,;:")
        end = start + len(text)
        if not text.strip():
            continue
        if kind == "name" and start == 0 and " " not in text:
            continue  # one capitalised word opening the sentence: most often not a name
        if kind == "number" and kind_overlaps_time(text):
            continue
        spans.append((start, end))
    return spans


def kind_overlaps_time(text: str) -> bool:
    """A bare year read as a number ("in 1993") is a date, not a count."""
    return bool(re.fullmatch(_YEAR, text.strip()))


def _positions(sentence: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(0).lower()) for m in _WORD.finditer(sentence)]


def answer_span(question: str, sentence: str, margin: float | None = None) -> Span | None:
    """The phrase of ``sentence`` that answers ``question``, or None.

    Candidates are the phrases of the kind the question asks for, less those the question
    itself names. Each is scored by how close it sits to the question's own words in the
    sentence; a phrase is returned only when it is the only candidate, or beats the next by
    more than ``margin`` (by default the kind's ``KIND_MARGINS``).
    """
    kind = question_kind(question)
    if not kind or not sentence or len(sentence) > MAX_SENTENCE:
        return None
    if margin is None:
        margin = KIND_MARGINS[kind]
    asked = {w.lower() for w in _WORD.findall(question[:500])}
    asked_terms = set(content_terms(question[:500]))
    words = _positions(sentence)
    anchors = [pos for pos, word in words if word in asked and content_terms(word)]
    scored: list[Span] = []
    for start, end in _candidates(sentence, kind, asked):
        text = sentence[start:end]
        own = content_terms(text)
        if own and all(t in asked_terms for t in own):
            continue  # the question names it: it is not the answer
        if not own and text.lower() in asked:
            continue
        # Closeness to the question's words: each one in the sentence counts, the nearer the
        # more (a phrase among them, not one at the far end of a long sentence).
        score = sum(
            1.0 / (1.0 + min(abs(a - start), abs(a - end)) / 15.0)
            for a in anchors
            if not start <= a < end
        )
        scored.append(Span(start, end, text, score))
    if not scored:
        return None
    scored.sort(key=lambda s: -s.score)
    best = scored[0]
    if len(scored) > 1 and best.score - scored[1].score <= margin:
        return None
    return best


def pick_phrase(
    rule: Span | None, reading: Reading | None, threshold: float = READER_THRESHOLD
) -> tuple[int, int] | None:
    """The phrase to show, as characters of the sentence: the rules' when they find one (a
    date, a number or a name that stands out), else the reader's when its span is probable
    enough."""
    if rule is not None:
        return rule.start, rule.end
    if reading is not None and reading.text and reading.span_prob >= threshold:
        return reading.start, reading.end
    return None
