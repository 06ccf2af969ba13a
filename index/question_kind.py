"""The kind of answer a question asks for, from its wording alone (English question grammar):
a time ("When...?", "In which year...?"), a number ("How many...?", "How often...?"), a name
("Who...?", "Which city...?"), or nothing in particular ("Why...?", "What happened...?").

One owner for both readers of it: ranking (a sentence holding a thing of the kind is more likely
the answer) and the answer phrase (which kind of phrase to pick out of the answer sentence).
The two had their own rules until they were merged; where they differed, the more precise rule
was kept, judged on squad_v11_dev (whether the gold answer is of the kind, and the phrase's
F1) and checked with ``storybot eval`` (docs/quality.md):

- numbers: ranking's wider "how" words are kept ("how often / fast / wide / deep / heavy /
  small", "what size / fraction"): they ask for a count or a measure, and 10 of 11 gold
  answers hold one ("every four years", "400 m").
- names: the phrase's longer list of nouns is kept ("which network / station / language /
  museum / army / empire ..."; 77 of 81 gold answers are names), but not its "who" inside the
  question ("someone who is timid", "To whom did ..."): it is most often a relative clause or a
  preposition's object, and its phrases were wrong (F1 0.10 over 7 squad phrases); ranking
  never had it.
- times: "what period / era" is not a time (ranking had it): its gold answers are mostly named
  periods ("Gilded Age", "Jurassic Period"; 6 of 19 are dates). "since when" is (the phrase
  had it).
- both: the chat words that open a question are left out ("and when?" asks when), words may
  be separated by any white space, and only the first 500 characters are read.

A definition question ("What is the AES?") is ranking's own reading: ``answer_type``.
"""

from __future__ import annotations

import re

from .followup import strip_connective
from .keyword import content_terms

__all__ = [
    "KINDS",
    "answer_type",
    "asked_type",
    "content_or_type",
    "definition_subject",
    "question_kind",
]

KINDS = ("time", "number", "name")
MAX_QUESTION = 500  # characters read (every pattern here is linear)

_TIME_Q = re.compile(
    r"^when\b|\b(?:what|which)\s+(?:year|years|date|day|month|century|decade|time)\b|"
    r"\bhow\s+long\s+ago\b|\bsince\s+when\b",
    re.IGNORECASE,
)
_NUMBER_Q = re.compile(
    r"\bhow\s+(?:many|much|big|large|small|long|old|far|tall|high|often|fast|heavy|wide|deep)\b|"
    r"\bwhat\s+(?:percentage|percent|number|amount|proportion|size|fraction|share)\b",
    re.IGNORECASE,
)
_NAME_Q = re.compile(
    r"^(?:who|whom|whose|where)\b|\b(?:which|what)\s+(?:person|man|woman|country|countries|city|cities|company|"
    r"organi[sz]ation|group|team|nation|state|party|leader|minister|president|place|region|"
    r"river|town|university|band|king|queen|emperor|general|author|scientist|continent|island|"
    r"county|province|church|school|college|museum|newspaper|network|station|ship|army|dynasty|"
    r"empire|language|religion)\b",
    re.IGNORECASE,
)
_KIND_Q = (("time", _TIME_Q), ("number", _NUMBER_Q), ("name", _NAME_Q))
_DEFINITION_Q = re.compile(
    r"^(what|who)\s+(is|are|was|were)\s+(the\s+|an?\s+)?(.{2,40}?)\??$", re.IGNORECASE
)
# The chat forms of it ("what's the AES", "What does AES stand for?", "what does AES mean?")
# ask for a definition only when what they ask about is a name: "what's the word for its
# highest saint?" describes what it asks for.
_DEFINITION_CHAT = re.compile(
    r"^(?:what\s*['’]s\s+(?:the\s+|an?\s+)?(?P<what>.{2,40}?)|what\s+(?:does|do|did)\s+"
    r"(?:the\s+)?(?:(?:acronym|abbreviation|term|word)\s+)?(?P<short>.{2,40}?)\s+"
    r"(?:stand\s+for|mean))\s*\??$",
    re.IGNORECASE,
)
_NOT_A_NAME = re.compile(
    r"\b(?:of|for|in|on|at|to|with|by|from|about|like|its|his|her|their|it|they|this|that)\b",
    re.IGNORECASE,
)


def question_kind(question: str) -> str:
    """ "time", "number", "name" or "" (nothing in particular) for a question."""
    q = strip_connective(question.strip()[:MAX_QUESTION])
    for kind, pattern in _KIND_Q:
        if pattern.search(q):
            return kind
    return ""


def definition_subject(question: str) -> str:
    """What a definition question asks about ("What is the AES?", "and what does AES stand
    for?" -> "AES"), or ""."""
    question = question.strip()[:MAX_QUESTION]
    match = _DEFINITION_Q.match(question)
    if match:
        return match.group(4).strip()
    chat = _DEFINITION_CHAT.match(strip_connective(question))
    subject = (chat.group("what") or chat.group("short")).strip() if chat else ""
    return "" if _NOT_A_NAME.search(subject) else subject


def answer_type(question: str) -> str:
    """The kind ranking favours: ``question_kind``, except that a question asking what or who
    something is ("What is the AES?", "Who is the president?") asks for its definition."""
    kind = question_kind(question)
    if kind in ("time", "number"):
        return kind
    return "definition" if definition_subject(question) else kind


def asked_type(question: str, query: str) -> str:
    """The kind of answer asked for: from the question as typed, without the chat words that
    open it ("and when?"), else from the query it was read as ("and the NFC?" after a "Which
    team" question)."""
    return answer_type(strip_connective(question)) or answer_type(query)


def content_or_type(question: str, typed: bool = True) -> bool:
    """Whether a question says anything of its own: a content word (or an answer type)."""
    return bool(content_terms(question)) or (typed and bool(answer_type(question)))
