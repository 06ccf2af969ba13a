"""Answer composition: retrieved passages to the Answer, "not found" or cited sentences.

The engine retrieves (one ``Retrieval`` per question, on one index generation: the one it
carries); this module picks the answer sentences from the best passages, the phrase that
answers, and how sure the answer is (``answer_confidence``). The one model it consults, the
reader (``reader``), which reads the answer sentence for its phrase where the rules find none,
is handed in by the engine (``read``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .answer_confidence import AnswerSignals, answer_confidence, in_scope, tier
from .answer_span import Span, answer_span, pick_phrase
from .followup import strip_connective
from .keyword import content_terms, question_weights, text_terms, tokenize
from .language_offset import same_side
from .passages import Answer, AnswerSentence, Hit
from .question_kind import asked_type, content_or_type
from .ranking import coverage, matches_answer_type, question_share, score_sentences
from .reader import Reading
from .settings import RankingSettings

if TYPE_CHECKING:
    from .engine import Retrieval

__all__ = [
    "Chosen",
    "answer_sentences",
    "compose",
    "nearest_titles",
    "not_found",
    "refocus",
    "refocuses",
]

# The reader as the engine hands it in: (question, query, sentence) to its reading, or None.
Read = Callable[[str, str, str], Reading | None]


@dataclass(frozen=True, slots=True)
class Chosen:
    """How the first answer sentence was chosen (the answer's confidence reads it)."""

    score: float
    margin: float  # over the next candidate sentence
    cosine: float
    typed: bool
    kind: str
    rank: int  # of its passage among the best


def refocuses(own: str, weight: float) -> bool:
    """Whether a follow-up's answer sentences are chosen for the question as typed too
    (``own``: without the chat words that open it): when it says anything of its own."""
    return weight > 0 and content_or_type(own)


def refocus(found: Retrieval, own: str, vector: np.ndarray, weight: float) -> Retrieval:
    """A follow-up read with the previous turn finds its passages through the joined
    query, but its answer sentence is the one that answers what is asked now: the
    sentence features of the kept passages are blended (``weight``: the question's share)
    with those of the question as typed (``own``, its vector ``vector``): "who created it?"
    after "when was the airport formed?" must not pick the founding date again."""
    store, rows = found.store, found.rows
    sentence_ids, counts = store.candidate_sentences(rows)
    cosine = store.sentence_vectors.cosines(sentence_ids, vector)
    bm25 = store.lexicon.candidates(np.asarray(rows, np.int64)).sentence_scores(tokenize(own))
    old = np.concatenate(
        [found.sentence_cosine[found.spans[r].start : found.spans[r].stop] for r in rows]
    )
    old_bm25 = np.concatenate(
        [found.sentence_bm25[found.spans[r].start : found.spans[r].stop] for r in rows]
    )
    starts = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    return replace(
        found,
        sentence_bm25=((1 - weight) * _unit(old_bm25) + weight * _unit(bm25)).astype(np.float32),
        sentence_cosine=((1 - weight) * old + weight * cosine).astype(np.float32),
        spans={r: range(int(starts[i]), int(starts[i + 1])) for i, r in enumerate(rows)},
        sentence_bm25_scale=1.0,  # both sides are already on a 0..1 scale
    )


def _unit(values: np.ndarray) -> np.ndarray:
    """``values`` over their maximum (BM25 scores of two queries on one scale)."""
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else np.zeros_like(values, dtype=np.float32)


def compose(
    question: str,
    query: str,
    found: Retrieval,
    settings: RankingSettings,
    continued: str = "",
    read: Read | None = None,
) -> Answer:
    """The Answer for retrieved passages: "not found" below the gate, else cited sentences,
    said to be sure or not by the answer's confidence (``answer_confidence``), with the phrase
    that answers: the rules' (``answer_span``), else the reader's (``read``, when there is
    one), read in the first sentence only when the answer is given. ``continued``: the passage
    the previous answer cited, for a question read as its follow-up."""
    if not found.hits or found.relevance < settings.hedge:
        return not_found(question, query, found)
    sentences, chosen = answer_sentences(question, query, found, settings, continued)
    span = answer_span(question, sentences[0].text)
    signals = answer_signals(question, query, found, sentences[0].text, chosen, span)
    sure = answer_confidence(signals)
    level = tier(sure, in_scope(signals), settings.gate, settings.decline)
    if level == "none":
        return not_found(question, query, found, sure)
    reading = read(question, query, sentences[0].text) if read and span is None else None
    return Answer(
        question,
        query,
        True,
        tuple(sentences),
        lead_first(found.hits, sentences[0]),
        sure=level == "sure",
        relevance=found.relevance,
        phrase=pick_phrase(span, reading),
        confidence=sure,
        signals=signals,
    )


def answer_signals(
    question: str, query: str, found: Retrieval, first: str, chosen: Chosen, span: Span | None
) -> AnswerSignals:
    """What the answer's confidence reads: the retrieval, how the first sentence (``first``)
    was chosen, and whether a phrase of it answers."""
    return AnswerSignals(
        relevance=found.relevance,
        sentence_score=chosen.score,
        sentence_margin=chosen.margin,
        sentence_cosine=chosen.cosine,
        sentence_coverage=coverage(question_weights(query), set(text_terms(first))),
        typed=float(chosen.typed),
        kind_asked=float(bool(chosen.kind)),
        phrase=float(span is not None),
        passage_margin=found.hits[0].score - found.hits[1].score if len(found.hits) > 1 else 5.0,
        lead_rank=float(chosen.rank),
        follow_up=float(query != question.strip()),
        agreement=found.agreement,
        question_terms=float(len(content_terms(question))),
    )


def lead_first(hits: list[Hit], first: AnswerSentence) -> tuple[Hit, ...]:
    """The hits with the passage that holds the answer first (it is cited first)."""
    lead = first.passage.passage_id
    return tuple(sorted(hits, key=lambda h: h.passage.passage_id != lead))


def not_found(question: str, query: str, found: Retrieval, sure: float = 0.0) -> Answer:
    """The "not found" Answer, naming the stories the corpus came nearest with."""
    return Answer(
        question,
        query,
        False,
        nearest_titles=nearest_titles(found.hits),
        relevance=found.relevance,
        confidence=sure,
    )


def nearest_titles(hits: list[Hit]) -> tuple[str, ...]:
    """The first three distinct titles of the hits, best first."""
    titles = dict.fromkeys(h.passage.title for h in hits)
    return tuple(titles)[:3]


def answer_sentences(
    question: str, query: str, found: Retrieval, settings: RankingSettings, continued: str = ""
) -> tuple[list[AnswerSentence], Chosen]:
    """The sentences that best answer the question, from the best few passages, and how
    the first was chosen.

    Each sentence is scored on its own (cosine, BM25 relative to the best candidate
    sentence, share of the question's words, expected answer type), less a penalty for
    each rank its passage is below the best, plus ``followup_passage_bonus`` in the passage
    ``continued`` (a follow-up goes on about what the previous answer cited); a second sentence
    must come from the same passage as the first and score nearly as well. On a corpus in
    several languages only the passages on the best one's side of the question's language are
    read (``index/language_offset.py``: words cannot be weighed across languages).
    """
    bare = not content_or_type(strip_connective(question), typed=False)
    # A question that asks only for a kind of answer ("and when?") restates nothing: the
    # earlier question's words in a sentence are its topic, not a restatement.
    question_terms = set(tokenize(question)) | (set() if bare else set(tokenize(query)))
    kind = asked_type(question, query)
    owners: list[int] = []  # hit rank of each candidate sentence
    carried: list[bool] = []  # whether it is in the passage the previous answer cited
    texts: list[str] = []
    cosines: list[np.ndarray] = []
    keyword: list[np.ndarray] = []
    for rank, row in enumerate(found.rows[: max(settings.answer_passages, 1)]):
        if not same_side(found.offsets, found.rows[0], row):
            continue
        span = found.spans[row]
        cosines.append(found.sentence_cosine[span.start : span.stop])
        keyword.append(found.sentence_bm25[span.start : span.stop])
        texts.extend(found.store.passages[row].sentences)
        owners.extend([rank] * len(span))
        carried.extend([found.store.passages[row].passage_id == continued] * len(span))
    typed = np.array([matches_answer_type(t, question, kind) for t in texts], np.float32)
    scores = score_sentences(
        np.concatenate(cosines),
        np.concatenate(keyword),
        np.array([question_share(question_terms, text_terms(t)) for t in texts], np.float32),
        typed,
        settings,
        found.sentence_bm25_scale,
        settings.bare_type_weight if bare else None,
    ) + passage_terms(owners, carried, settings)
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    best = order[0]
    chosen = chosen_sentences(order, owners, scores, settings)
    passage = found.hits[owners[best]].passage
    top = float(scores[best])
    runner_up = float(scores[order[1]]) if len(order) > 1 else 0.0
    return [AnswerSentence(texts[i], passage, float(scores[i])) for i in chosen], Chosen(
        score=top,
        margin=top - runner_up,
        cosine=float(np.concatenate(cosines)[best]),
        typed=bool(typed[best]),
        kind=kind,
        rank=owners[best],
    )


def passage_terms(owners: list[int], carried: list[bool], settings: RankingSettings) -> np.ndarray:
    """What each candidate sentence's passage adds to its score: less ``answer_rank_penalty``
    per rank below the best, plus ``followup_passage_bonus`` in the passage a follow-up
    continues."""
    return settings.followup_passage_bonus * np.asarray(
        carried, np.float32
    ) - settings.answer_rank_penalty * np.asarray(owners, np.float32)


def chosen_sentences(
    order: list[int], owners: list[int], scores: np.ndarray, settings: RankingSettings
) -> list[int]:
    """The answer's sentences, given the candidates best first (``order``): the best, then up
    to ``answer_sentences`` in all from its passage that score nearly as well."""
    best = order[0]
    chosen = [best]
    top = float(scores[best])
    for i in order[1:]:
        if len(chosen) >= settings.answer_sentences:
            break
        near = top > 0 and scores[i] >= top * settings.second_sentence_ratio
        if owners[i] == owners[best] and near:
            chosen.append(i)
    return chosen
