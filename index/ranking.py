"""Pure ranking decisions: fusing the dense and keyword sides, duplicates, the relevance gate,
and which sentences answer the question."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .duplicates import DUPLICATE_OVERLAP, overlap, shingles
from .keyword import text_terms
from .models import E5_MODEL
from .question_kind import asked_type, definition_subject
from .settings import RankingSettings
from .topk import top_rows

__all__ = [
    "GATE_COEFFICIENTS",
    "GATE_MODELS",
    "GATE_MODELS_ACROSS",
    "MINILM_GATE",
    "Features",
    "GateModel",
    "collapse_duplicates",
    "coverage",
    "favour_answer_type",
    "fuse",
    "gate_model",
    "matches_answer_type",
    "multilingual",
    "prefer_newer",
    "question_share",
    "relevance",
    "score_sentences",
    "zscore",
]


@dataclass(frozen=True, slots=True)
class Features:
    """Per-candidate features, one array each, aligned with the candidate rows."""

    keyword: np.ndarray
    dense: np.ndarray
    sentence_keyword: np.ndarray
    bigram: np.ndarray
    sentence: np.ndarray


def zscore(values: np.ndarray) -> np.ndarray:
    """Standard scores within one question's candidates (0 when they are all equal)."""
    std = float(values.std())
    if std < 1e-9:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - values.mean()) / std).astype(np.float32)


def fuse(features: Features, settings: RankingSettings, keyword_scale: float = 1.0) -> np.ndarray:
    """One score per candidate: a weighted sum of z-normalised features.

    z-normalising within the question's candidates puts BM25 (unbounded, corpus-dependent) and
    cosines on one scale; the weights were fitted with a listwise softmax on half of squad.
    ``keyword_scale`` scales the three keyword weights (``ACROSS_KEYWORD_SCALE`` for a question
    in another language than the passages: their words cannot match, only names can).
    """
    return (
        keyword_scale * settings.keyword_weight * zscore(features.keyword)
        + settings.dense_weight * zscore(features.dense)
        + keyword_scale * settings.sentence_keyword_weight * zscore(features.sentence_keyword)
        + keyword_scale * settings.bigram_weight * zscore(features.bigram)
        + settings.sentence_weight * zscore(features.sentence)
    )


ACROSS_KEYWORD_SCALE = 0.25


# The same candidates come back for many questions: their shingles are computed once.
_shingles = functools.lru_cache(maxsize=4096)(shingles)


def collapse_duplicates(
    order: Sequence[int],
    vectors: np.ndarray,
    texts: Sequence[str] | Callable[[int], str],
    threshold: float,
    overlap_threshold: float = DUPLICATE_OVERLAP,
    limit: int | None = None,
) -> list[int]:
    """Keep candidates (positions into ``vectors``/``texts``, best first) that are not near-copies
    of a better one: same text, cosine above ``threshold``, or most of the shorter one's word
    5-grams in the other (the same wire story from another outlet). Stops at ``limit`` kept;
    ``texts`` may be a function of the position, so only the texts looked at are read."""
    text_of = texts if callable(texts) else texts.__getitem__
    kept: list[int] = []
    kept_shingles: list[frozenset[int]] = []
    seen_texts: set[str] = set()
    for i in order:
        if limit is not None and len(kept) >= limit:
            break
        text = " ".join(text_of(i).lower().split())
        if text in seen_texts:
            continue
        if kept and float(np.max(vectors[kept] @ vectors[i])) >= threshold:
            continue
        grams = _shingles(text)
        if any(overlap(grams, other) >= overlap_threshold for other in kept_shingles):
            continue
        kept.append(i)
        kept_shingles.append(grams)
        seen_texts.add(text)
    return kept


