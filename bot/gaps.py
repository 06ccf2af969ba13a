"""Gaps, the pure part: which answers are gaps, what is kept of a question, the keyed hash of
its asker, and near-duplicate questions grouped into gaps by meaning.

A question is a gap when the bot found nothing ("not found"), hedged ("not sure"), or a reader
gave its answer a 👎. Questions are grouped by their query vectors (the engine's encoder, unit
vectors, so a dot product is a cosine): in the order asked, each question joins the group whose
centroid is nearest, when that cosine reaches ``threshold``, else it starts a group. The same
questions in the same order always make the same groups.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CHAT_KINDS",
    "MAX_QUESTION_CHARS",
    "NOT_FOUND",
    "REASONS",
    "THUMBS_DOWN",
    "UNSURE",
    "Gap",
    "GapQuestion",
    "bound_question",
    "chat_kind",
    "gap_reason",
    "group_vectors",
    "make_gaps",
    "user_hash",
]

NOT_FOUND = "not_found"
UNSURE = "unsure"
THUMBS_DOWN = "thumbs_down"
REASONS = (NOT_FOUND, UNSURE, THUMBS_DOWN)
CHAT_KINDS = ("private", "group", "supergroup", "channel", "inline", "other")
MAX_QUESTION_CHARS = 500  # a question is kept up to this long
EXAMPLES = 2  # example questions shown per gap


@dataclass(frozen=True, slots=True)
class GapQuestion:
    """One question recorded as a gap. ``user_hash`` is the keyed hash of the asker's id (never
    the id); ``closed_by`` is the title of the document that answered it since ("" while open)."""

    question: str
    reason: str
    chat_kind: str
    language: str
    created: float
    score: float
    user_hash: str | None = None
    nearest: str = ""  # the title of the nearest document when it was asked
    id: int = 0  # 0 until stored
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    closed: float | None = None
    closed_by: str = ""


@dataclass(frozen=True, slots=True)
class Gap:
    """Questions that ask the same thing: how many, two examples, the nearest document."""

    questions: tuple[GapQuestion, ...]
    examples: tuple[str, ...]
    nearest: str
    last: float  # when it was last asked

    @property
    def count(self) -> int:
        return len(self.questions)

    def as_dict(self) -> dict[str, object]:
        reasons = Counter(q.reason for q in self.questions)
        return {
            "count": self.count,
            "examples": list(self.examples),
            "nearest_document": self.nearest,
            "last_asked": self.last,
            "reasons": dict(sorted(reasons.items())),
            "questions": [q.question for q in self.questions],
        }


def gap_reason(found: bool, sure: bool) -> str | None:
    """Why an answer is a gap: not found, or hedged; None for a confident answer."""
    if not found:
        return NOT_FOUND
    return None if sure else UNSURE


def chat_kind(chat_type: str | None) -> str:
    """The kind of chat a question came from, one of ``CHAT_KINDS`` (Telegram's chat type;
    "inline" for inline queries, which have no chat)."""
    return chat_type if chat_type in CHAT_KINDS else "other"


def bound_question(text: str) -> str:
    """The question as kept: whitespace collapsed, at most ``MAX_QUESTION_CHARS`` long."""
    kept = " ".join(text.split())
    return kept if len(kept) <= MAX_QUESTION_CHARS else kept[: MAX_QUESTION_CHARS - 1] + "…"


def user_hash(key: bytes, user_id: int | None) -> str | None:
    """HMAC-SHA256 of a user id under the bot's secret gap key (hex); None for no user. Without
    the key, the hash does not lead back to the id (ids are few enough to try them all)."""
    if user_id is None:
        return None
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()


def group_vectors(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Rows of ``vectors`` (unit vectors, in the order asked) grouped by meaning: each row joins
    the group with the nearest centroid when their cosine is at least ``threshold``, else starts
    one. Groups and their members come in the order of their first row."""
    groups: list[list[int]] = []
    sums = np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32)
    centroids = sums
    for row in range(len(vectors)):
        vector = np.asarray(vectors[row], np.float32)
        if groups:
            cosines = centroids @ vector
            best = int(np.argmax(cosines))
            if float(cosines[best]) >= threshold:
                groups[best].append(row)
                sums[best] += vector
                norm = float(np.linalg.norm(sums[best]))
                centroids[best] = sums[best] / norm if norm > 0 else sums[best]
                continue
        groups.append([row])
        sums = np.vstack([sums, vector[None, :]])
        centroids = np.vstack([centroids, vector[None, :]])
    return groups


def make_gaps(
    questions: Sequence[GapQuestion], vectors: np.ndarray, threshold: float
) -> list[Gap]:
    """The questions (oldest first, with their unit vectors row by row) as gaps, the most
    asked first (ties: the most recently asked first)."""
    gaps = []
    for members in group_vectors(vectors, threshold):
        asked = tuple(questions[i] for i in members)
        gaps.append(
            Gap(
                questions=asked,
                examples=_examples(asked, vectors[members]),
                nearest=_most_common(q.nearest for q in asked),
                last=max(q.created for q in asked),
            )
        )
    gaps.sort(key=lambda g: (-g.count, -g.last))
    return gaps


def _examples(asked: Sequence[GapQuestion], vectors: np.ndarray) -> tuple[str, ...]:
    """The distinct questions nearest the group's centroid (the most typical wordings)."""
    centre = vectors.sum(axis=0)
    order = np.argsort(-(vectors @ centre), kind="stable")
    examples: list[str] = []
    seen: set[str] = set()
    for i in order:
        text = asked[int(i)].question
        if text.casefold() not in seen:
            seen.add(text.casefold())
            examples.append(text)
        if len(examples) == EXAMPLES:
            break
    return tuple(examples)


def _most_common(values: Iterable[str]) -> str:
    """The most frequent non-empty value (ties: the first in sort order); "" when none."""
    counts = Counter(v for v in values if v)
    if not counts:
        return ""
    return min(counts, key=lambda v: (-counts[v], v))
