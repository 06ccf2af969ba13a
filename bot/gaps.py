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
    """Rows of ``vectors`` (unit vectors) grouped by meaning, by average linkage: the two
    groups whose questions are the most alike on average (mean cosine over their pairs) join,
    until no two groups reach ``threshold``. Ties go to the lowest rows, so the same vectors
    make the same groups; groups and their members come in the order of their first row.
    Memory is n² floats: callers bound n (``gap_store.MAX_READ``)."""
    n = len(vectors)
    if n == 0:
        return []
    rows = np.asarray(vectors, np.float32)
    similarity = rows @ rows.T
    np.fill_diagonal(similarity, -np.inf)
    sizes = np.ones(n, np.float64)
    alive = np.ones(n, bool)
    members: list[list[int]] = [[i] for i in range(n)]
    best = similarity.argmax(axis=1)  # each group's most alike other group
    while True:
        scores = np.where(alive, similarity[np.arange(n), best], -np.inf)
        a = int(scores.argmax())
        if not alive[a] or float(scores[a]) < threshold:
            break
        b = int(best[a])
        a, b = min(a, b), max(a, b)
        # Average linkage (Lance-Williams): the merged group's mean cosine to every other.
        merged = (sizes[a] * similarity[a] + sizes[b] * similarity[b]) / (sizes[a] + sizes[b])
        merged[~alive] = -np.inf
        merged[a] = merged[b] = -np.inf
        similarity[a], similarity[:, a] = merged, merged
        similarity[b], similarity[:, b] = -np.inf, -np.inf
        sizes[a] += sizes[b]
        alive[b] = False
        members[a].extend(members[b])
        members[b] = []
        # Groups whose best partner was a or b, and a itself, look again.
        stale = np.flatnonzero(alive & ((best == a) | (best == b)))
        best[stale] = similarity[stale].argmax(axis=1)
        best[a] = similarity[a].argmax()
        better = alive & (merged > similarity[np.arange(n), best])
        best[better] = a
    groups = [sorted(m) for m in members if m]
    groups.sort(key=lambda g: g[0])
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
