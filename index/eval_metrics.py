"""Retrieval and answer figures: recall@k, MRR, the gold passage's rank, SQuAD's answer
normalisation and token F1, and one method's figures over a run."""

from __future__ import annotations

import collections
import re
import statistics
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .phrase_eval import PhraseCurve

__all__ = [
    "MethodResult",
    "contains_answer",
    "gold_rank",
    "mrr",
    "normalize_answer",
    "recall_at",
    "token_f1",
]

_PUNCTUATION = frozenset(string.punctuation)


@dataclass(slots=True)
class MethodResult:
    """Figures for one method. ``ranks`` holds the 1-based rank of the gold passage (0 = not in
    the top 10) per question; latencies are in milliseconds."""

    ranks: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    answer_hits: int = 0  # gold answer string inside the first answer sentence
    not_found: int = 0
    not_found_first: int = 0  # "not found" though the gold passage ranked first
    phrases: int = 0  # answers with a phrase in bold
    phrase_em: float = 0.0  # summed over those: exact match with a gold answer
    phrase_f1: float = 0.0  # and token F1 (SQuAD's normalisation)
    curve: PhraseCurve = field(default_factory=PhraseCurve)  # the phrase under other margins

    def figures(self) -> dict[str, object]:
        n = max(len(self.ranks), 1)
        lat = sorted(self.latencies) or [0.0]
        out: dict[str, object] = {
            "questions": len(self.ranks),
            "recall_curve": [recall_at(self.ranks, k) for k in range(1, 11)],
            "recall@1": recall_at(self.ranks, 1),
            "recall@5": recall_at(self.ranks, 5),
            "recall@10": recall_at(self.ranks, 10),
            "mrr@10": mrr(self.ranks),
            "latency_p50_ms": statistics.median(lat),
            "latency_p95_ms": lat[min(len(lat) - 1, int(0.95 * len(lat)))],
        }
        if self.answer_hits or self.not_found:
            out["answer_sentence_hit"] = self.answer_hits / n
            out["not_found_rate"] = self.not_found / n
            out["not_found_gold_first_rate"] = self.not_found_first / n
        if self.phrases:
            answered = max(len(self.ranks) - self.not_found, 1)
            out["phrase_coverage"] = self.phrases / answered
            out["phrase_em"] = self.phrase_em / self.phrases
            out["phrase_f1"] = self.phrase_f1 / self.phrases
        if self.curve.answered:
            out["phrase_curve"] = self.curve.figures()
        return out


def recall_at(ranks: Sequence[int], k: int) -> float:
    """Share of questions whose gold passage is in the top ``k`` (rank 0 means not found)."""
    return sum(1 for r in ranks if 0 < r <= k) / max(len(ranks), 1)


def mrr(ranks: Sequence[int], k: int = 10) -> float:
    """Mean reciprocal rank of the gold passage, counting only the top ``k``."""
    return sum(1 / r for r in ranks if 0 < r <= k) / max(len(ranks), 1)


def gold_rank(ranked_docs: Iterable[str], gold: Sequence[str], k: int = 10) -> int:
    """1-based rank of the first gold document among distinct ranked documents, 0 if absent."""
    seen: list[str] = []
    for doc in ranked_docs:
        if doc in seen:
            continue
        seen.append(doc)
        if doc in gold:
            return len(seen)
        if len(seen) >= k:
            break
    return 0


def contains_answer(sentence: str, answers: Sequence[str]) -> bool:
    """Whether a gold answer string appears in the sentence (case aside)."""
    text = sentence.lower()
    return any(a.strip().lower() in text for a in answers if a.strip())


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 between a predicted and a gold answer."""
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((collections.Counter(predicted) & collections.Counter(wanted)).values())
    if not same:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)
