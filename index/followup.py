"""Follow-up questions: decide whether a question leans on the previous turn, and if so search
for it together with that turn's question (pure functions)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .keyword import content_terms

__all__ = ["Turn", "contextualize", "is_follow_up", "refers_back", "with_context"]

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
    """One earlier exchange: what was asked and what was actually searched for."""

    question: str
    query: str


def is_follow_up(question: str) -> bool:
    """True when the question cannot stand alone: it opens with a connective, points back with a
    pronoun or "the group"-like phrase while naming little itself, or is a bare fragment."""
    text = question.strip().lower()
    words = _WORD.findall(text)
    if not words:
        return False
    if text.startswith(_CONNECTIVES):
        return True
    content = content_terms(text)
    capitalised = [w for w in question.split()[1:] if w[:1].isupper()]
    if refers_back(question) and len(content) <= 3 and not capitalised:
        return True
    return len(content) <= 1 and len(words) <= 4


def refers_back(question: str) -> bool:
    """Whether the question holds a word that may point at an earlier turn ("it", "their",
    "the group"), even if it also names things of its own."""
    words = _WORD.findall(question.lower())
    return any(w in _PRONOUNS for w in words) or any(
        a == "the" and b in _ANAPHORIC_NOUNS for a, b in itertools.pairwise(words)
    )


def with_context(question: str, history: Sequence[Turn]) -> str:
    """The question joined to the previous turn's query (for a follow-up)."""
    return f"{history[-1].query} {question.strip()}"


def contextualize(question: str, history: Sequence[Turn]) -> str:
    """The text to search for: the question itself, or the previous query plus the question when
    the question is a follow-up. Chains of follow-ups carry the first question's topic along."""
    if not history or not is_follow_up(question):
        return question.strip()
    previous = history[-1].query
    return f"{previous} {question.strip()}"
