"""Follow-up questions: decide whether a question leans on the previous turn, and if so search
for it together with that turn's question (pure functions)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .keyword import content_terms

__all__ = [
    "Turn",
    "contextualize",
    "is_follow_up",
    "reading",
    "refers_back",
    "strip_connective",
    "with_context",
]

_WORD = re.compile(r"[\w']+")
_PRONOUNS = frozenset(
    [
        "it",
        "its",
        "it's",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "this",
        "that",
        "these",
        "those",
        "there",
        "then",
        "such",
    ]
)
_CONNECTIVES = (
    "and ",
    "but ",
    "also ",
    "so ",
    "then ",
    "what about",
    "how about",
    "and what",
    "what else",
    "anything else",
    "tell me more",
    "more about",
    "why is that",
    "why so",
    "how so",
)
# Nouns that, after "the", usually point back at something named earlier ("the group").
_ANAPHORIC_NOUNS = frozenset(
    [
        "group",
        "bloc",
        "alliance",
        "organisation",
        "organization",
        "country",
        "countries",
        "nation",
        "nations",
        "force",
        "visit",
        "meeting",
        "ministers",
        "minister",
        "leader",
        "leaders",
        "government",
        "governments",
        "company",
        "team",
        "man",
        "woman",
        "person",
        "people",
        "city",
        "event",
        "war",
        "treaty",
        "deal",
        "agreement",
        "plan",
    ]
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange: what was asked, what was actually searched for, and the passage
    its answer cited first ("" when it found nothing)."""

    question: str
    query: str
    cited: str = ""


# Words that open a chat message without adding to the question ("and when?", "ok, why?").
_OPENERS = re.compile(
    r"^(?:(?:and|but|also|so|then|ok|okay|well|hm+|oh|right|yes|no|nope|sorry|wait)\b[\s,.!:;-]*)+",
    re.IGNORECASE,
)
# A question this short that names nothing may lean on the conversation (fitted on the fit
# half of the conversation set; docs/quality.md).
_EITHER_TERMS = 3
_EITHER_WORDS = 7
# A question made only of a question word: it asks the previous question again, for another
# kind of answer ("and when?" after "Who are the ministers meeting in Moscow?").
_BARE_WH = re.compile(
    r"^(?:(when|where|why|who|whom|whose|what|which|how(?:\s+(?:many|much|long|often|old|far|"
    r"big|come))?|(?:what|which)\s+(?:year|date|day|month|time|century|decade|country|city|"
    r"place|team|person|one))(?:\s+(?:else|exactly|then|so|again))?)\s*\??$",
    re.IGNORECASE,
)
# "no, I meant the force": the previous question again, about something else.
_CORRECTION = re.compile(
    r"^(?:(?:no|nope|sorry|oops|wait|ah|oh|actually|well)\b[\s,.!:;-]*)*(?:i\s+mean[t]?|"
    r"i\s+was\s+asking\s+about|not\s+that|rather)\b|\bi\s+mean[t]?\W{0,3}$",
    re.IGNORECASE,
)
_LEADING_WH = re.compile(
    r"^(?:when|where|why|who|whom|whose|what|which|how(?:\s+(?:many|much|long|often|old|far|"
    r"big))?)\b",
    re.IGNORECASE,
)


def strip_connective(question: str) -> str:
    """The question without the chat words that open it: "and when?" -> "when?"."""
    return _OPENERS.sub("", question.strip()).strip() or question.strip()


def reading(question: str) -> str:
    """How a question relates to the conversation before it:

    - "follow": it cannot stand alone ("and when?", "why?", "what about the force?");
    - "either": it may point back ("When was it formed?", "What is the AES?" as a fragment),
      so both readings are searched and the evidence decides;
    - "alone": it names what it asks about.
    """
    text = question.strip().lower()
    words = _WORD.findall(text)
    if not words:
        return "alone"
    bare = strip_connective(text)
    if (
        text.startswith(_CONNECTIVES)
        or _CORRECTION.search(text)
        or not content_terms(bare)
        or _BARE_WH.match(bare)
    ):
        return "follow"
    content = content_terms(text)
    capitalised = [w for w in question.split()[1:] if w[:1].isupper()]
    if refers_back(question) and len(content) <= 3:
        # "When was it formed?", "who was his bishop then?": it names nothing of its own; one
        # that names something too ("How did it reach Europe?") may stand alone.
        return "either" if capitalised else "follow"
    if len(content) <= _EITHER_TERMS and len(words) <= _EITHER_WORDS and not capitalised:
        # Short and naming nothing ("how many stages?", "what share were protestant?"): it may
        # lean on the topic so far. One that names something stands alone ("What is the AES?").
        return "either"
    return "alone"


def is_follow_up(question: str) -> bool:
    """True when the question cannot stand alone (see ``reading``)."""
    return reading(question) == "follow"


def refers_back(question: str) -> bool:
    """Whether the question holds a word that may point at an earlier turn ("it", "their",
    "the group"), even if it also names things of its own."""
    words = _WORD.findall(question.lower())
    return any(w in _PRONOUNS for w in words) or any(
        a == "the" and b in _ANAPHORIC_NOUNS for a, b in itertools.pairwise(words)
    )


def with_context(question: str, history: Sequence[Turn]) -> str:
    """The question read with the previous turn: a bare question word takes the place of the
    previous question's own ("Who are they meeting?" + "and when?" -> "When are they
    meeting?"); anything else is searched together with the previous query."""
    previous = history[-1].query.strip()
    bare = strip_connective(question)
    wh = _BARE_WH.match(bare)
    if wh and _LEADING_WH.match(previous) and wh.group(1).lower() not in ("what", "which"):
        return _LEADING_WH.sub(wh.group(1).capitalize(), previous, count=1)
    return f"{previous} {question.strip()}"


def contextualize(question: str, history: Sequence[Turn]) -> str:
    """The text to search for: the question itself, or the question read with the previous
    turn when it cannot stand alone. Chains of follow-ups carry the first question's topic."""
    if not history or reading(question) != "follow":
        return question.strip()
    return with_context(question, history)
