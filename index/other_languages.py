"""English questions over a corpus that also holds documents in other languages.

The split answers English questions from MiniLM's vectors, which know English only: a French
story added by an admin is out of their reach. When the index records documents in another
language (``Manifest.languages``), an English question that MiniLM does not answer surely is
asked of the multilingual model too (the split's ``other`` engine), over the passages of the
documents not recorded as English only (its own English passages would outrank them: e5 ranks
a passage in the question's language above one in another), and the answer comes from that
side when the gate gives its best passage a higher probability of answering than MiniLM's. An
English-only corpus never pays for it (docs/quality.md has the figures).

Pure decisions; the engine runs the searches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "SURE",
    "ask_other_too",
    "holds_other_languages",
    "in_english",
    "prefer_other",
]

ENGLISH = "en"
# At or above this probability that MiniLM's best passage answers, the multilingual model is not
# asked: 90 % of 2,000 English squad questions over squad and a French story were above it, and
# none of the others found a French passage likelier to answer.
SURE = 0.5


def holds_other_languages(languages: Sequence[str] | None) -> bool:
    """Whether an index's documents are in any language but English (None: an index written
    before languages were recorded, taken as English)."""
    return any(language != ENGLISH for language in languages or ())


def ask_other_too(relevance: float) -> bool:
    """Whether an English question is asked of the multilingual model as well: only when the
    probability that MiniLM's best passage answers is below ``SURE``."""
    return relevance < SURE


def in_english(document: Mapping[str, str] | None) -> bool:
    """Whether a document is recorded as English (the multilingual side leaves it to MiniLM)."""
    return document is not None and document.get("language") == ENGLISH


def prefer_other(mine: float, theirs: float) -> bool:
    """Whether the multilingual model's passages (in other languages) answer rather than
    MiniLM's: the gate gives its best a higher probability of answering."""
    return theirs > mine