def prefer_newer(
    order: Sequence[int], scores: np.ndarray, dates: Mapping[int, str], margin: float
) -> list[int]:
    """``order`` (best first) with a newer story's passage moved above an older one's when their
    scores differ by at most ``margin``; passages without a date are never moved past."""
    result = list(order)
    if margin <= 0:
        return result
    for pos in range(1, len(result)):
        j = pos
        item = result[j]
        while (
            j > 0
            and dates.get(item, "")
            and dates.get(result[j - 1], "")
            and dates.get(item, "") > dates.get(result[j - 1], "")
            and float(scores[result[j - 1]]) - float(scores[item]) <= margin
        ):
            result[j] = result[j - 1]
            j -= 1
        result[j] = item
    return result


# Logistic regression fitted on squad_v11_dev (answerable: gold article indexed; unanswerable:
# the same questions with their article's passages masked), on half the questions; checked on
# the other half (AUC 0.968).
GATE_COEFFICIENTS = (4.673, 7.244, 6.959)  # passage cosine, best-sentence cosine, coverage
GATE_INTERCEPT = -10.179


@dataclass(frozen=True, slots=True)
class GateModel:
    """The relevance gate's logistic model for one embedding model (its cosines have their own
    spread: e5's are all high)."""

    coefficients: tuple[float, float, float]  # passage cosine, best-sentence cosine, coverage
    intercept: float
    # Intercepts fitted for questions in these languages (codes of index/language.py): a
    # question's language shifts all its cosines with passages in another (an Arabic or Russian
    # question's are lower than a French one's), so one calibration does not fit every language.
    languages: tuple[tuple[str, float], ...] = ()

    def for_language(self, language: str | None) -> GateModel:
        """This model for a question in ``language``: with the intercept fitted for it, or
        as it is for any other."""
        for code, intercept in self.languages:
            if code == language:
                return GateModel(self.coefficients, intercept)
        return self


MINILM_GATE = GateModel(GATE_COEFFICIENTS, GATE_INTERCEPT)
# e5's cosines are high and narrow (an unrelated passage gets 0.8): steeper coefficients. Fitted
# on the fit half of 800 squad questions asked with and without their article; held-out AUC
# 0.965 (benchmarks/fit_gate.py).
E5_GATE_COEFFICIENTS = (33.583, 44.981, 6.905)
E5_GATE_INTERCEPT = -70.265
# Fitted the same way on multilingual-e5-small's cosines (benchmarks/fit_gate.py, docs/quality.md).
GATE_MODELS = {E5_MODEL: GateModel(E5_GATE_COEFFICIENTS, E5_GATE_INTERCEPT)}
# For a question in another language than its passage (benchmarks/fit_gate.py --questions, on
# the fit halves of evaluation/multilingual's squad questions, each asked with and without its
# article, through the split): the cosine weights fitted without coverage on the French ones
# (held-out AUC 0.895), then with them fixed an intercept per language (French, Hausa, Arabic,
# Russian). A language with no questions to fit on (an English question over a French story)
# keeps French's, as before: the intercept fitted on all four together answered more English
# questions from a French story and cited the English story first less (docs/quality.md).
GATE_MODELS_ACROSS = {
    E5_MODEL: GateModel(
        (41.612, 75.646, 0.0),
        -97.05,
        (("fr", -97.05), ("ha", -98.318), ("ar", -93.191), ("ru", -94.087)),
    )
}


def gate_model(embedding: str, across: bool = False) -> GateModel:
    """The gate fitted for the model that made an index's vectors (its embedding id, e.g.
    ``multilingual-e5-small@onnx-int8-...``); MiniLM's for any other. ``across``: the question
    and the passage are in different languages, so the passage cannot hold the question's words
    and coverage says nothing; the model's gate fitted without it is used (``for_language``
    gives its intercept for the question's language)."""
    family = embedding.split("@", 1)[0]
    if across and family in GATE_MODELS_ACROSS:
        return GATE_MODELS_ACROSS[family]
    return GATE_MODELS.get(family, MINILM_GATE)


def multilingual(embedding: str) -> bool:
    """Whether the model that made an index's vectors reads other languages: it has a gate of
    its own across languages."""
    return embedding.split("@", 1)[0] in GATE_MODELS_ACROSS


