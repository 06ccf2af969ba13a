"""Words for keyword search: stemmed, stop-word-free tokens (BM25 itself: index/bm25.py)."""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

__all__ = [
    "STOP_WORDS",
    "content_terms",
    "question_weights",
    "text_terms",
    "tokenize",
    "word_information",
]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# bm25s's English list (all of it is in this one) plus common function words and question words:
# measured on squad_v11_dev, the larger list adds 0.011 to BM25's recall@1.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also many much one""".split()
)
_local = threading.local()  # PyStemmer's stemmers are not thread-safe: one per thread


def _stemmer() -> Any:  # a Stemmer.Stemmer (PyStemmer has no type hints)
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("’", "'"))


def content_terms(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stop words (not stemmed), in order."""
    return [w for w in _words(text) if w not in STOP_WORDS]


def tokenize(text: str) -> list[str]:
    """Stemmed content words: what BM25 indexes and searches."""
    return _stemmer().stemWords(content_terms(text))


@functools.lru_cache(maxsize=16384)
def text_terms(text: str) -> tuple[str, ...]:
    """``tokenize(text)`` as a tuple, remembered: answering tokenises the candidate passages and
    their sentences, and popular passages come back for question after question."""
    return tuple(tokenize(text))


@functools.lru_cache(maxsize=65536)
def word_information(word: str) -> float:
    """How much a word says, from its frequency in general English (wordfreq): 9 minus its Zipf
    frequency, so "the" ≈ 1.3, "big" ≈ 3.3, "Lavrov" ≈ 6.3, and an unknown word 9. Unlike the
    corpus's idf, it means the same in a one-story corpus as in a large one."""
    from wordfreq import zipf_frequency

    return max(0.0, 9.0 - zipf_frequency(word, "en"))


def question_weights(text: str) -> dict[str, float]:
    """Each stemmed content word of a question, weighted by its information."""
    weights: dict[str, float] = {}
    words = content_terms(text)
    for word, stem in zip(words, _stemmer().stemWords(words), strict=True):
        weights[stem] = max(weights.get(stem, 0.0), word_information(word))
    return weights
