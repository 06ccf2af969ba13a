"""When the index turns approximate and compact: exact or HNSW dense search, float16 re-scoring,
int8 or product-quantised sentence vectors (plain settings; nothing here imports faiss)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EF_SEARCH_PASSAGES", "PQ_MIN_SENTENCES", "AnnSettings"]

PQ_MIN_SENTENCES = 256 * 39  # k-means wants 39 points per centroid
EF_SEARCH_PASSAGES = 250_000  # HNSW explores ef_search candidates per this many passages


@dataclass(frozen=True, slots=True)
class AnnSettings:
    """When and how the index turns approximate and compact (docs/performance.md has the
    figures behind the defaults)."""

    hnsw_above: int = 50_000  # exact dense search up to this many passages (0: always exact)
    hnsw_m: int = 32  # graph neighbours per vector
    ef_construction: int = 200  # 80 gave recall@10 0.967 at 100k (near-copies), 200 gave 0.982
    # candidates explored per search (>= the depth asked for), per EF_SEARCH_PASSAGES passages
    # and never fewer: 256 up to 250,000 passages, 1,024 at 1M (recall@10 there 0.89 -> 0.95 for
    # ~1 ms more, while the question's BM25 search takes longer beside it)
    ef_search: int = 256
    sentence_pq_above: int = 300_000  # int8 sentence vectors up to this many passages, PQ above
    sentence_pq_bytes: int = 48  # bytes per PQ-coded sentence vector (divides the dimension)
    # float16 copies of the vectors re-score the graph's candidates, +768 B a passage, up to
    # this many passages (recall@10 against exact search at 100k: 0.958 -> 0.99 with int8
    # vectors); above it the graph over 8-bit vectors is served as it is, to keep 1M passages
    # within 1.5 GB on disk
    rescore_below: int = 400_000

    def ef_search_for(self, count: int) -> int:
        return max(self.ef_search, round(self.ef_search * count / EF_SEARCH_PASSAGES))

    def rescores(self, count: int) -> bool:
        return self.approximate(count) and count <= self.rescore_below

    def approximate(self, count: int) -> bool:
        return bool(self.hnsw_above) and count > self.hnsw_above

    def compact_sentences(self, passages: int, sentences: int) -> bool:
        return (
            bool(self.sentence_pq_above)
            and passages > self.sentence_pq_above
            and sentences >= PQ_MIN_SENTENCES
        )