def coverage(weights: dict[str, float], passage_terms: set[str]) -> float:
    """Share of the question's information (by word frequency in general English) that the
    passage holds: "How big is the joint force?" leans on "joint" and "force" more than "big"."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in passage_terms) / total


def relevance(
    dense: float, sentence: float, covered: float, gate: GateModel = MINILM_GATE
) -> float:
    """Probability that the best passage answers the question (the gate compares it)."""
    a, b, c = gate.coefficients
    logit = a * dense + b * sentence + c * covered + gate.intercept
    return float(1.0 / (1.0 + np.exp(-logit)))


def question_share(question_terms: set[str], sentence_terms: Sequence[str]) -> float:
    """Share of the sentence's terms that the question already holds (0..1): a sentence made
    only of the question's words restates it rather than answering it."""
    if not sentence_terms:
        return 1.0
    return sum(1 for t in sentence_terms if t in question_terms) / len(sentence_terms)


def score_sentences(
    cosines: np.ndarray,
    keyword: np.ndarray,
    shares: np.ndarray,
    typed: np.ndarray,
    settings: RankingSettings,
    keyword_scale: float = 0.0,
    type_weight: float | None = None,
) -> np.ndarray:
    """How well each sentence of a passage answers the question: its cosine with the question,
    its BM25 relative to the passage's best sentence, less its share of the question's own
    words, plus a bonus when it holds the kind of thing asked for. ``keyword_scale`` is the
    BM25 that counts as 1 (the best sentence's when 0)."""
    best = keyword_scale or (float(keyword.max()) if keyword.size else 0.0)
    relative = keyword / best if best > 0 else np.zeros_like(keyword)
    return (
        settings.sentence_cosine_weight * cosines
        + settings.sentence_bm25_weight * relative
        - settings.question_share_penalty * shares
        + (settings.sentence_type_weight if type_weight is None else type_weight) * typed
    )


# -- answer types ------------------------------------------------------------------------------
# A question's wording says what kind of thing answers it (question_kind.py); a sentence that
# holds such a thing, beyond what the question already says, is more likely the answer.

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|"
    "december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_TIME = re.compile(
    rf"\b(1[0-9]{{3}}|20[0-9]{{2}})s?\b|\b({_MONTHS})\.?\s+\d|\b\d{{1,2}}(st|nd|rd|th)?\s+"
    rf"({_MONTHS})\b|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|"
    r"yesterday|tomorrow|tonight|century|centuries|decades?)\b|\b\d+\s+(years?|months?|weeks?|"
    r"days?|hours?)\s+(ago|later|earlier|after|before)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|half|quarter|"
    r"percent|single|double|triple|several)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'\-]+")


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
            re.search(
                rf"\({subject}\)|\b{subject}\b\s*(\(|,\s+(an?|the)\b|\s+(is|are|was|were)"
                rf"\s+(an?|the)\b)|\b(an?|the)\s+[\w\s]{{0,40}}\(\s*{subject}\s*\)",
                sentence,
                re.IGNORECASE,
            )
        )
    return any(m.group(0).lower() not in asked for m in _CAPITALISED.finditer(sentence))


def favour_answer_type(
    sentences: Callable[[int], Sequence[str]],
    fused: np.ndarray,
    question: str,
    tokens: Sequence[str],
    settings: RankingSettings,
) -> None:
    """Raise, in ``fused``, the best passages that hold a sentence with the kind of answer the
    question asks for (a time, a number, a name, a definition) next to one of its words
    (``sentences(i)`` gives candidate i's sentences, read only for the best few)."""
    kind = asked_type(question, question)
    weight = settings.definition_weight if kind == "definition" else settings.type_weight
    if not kind or not weight:
        return
    terms = set(tokens)
    for i in top_rows(fused, settings.type_depth):
        if any(
            terms.intersection(text_terms(sentence))
            and matches_answer_type(sentence, question, kind)
            for sentence in sentences(i)
        ):
            fused[i] += weight
