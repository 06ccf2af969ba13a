"""Prometheus metrics of the bot, in a registry of their own (one per running bot)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    """Counters and histograms the handlers update and ``GET /metrics`` exposes."""

    def __init__(self) -> None:
        """Long because it declares every metric, one statement each, in the order of /metrics."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.questions = Counter("storybot_questions", "Questions answered", registry=r)
        self.not_found = Counter(
            "storybot_not_found", "Questions answered with 'not found'", registry=r
        )
        self.retrieval_seconds = Histogram(
            "storybot_retrieval_seconds",
            "Engine time per question (embed, search, compose)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.reply_seconds = Histogram(
            "storybot_reply_seconds",
            "Whole reply time, from handler start to message sent",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.reindex_runs = Counter(
            "storybot_reindex_runs", "Reindex jobs by outcome", ["outcome"], registry=r
        )
        self.reindex_seconds = Histogram(
            "storybot_reindex_seconds",
            "Reindex job duration",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.index_passages = Gauge("storybot_index_passages", "Passages in the index", registry=r)
        self.index_bytes = Gauge("storybot_index_bytes", "Size of the index files", registry=r)
        self.telegram_errors = Counter(
            "storybot_telegram_errors",
            "Errors from the Telegram Bot API, by kind",
            ["kind"],
            registry=r,
        )
        self.dead_letters = Counter(
            "storybot_dead_letters",
            "Updates set aside after failing chat.poison_attempts times",
            registry=r,
        )
        self.feedback = Counter(
            "storybot_feedback",
            "Votes on answers (value: up or down), by the 👍/👎 buttons or reactions (source)",
            ["value", "source"],
            registry=r,
        )
        self.inline_queries = Counter(
            "storybot_inline_queries",
            "Inline queries (@bot question) by outcome: answered, unsure, not_found, hint, slow,"
            " throttled, expired",
            ["outcome"],
            registry=r,
        )
        self.inline_chosen = Counter(
            "storybot_inline_chosen",
            "Inline results sent into a chat (chosen_inline_result, with /setinlinefeedback)",
            registry=r,
        )
        self.inline_seconds = Histogram(
            "storybot_inline_seconds",
            "Time to answer an inline query, from handler start to answerInlineQuery sent",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def set_index(self, passages: int, size: int) -> None:
        self.index_passages.set(passages)
        self.index_bytes.set(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)
