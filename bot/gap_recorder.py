"""The gap report's API: questions recorded as gaps (from answers, inline queries and 👎
feedback) and read back grouped into gaps (for /gaps, the digest, ``storybot gaps`` and the
admin page).

The asker's id is kept only as HMAC-SHA256 under a secret key: ``STORYBOT_GAPS_KEY`` (replicas
sharing a PostgreSQL state share it), else one made once in a file beside the state file
(``<state>.gaps.key``, readable by its owner only). The key is never logged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.encoder import QueryEncoder
from index.language import question_language
from index.passages import Answer

from . import sqlite
from .config import Config
from .gap_store import GapStore
from .gaps import Gap, GapQuestion, bound_question, gap_reason, make_gaps, user_hash
from .storage import Database, open_configured

__all__ = ["GapRecorder", "gap_paths", "load_key"]

logger = logging.getLogger(__name__)

KEY_BYTES = 32


def gap_paths(config: Config) -> tuple[Path, Path]:
    """The gap database and its key file, beside the state file: ``state.sqlite3`` ->
    ``state.gaps.sqlite3`` and ``state.gaps.key``."""
    state = config.chat.state_path
    return state.with_name(f"{state.stem}.gaps.sqlite3"), state.with_name(f"{state.stem}.gaps.key")


def load_key(path: Path) -> bytes:
    """The secret key of the user hashes: read from ``path``, or made there (mode 0600) the
    first time. Two processes starting at once agree on one key (the file is created once)."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")
    logger.info("Made a new secret key for the gap report's user hashes in %s", path)
    return bytes.fromhex(path.read_text().strip())


class GapRecorder:
    """Records gap questions and reads them back as gaps.

    ``encoder`` gives the query encoder of the embedding ``model`` (None while it is not
    loaded): a question's vector is taken from its cache when the answer just computed it, and
    questions recorded without one (or with another model's) are encoded when the gaps are read.
    """

    def __init__(
        self,
        store: GapStore,
        key: bytes,
        encoder: Callable[[], QueryEncoder | None],
        threshold: float,
        model: str,
    ) -> None:
        self.store = store
        self._key = key
        self.encoder = encoder
        self.threshold = threshold
        self.model = model

    @classmethod
    def open(
        cls,
        config: Config,
        encoder: Callable[[], QueryEncoder | None],
        *,
        health: sqlite.WriteHealth | None = None,
        max_bytes: int = 0,
        database: Database | None = None,
    ) -> GapRecorder:
        """The recorder of a config's bot: its gap file (or, with ``state.url``, the table in
        that PostgreSQL ``database``, opened here when not given) and key (made the first
        time)."""
        path, key_path = gap_paths(config)
        source: Database | Path = path
        if config.state.url:
            source = database if database is not None else open_configured(config)
        store = GapStore(source, health=health, max_bytes=max_bytes, own=database is None)
        key = config.gaps_key.get().encode() if config.gaps_key else load_key(key_path)
        return cls(store, key, encoder, config.gaps.threshold, config.embedding_id)

    def close(self) -> None:
        self.store.close()

    # -- recording (blocking: call from a worker thread) ---------------------------------------

    def record(
        self,
        question: str,
        *,
        reason: str,
        chat_kind: str,
        user_id: int | None,
        language: str | None = None,
        score: float = 0.0,
        nearest: str = "",
        query: str | None = None,
    ) -> None:
        """Record a question as a gap. ``reason``: ``gaps.NOT_FOUND``, ``UNSURE`` or
        ``THUMBS_DOWN``; ``chat_kind``: ``gaps.chat_kind(chat.type)`` or "inline";
        ``language``: the question's (told from its text when None); ``score``: the best
        passage's relevance; ``nearest``: the nearest document's title; ``query``: the text
        searched, when a follow-up's context changed it (its vector is then at hand)."""
        text = bound_question(question)
        if not text:
            return
        encoder = self.encoder()
        vector = None
        if encoder is not None and encoder.name == self.model:
            vector = encoder.cached_query(query or question)
        gap = GapQuestion(
            question=text,
            reason=reason,
            chat_kind=chat_kind,
            language=language or question_language(text) or "",
            created=time.time(),
            score=float(score),
            user_hash=user_hash(self._key, user_id),
            nearest=nearest,
            vector=vector,
        )
        self.store.add(gap, self.model)

    def record_answer(
        self,
        answer: Answer,
        *,
        chat_kind: str,
        user_id: int | None,
        language: str | None = None,
    ) -> bool:
        """Record an answer's question when it is a gap (not found, or hedged); whether it was.
        A confident answer costs nothing."""
        reason = gap_reason(answer.found, answer.sure)
        if reason is None:
            return False
        nearest = answer.hits[0].passage.title if answer.hits else ""
        self.record(
            answer.question,
            reason=reason,
            chat_kind=chat_kind,
            user_id=user_id,
            language=language,
            score=answer.relevance,
            nearest=nearest or next(iter(answer.nearest_titles), ""),
            query=answer.query,
        )
        return True

    # -- reading (blocking) --------------------------------------------------------------------

    def questions(self, days: float, *, open_only: bool = True) -> list[GapQuestion]:
        """The questions of the last ``days`` days, oldest first, each with its vector (those
        recorded without one are encoded now, and kept)."""
        since = time.time() - days * 86400
        asked = self.store.questions(since, open_only=open_only, model=self.model)
        missing = [q for q in asked if q.vector is None]
        encoder = self.encoder() if missing else None
        if encoder is not None and encoder.name == self.model:
            vectors = {q.id: encoder.encode_query(q.question) for q in missing}
            self.store.set_vectors(vectors, self.model)
            asked = [q if q.vector is not None else _with_vector(q, vectors[q.id]) for q in asked]
        return [q for q in asked if q.vector is not None]

    def gaps(self, days: float = 7.0, *, open_only: bool = True) -> list[Gap]:
        """The open gaps of the last ``days`` days, the most asked first."""
        asked = self.questions(days, open_only=open_only)
        if not asked:
            return []
        vectors = np.stack([np.asarray(q.vector, np.float32) for q in asked])
        return make_gaps(asked, vectors, self.threshold)

    def counts(self) -> dict[str, int]:
        return self.store.counts()

    # -- forgetting (blocking) -----------------------------------------------------------------

    def forget(self) -> dict[str, int]:
        """Forget every recorded question (/gaps forget); how many open and closed went."""
        dropped = self.store.forget()
        logger.info("Forgot the gap report: %s", dropped)
        return dropped

    def prune(self, keep_days: float, now: float | None = None) -> int:
        """Forget questions older than ``keep_days``."""
        return self.store.prune((time.time() if now is None else now) - keep_days * 86400)


def _with_vector(question: GapQuestion, vector: np.ndarray) -> GapQuestion:
    return dataclasses.replace(question, vector=vector)
