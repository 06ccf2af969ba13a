"""How sure an answer is: the probability that the reply's first sentence answers the question.

The relevance gate (``ranking.relevance``) says whether the best *passage* answers; this model
reads the chosen *sentence* against the question too: how clearly it beat the other candidate
sentences, how much of the question's information it holds, whether it holds the kind of thing
asked for and a phrase of that kind that stands out, how far its passage led the others, and
whether the question was read with the conversation. Two logistic models of these signals,
fitted on the fit halves of squad_v11_dev and of the conversation set
(``benchmarks/fit_confidence.py``), give the probability that the answer is right (it decides
"sure" or "not sure") and the probability that the corpus answers the question at all (below
``decline``, "not found"); the relevance gate's ``hedge`` still declines first (``tier``).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

__all__ = [
    "CONFIDENCE_COEFFICIENTS",
    "CONFIDENCE_INTERCEPT",
    "SCOPE_COEFFICIENTS",
    "SCOPE_INTERCEPT",
    "SIGNALS",
    "AnswerSignals",
    "answer_confidence",
    "in_scope",
    "tier",
]


@dataclass(frozen=True, slots=True)
class AnswerSignals:
    """What the confidence of one answer is computed from (all known once it is composed)."""

    relevance: float  # the gate's probability that the best passage answers (0..1)
    sentence_score: float  # the chosen sentence's score (``ranking.score_sentences``)
    sentence_margin: float  # its lead over the next candidate sentence
    sentence_cosine: float  # its cosine with the question
    sentence_coverage: float  # share of the question's information it holds (0..1)
    typed: float  # 1: it holds the kind of thing asked for (a time, a number, a name)
    kind_asked: float  # 1: the question asks for such a kind
    phrase: float  # 1: a phrase of that kind stands out in it (``answer_span``)
    passage_margin: float  # the best passage's fused score over the second's
    lead_rank: float  # the rank of its passage among the best (0: the best)
    follow_up: float  # 1: the question was read with the conversation
    agreement: float  # how many of the dense and keyword sides alone put its passage first
    question_terms: float  # content words of the question as typed

    def values(self) -> tuple[float, ...]:
        """The signals as the model reads them, in ``SIGNALS`` order."""
        return _transform(astuple(self))


SIGNALS = (
    "relevance_logit",
    "sentence_score",
    "sentence_margin",
    "sentence_cosine",
    "sentence_coverage",
    "typed",
    "kind_asked",
    "phrase",
    "passage_margin",
    "lead_rank",
    "follow_up",
    "agreement",
    "question_terms",
)

# Fitted by benchmarks/fit_confidence.py on the fit halves of squad_v11_dev (3,600 questions,
# 1,200 of them also asked with their article hidden) and of the conversation set (see
# docs/quality.md, "Confidence"). CONFIDENCE: the first sentence holds a gold answer; SCOPE: the
# question is one the corpus answers at all (a hidden article's or an out-of-scope turn's is not).
CONFIDENCE_COEFFICIENTS: tuple[float, ...] = (
    0.131,  # relevance_logit
    0.914,  # sentence_score
    5.241,  # sentence_margin
    1.367,  # sentence_cosine
    1.995,  # sentence_coverage
    0.333,  # typed
    -0.263,  # kind_asked
    0.183,  # phrase
    0.215,  # passage_margin
    -0.329,  # lead_rank
    0.999,  # follow_up
    0.185,  # agreement
    0.138,  # question_terms
)
CONFIDENCE_INTERCEPT = -4.877
SCOPE_COEFFICIENTS: tuple[float, ...] = (
    0.775,  # relevance_logit
    1.258,  # sentence_score
    2.06,  # sentence_margin
    1.421,  # sentence_cosine
    1.499,  # sentence_coverage
    -0.026,  # typed
    -0.434,  # kind_asked
    0.159,  # phrase
    0.059,  # passage_margin
    -0.136,  # lead_rank
    1.113,  # follow_up
    -0.279,  # agreement
    0.019,  # question_terms
)
SCOPE_INTERCEPT = -1.112


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _transform(raw: tuple[float, ...]) -> tuple[float, ...]:
    """Raw signals to model inputs: the relevance as a logit, margins capped (one outlier
    passage score must not make any answer certain)."""
    values = list(raw)
    values[0] = _logit(values[0])
    values[2] = min(values[2], 1.0)
    values[8] = min(values[8], 5.0)
    values[12] = min(values[12], 8.0)
    return tuple(float(v) for v in values)


def _logistic(coefficients: tuple[float, ...], intercept: float, signals: AnswerSignals) -> float:
    logit = intercept + sum(c * v for c, v in zip(coefficients, signals.values(), strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


def answer_confidence(signals: AnswerSignals) -> float:
    """The probability that the answer's first sentence answers the question."""
    return _logistic(CONFIDENCE_COEFFICIENTS, CONFIDENCE_INTERCEPT, signals)


def in_scope(signals: AnswerSignals) -> float:
    """The probability that the corpus answers the question at all."""
    return _logistic(SCOPE_COEFFICIENTS, SCOPE_INTERCEPT, signals)


def tier(confidence: float, scope: float, gate: float, decline: float) -> str:
    """ "sure", "unsure" (answered, said to be uncertain) or "none" (not found): "none" when
    the question is unlikely to be one the corpus answers (``scope`` below ``decline``),
    "sure" from a ``confidence`` of ``gate``."""
    if scope < decline:
        return "none"
    return "sure" if confidence >= gate else "unsure"
