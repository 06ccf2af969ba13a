"""The engine's settings: what shapes an index, how questions are ranked and how pages are
fetched. Plain frozen dataclasses and their defaults, nothing else: bot/config.py builds them
from config.toml without loading numpy, faiss or aiohttp."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from .ann import AnnSettings
from .duplicates import DUPLICATE_OVERLAP
from .isolation import ReadLimits

__all__ = ["MAX_DOCUMENT_BYTES", "BuildSettings", "FetchSettings", "RankingSettings"]

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # a corpus file larger than this is refused
_ANN = AnnSettings()
# Bumped when the text the model reads for a passage changes (build.embedding_text).
_EMBED_TEXT_VERSION = 1


@dataclass(frozen=True, slots=True)
class BuildSettings:
    """What shapes the passages and their vectors; changing any of it re-embeds everything."""

    max_words: int = 220
    min_words: int = 40
    overlap: int = 1
    hnsw_above: int = _ANN.hnsw_above
    hnsw_ef_search: int = _ANN.ef_search
    sentence_pq_above: int = _ANN.sentence_pq_above
    max_document_bytes: int = MAX_DOCUMENT_BYTES
    duplicate_overlap: float = DUPLICATE_OVERLAP  # near-duplicate documents are reported
    # The embedder's prefixes (e5: "passage: " and "query: "): vectors made with other ones are
    # not reused, and questions must be embedded with the prefix the passages were made for.
    passage_prefix: str = ""
    query_prefix: str = ""

    def ann(self) -> AnnSettings:
        return AnnSettings(
            hnsw_above=self.hnsw_above,
            ef_search=self.hnsw_ef_search,
            sentence_pq_above=self.sentence_pq_above,
        )

    def fingerprint(self, model: str) -> str:
        """What the stored vectors depend on: an index with another fingerprint is embedded
        again at the next reindex."""
        parts: list[object] = [
            model,
            self.max_words,
            self.min_words,
            self.overlap,
            _EMBED_TEXT_VERSION,
        ]
        if self.passage_prefix or self.query_prefix:  # without: the fingerprint as before
            parts += [self.passage_prefix, self.query_prefix]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RankingSettings:
    """Global knobs of retrieval. Defaults were fitted on one half of squad_v11_dev's questions
    and checked on the other half (see README, "Quality")."""

    depth: int = 100  # candidates taken from each of BM25 and FAISS before fusion
    # Fusion weights of the z-normalised features of each candidate passage:
    keyword_weight: float = 1.0  # BM25 of the passage
    dense_weight: float = 1.5  # cosine of question and passage
    sentence_keyword_weight: float = 1.05  # BM25 of the passage's best sentence
    bigram_weight: float = 0.35  # BM25 over adjacent-word pairs (phrases)
    sentence_weight: float = 1.7  # cosine of question and the passage's best sentence
    type_weight: float = 0.0  # added to a passage holding the kind of answer asked for
    definition_weight: float = 6.0  # the same for "What is X?" and a sentence defining X
    type_depth: int = 20  # how many of the best fused passages are checked for it
    top_k: int = 3  # passages returned as snippets
    duplicate_cosine: float = 0.97  # passages closer than this to a better one are dropped
    duplicate_overlap: float = DUPLICATE_OVERLAP  # ... or repeating this share of its words
    date_margin: float = 0.5  # fused scores this close: the newer story's passage first
    gate: float = 0.5  # below this probability that the answer is right, say "not sure"
    hedge: float = 0.08  # below this probability that the best passage answers, "not found"
    decline: float = 0.4  # below this probability that the question is in scope, "not found"
    answer_sentences: int = 2  # at most this many sentences lead the reply
    context_margin: float = 0.25  # how much better a follow-up reading must be to be chosen
    # A follow-up's answer sentence: this share of its features from the question as typed,
    # the rest from the query joined with the previous turn (fitted on the conversation set).
    followup_sentence_weight: float = 0.7
    # The answer-type bonus for a question that asks only for a kind of answer ("and when?"):
    # the kind is all it says of its own.
    bare_type_weight: float = 0.5
    # The reader picks out answer phrases on indexes up to this many passages (0: never). It
    # costs about 5 ms an answer, which a 100,000-passage index has no room for under the
    # engine's 15 ms p95 (docs/performance.md, "The reader's cost").
    reader_max_passages: int = 50_000
    # A follow-up's candidate sentences in the passage the previous answer cited get this
    # much more: it most often goes on about the same thing (fitted on the conversation set).
    followup_passage_bonus: float = 0.15
    answer_passages: int = 3  # the answer sentence is sought in this many of the best passages
    answer_rank_penalty: float = 0.08  # taken off a sentence's score per rank of its passage
    sentence_cosine_weight: float = 0.5
    sentence_bm25_weight: float = 0.5
    question_share_penalty: float = 0.3  # against sentences made of the question's own words
    sentence_type_weight: float = 0.15  # bonus when the sentence holds the expected answer type
    second_sentence_ratio: float = 0.9  # a second sentence must score this close to the first


@dataclass(frozen=True, slots=True)
class FetchSettings:
    timeout: float = 20.0  # seconds for the whole fetch, redirects and body included
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    allow_private_networks: bool = False  # True: local and private addresses may be fetched
    allowed_networks: tuple[str, ...] = ()  # these may be fetched although private ("10.1.2.0/24")
    read_limits: ReadLimits = field(default_factory=ReadLimits)  # extraction (child process)
