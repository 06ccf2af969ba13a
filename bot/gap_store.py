"""The gap questions: in a SQLite file of their own (``gaps.sqlite3`` beside the state file), or
in the PostgreSQL database of ``[state] url``; never a user id, only its keyed hash.

A narrow API (add, read, set vectors, close, prune, forget) on the storage interface
(``bot/storage/``). All methods are blocking; the bot calls them from worker threads. A write
that fails on a full disk, a lock or a lost server is tried again for ``WRITE_BUDGET_SECONDS``,
as the state store's are (``bot/sqlite.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import sqlite
from .gaps import GapQuestion
from .storage import Database, SqliteDatabase

__all__ = ["GapStore"]

T = TypeVar("T")

WRITE_BUDGET_SECONDS = 30.0
WRITER = "gap store"
MAX_READ = 5000  # questions read at once (the newest), to bound a report's memory and time

# The gap file's schema (SQLite); in PostgreSQL the same table is migration 2
# (bot/storage/migrations.py).
_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS gap_questions (id INTEGER PRIMARY KEY, question TEXT NOT NULL,"
    " reason TEXT NOT NULL, chat_kind TEXT NOT NULL, language TEXT NOT NULL,"
    " created REAL NOT NULL, score REAL NOT NULL, user_hash TEXT, nearest TEXT NOT NULL,"
    " vector BLOB, model TEXT NOT NULL DEFAULT '', closed REAL,"
    " closed_by TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS gap_questions_by_created ON gap_questions (created)",
    "CREATE UNIQUE INDEX IF NOT EXISTS gap_questions_once ON gap_questions (user_hash, question)"
    " WHERE closed IS NULL",
)
_COLUMNS = (
    "id, question, reason, chat_kind, language, created, score, user_hash, nearest, vector,"
    " model, closed, closed_by"
)
_COUNTS = (
    "SELECT COALESCE(SUM(CASE WHEN closed IS NULL THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN closed IS NULL THEN 0 ELSE 1 END), 0) FROM gap_questions"
)


class GapStore:
    """The gap questions' table in ``source``: a database (the state's PostgreSQL, shared by
    replicas), or the SQLite file at a path (opened here). ``close`` closes the database when
    it was opened here, or when ``own`` says it is this store's to close."""

    def __init__(
        self,
        source: Database | Path | str,
        *,
        health: sqlite.WriteHealth | None = None,
        max_bytes: int = 0,
        own: bool = False,
    ) -> None:
        self.health = health if health is not None else sqlite.WriteHealth()
        self._owned = own or not isinstance(source, Database)
        self.db = (
            source if isinstance(source, Database) else SqliteDatabase(source, max_bytes=max_bytes)
        )
        if self.db.dialect == "sqlite":
            # A forgotten question's text is overwritten in the file, not left in a free page.
            self.db.run("PRAGMA secure_delete=ON")
            with self.db.transaction() as tx:
                for statement in _SQLITE_SCHEMA:
                    tx.run(statement)

    def close(self) -> None:
        """Close the database if it is this store's."""
        if self._owned:
            self.db.close()

    def _retried(self, attempt: Callable[[], T]) -> T:
        return sqlite.write_blocking(attempt, self.health, WRITER, WRITE_BUDGET_SECONDS)

    def _write(self, sql: str, params: Sequence[object]) -> int:
        return self._retried(lambda: self.db.run(sql, params).rowcount)

    def add(self, gap: GapQuestion, model: str = "") -> None:
        """Record a question. The same asker's same open question is kept once: asked again,
        or given a 👎 after a hedged answer, it keeps its place with the latest reason."""
        vector = gap.vector.astype(np.float32).tobytes() if gap.vector is not None else None
        self._write(
            "INSERT INTO gap_questions (question, reason, chat_kind, language, created, score,"
            " user_hash, nearest, vector, model) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (user_hash, question) WHERE closed IS NULL DO UPDATE SET"
            " reason=excluded.reason, created=excluded.created, score=excluded.score",
            (
                gap.question,
                gap.reason,
                gap.chat_kind,
                gap.language,
                gap.created,
                gap.score,
                gap.user_hash,
                gap.nearest,
                vector,
                model if vector is not None else "",
            ),
        )

    def questions(
        self, since: float = 0.0, *, open_only: bool = True, model: str = ""
    ) -> list[GapQuestion]:
        """Questions asked since ``since`` (a Unix time), oldest first; at most ``MAX_READ``,
        the newest. Vectors made by another ``model`` than the one given are left out (None)."""
        closed = " AND closed IS NULL" if open_only else ""
        rows = self.db.run(
            f"SELECT {_COLUMNS} FROM gap_questions WHERE created >= ?{closed}"
            " ORDER BY created DESC, id DESC LIMIT ?",
            (since, MAX_READ),
        ).rows
        return [_question(row, model) for row in reversed(rows)]

    def set_vectors(self, vectors: dict[int, np.ndarray], model: str) -> None:
        """Keep the vectors computed for questions recorded without one."""
        params = [(v.astype(np.float32).tobytes(), model, i) for i, v in vectors.items()]

        def attempt() -> None:
            with self.db.transaction() as tx:
                for row in params:
                    tx.run("UPDATE gap_questions SET vector=?, model=? WHERE id=?", row)

        self._retried(attempt)

    def close_questions(self, closed_by: dict[int, str], when: float) -> int:
        """Mark questions answered: id -> the title of the document that answers it now."""
        params = [(when, title, i) for i, title in closed_by.items()]

        def attempt() -> int:
            with self.db.transaction() as tx:
                return sum(
                    tx.run(
                        "UPDATE gap_questions SET closed=?, closed_by=?"
                        " WHERE id=? AND closed IS NULL",
                        row,
                    ).rowcount
                    for row in params
                )

        return self._retried(attempt)

    def counts(self) -> dict[str, int]:
        """How many questions are held: open and closed."""
        open_, closed = self.db.run(_COUNTS).rows[0]
        return {"open": int(open_), "closed": int(closed)}

    def prune(self, before: float) -> int:
        """Forget questions asked before ``before`` (a Unix time); how many went."""
        return self._write("DELETE FROM gap_questions WHERE created < ?", (before,))

    def forget(self) -> dict[str, int]:
        """Forget every recorded question; how many open and closed ones went."""

        def attempt() -> dict[str, int]:
            with self.db.transaction() as tx:
                open_, closed = tx.run(_COUNTS).rows[0]
                tx.run("DELETE FROM gap_questions")
            if self.db.dialect == "sqlite":  # nor in the write-ahead log
                self.db.run("PRAGMA wal_checkpoint(TRUNCATE)")
            return {"open": int(open_), "closed": int(closed)}

        return self._retried(attempt)


def _question(row: tuple[Any, ...], model: str) -> GapQuestion:
    (
        id_,
        question,
        reason,
        kind,
        language,
        created,
        score,
        user,
        nearest,
        vector,
        vector_model,
        closed,
        closed_by,
    ) = row
    usable = vector is not None and (not model or vector_model == model)
    return GapQuestion(
        question=question,
        reason=reason,
        chat_kind=kind,
        language=language,
        created=created,
        score=score,
        user_hash=user,
        nearest=nearest,
        id=id_,
        vector=np.frombuffer(bytes(vector), np.float32) if usable else None,
        closed=closed,
        closed_by=closed_by,
    )
