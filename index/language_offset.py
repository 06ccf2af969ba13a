"""Fair ranking across passage languages on a corpus in several languages.

multilingual-e5 scores a passage lower when it is in another language than the question, for
the same meaning: a French squad question scores its own English wording, embedded as a
passage, 0.048 below its French wording (the mean over the 300 fit questions,
``evaluation/multilingual/squad_fr.jsonl``; 0.049 over the 150 held out). So on a corpus
holding documents in several languages, a question's passages in its own language crowd out
those in another (the English story's answers fell out of the top 3 for its French questions
once a French story was added beside it). Before fusion, each candidate in a language other
than the question's gets that offset back on its passage and sentence cosines; within one
language the offset is the same for every candidate and the z-normalised fusion does not move.
The gate still reads the raw cosines (its model across languages was fitted on them).

``candidate_offsets`` reads the languages from the index; the decisions are pure functions.
docs/quality.md has the figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from .language import question_language
from .ranking import Features, multilingual
from .store import IndexStore

__all__ = [
    "CROSS_LANGUAGE_OFFSET",
    "candidate_offsets",
    "language_offsets",
    "same_side",
    "several_languages",
    "shifted",
]

# Mean over the 300 fit questions of cos(French question, its French wording as a passage) -
# cos(French question, its English wording as a passage), with the e5 ONNX int8 model
# (``python -m benchmarks.fit_language_offset``).
CROSS_LANGUAGE_OFFSET = 0.048


def same_side(offsets: Mapping[int, float], best: int, row: int) -> bool:
    """Whether passage ``row`` is on the same side of the question's language as the best
    passage (both in it, or both in another), by the offsets ranking gave them (none: all on
    one side). The answer's sentences come from that side only: their words and the
    question's are weighed against each other, which only texts in one language allow."""
    return offsets.get(row, 0.0) == offsets.get(best, 0.0)


def several_languages(languages: Sequence[str] | None) -> bool:
    """Whether an index's documents are in more than one language (None: not recorded)."""
    return len(set(languages or ())) > 1


def language_offsets(
    asked: str | None, passages: Sequence[str | None], offset: float = CROSS_LANGUAGE_OFFSET
) -> np.ndarray | None:
    """What to add to each candidate's cosines: ``offset`` for a passage known to be in another
    language than the question's, 0 otherwise; None when nothing would move (the question's
    language unknown, or every candidate in one language)."""
    if asked is None:
        return None
    other = [language not in (None, asked) for language in passages]
    if all(other) or not any(other):
        return None
    return np.where(other, np.float32(offset), np.float32(0.0)).astype(np.float32)


def candidate_offsets(store: IndexStore, query: str, rows: Sequence[int]) -> np.ndarray | None:
    """``language_offsets`` of the candidate ``rows`` for ``query``, read from the documents'
    recorded languages; None (nothing read) unless the index is in several languages and its
    model is multilingual."""
    if not several_languages(store.manifest.languages) or not multilingual(store.manifest.model):
        return None
    return language_offsets(question_language(query), store.passage_languages(rows))


# Per index generation, the language of each passage row read so far (a row's document is
# recorded in its passage, which would be decoded again for every question).
def shifted(features: Features, shift: np.ndarray | None) -> Features:
    """``features`` with ``shift`` added to the passage and sentence cosines (None: as they
    are)."""
    if shift is None:
        return features
    return dataclasses.replace(
        features, dense=features.dense + shift, sentence=features.sentence + shift
    )
