"""Pure ranking decisions: fusing the dense and keyword sides, duplicates, the relevance gate,
and which sentences answer the question."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RankingSettings",
    "collapse_duplicates",
    "answer_type",
    "fuse",
    "matches_answer_type",
    "is_relevant",
    "relevance",
    "score_sentences",
    "term_overlap",
    "top_rows",
]


@dataclass(frozen=True, slots=True)
class RankingSettings:
    """Global knobs of retrieval. Defaults are the values tuned on squad_v11_dev (see README)."""

    depth: int = 50  # candidates taken from each side before fusion
    dense_weight: float = 0.30  # cosine of question and whole passage
    sentence_weight: float = 0.30  # cosine of question and the passage's best sentence
    keyword_weight: float = 0.40  # BM25 divided by the question's maximum possible BM25
    top_k: int = 3  # passages returned as snippets
    duplicate_cosine: float = 0.97  # passages closer than this to a better one are dropped
    gate: float = 0.35  # below this relevance the answer is "not found"
    answer_sentences: int = 2  # at most this many sentences lead the reply
    sentence_cosine_weight: float = 0.6
    sentence_overlap_weight: float = 0.4
    sentence_type_weight: float = 0.15  # bonus when the sentence holds the expected answer type
    second_sentence_ratio: float = 0.9  # a second sentence must score this close to the first


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties by lower index)."""
    if k <= 0 or scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def fuse(
    dense: np.ndarray, sentence: np.ndarray, keyword: np.ndarray, settings: RankingSettings
) -> np.ndarray:
    """One score per candidate: a weighted sum of features that already share a 0..1 scale."""
    return (
        settings.dense_weight * dense
        + settings.sentence_weight * sentence
        + settings.keyword_weight * keyword
    )


def collapse_duplicates(
    order: Sequence[int], vectors: np.ndarray, texts: Sequence[str], threshold: float
) -> list[int]:
    """Keep candidates (positions into ``vectors``/``texts``, best first) that are not near-copies
    of a better one: same text, or cosine above ``threshold``."""
    kept: list[int] = []
    seen_texts: set[str] = set()
    for i in order:
        text = " ".join(texts[i].lower().split())
        if text in seen_texts:
            continue
        if kept and float(np.max(vectors[kept] @ vectors[i])) >= threshold:
            continue
        kept.append(i)
        seen_texts.add(text)
    return kept


def relevance(dense: float, sentence: float, keyword: float) -> float:
    """How strongly the best passage matches the question, on a scale meant for the gate."""
    return max(dense, sentence) * 0.6 + keyword * 0.4


def is_relevant(score: float, settings: RankingSettings) -> bool:
    return score >= settings.gate


def term_overlap(weights: dict[str, float], sentence_terms: Sequence[str]) -> float:
    """Share of the question's term weight (idf) that the sentence contains (0..1): rare words
    of the question count for more than common ones."""
    total = sum(weights.values())
    if not total:
        return 0.0
    return sum(weights[t] for t in set(sentence_terms) if t in weights) / total


def score_sentences(
    cosines: np.ndarray, overlaps: np.ndarray, typed: np.ndarray, settings: RankingSettings
) -> np.ndarray:
    """How well each candidate sentence answers the question: its cosine with the question, the
    share of the question's terms it holds, and whether it holds the expected kind of answer."""
    return (
        settings.sentence_cosine_weight * cosines
        + settings.sentence_overlap_weight * overlaps
        + settings.sentence_type_weight * typed
    )


# -- answer types ------------------------------------------------------------------------------
# A question's wording says what kind of thing answers it (a time, a number, a name); a sentence
# that holds such a thing, beyond what the question already says, is more likely the answer.

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|"
           "december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_TIME = re.compile(
    rf"\b(1[0-9]{{3}}|20[0-9]{{2}})s?\b|\b({_MONTHS})\b|\b(monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|today|yesterday|tomorrow|century|centuries|decade|ago|since|"
    r"until|week|weeks|month|months|year|years|daily|annually|era|period|dynasty)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|half|quarter|"
    r"percent|single|double|triple|several)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'\-]+")
_TIME_Q = re.compile(
    r"^(when)\b|\b(what|which) (year|years|date|day|month|century|decade|time|period|era)\b|"
    r"\bhow long ago\b",
    re.IGNORECASE,
)
_NUMBER_Q = re.compile(
    r"\bhow (many|much|big|large|small|long|old|far|tall|high|often|fast|heavy|wide|deep)\b|"
    r"\bwhat (percentage|percent|number|amount|proportion|size|fraction|share)\b",
    re.IGNORECASE,
)
_NAME_Q = re.compile(
    r"^(who|whom|whose|where)\b|\b(which|what) (person|man|woman|country|countries|city|"
    r"company|organi[sz]ation|group|team|nation|state|party|leader|minister|president|"
    r"place|region|river|town|university|band|king|queen)\b",
    re.IGNORECASE,
)
_DEFINITION_Q = re.compile(r"^(what|who)\s+(is|are|was|were)\s+(the\s+|an?\s+)?(.{2,40}?)\??$",
                           re.IGNORECASE)


def answer_type(question: str) -> str:
    """"time", "number", "name", "definition" or "" for a question's expected answer."""
    q = question.strip()
    if _TIME_Q.search(q):
        return "time"
    if _NUMBER_Q.search(q):
        return "number"
    if _DEFINITION_Q.match(q):
        return "definition"
    if _NAME_Q.search(q):
        return "name"
    return ""


def definition_subject(question: str) -> str:
    match = _DEFINITION_Q.match(question.strip())
    return match.group(4).strip() if match else ""


def matches_answer_type(sentence: str, question: str, kind: str) -> bool:
    """Whether the sentence holds something of the expected kind that the question lacks."""
    if not kind:
        return False
    asked = question.lower()
    if kind == "time":
        return any(m.group(0).lower() not in asked for m in _TIME.finditer(sentence))
    if kind == "number":
        return any(m.group(0).lower() not in asked for m in _NUMBER.finditer(sentence))
    if kind == "definition":
        subject = re.escape(definition_subject(question))
        return bool(
            re.search(rf"\({subject}\)|\b{subject}\b\s*(\(|,\s+(an?|the)\b|\s+(is|are|was|were)"
                      rf"\s+(an?|the)\b)|\b(an?|the)\s+[\w\s]{{0,40}}\(\s*{subject}\s*\)",
                      sentence, re.IGNORECASE)
        )
    return any(m.group(0).lower() not in asked for m in _CAPITALISED.finditer(sentence))
