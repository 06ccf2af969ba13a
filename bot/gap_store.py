"""The gap questions in SQLite: a file of their own (``gaps.sqlite3`` beside the state file),
which never holds a user id, only its keyed hash.

A narrow API (add, read, set vectors, close, prune, forget), so the table can move behind
another storage engine. All methods are blocking; the bot calls them from worker threads. A
write that fails on a full disk or a lock is tried again for ``WRITE_BUDGET_SECONDS``, as the
state store's are (``bot/sqlite.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import sqlite
from .gaps import GapQuestion

__all__ = ["GapStore"]

WRITE_BUDGET_SECONDS = 30.0
WRITER = "gap store"
MAX_READ = 2000  # questions read at once (the newest): grouping holds n² cosines (16 MB)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gap_questions (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    reason TEXT NOT NULL,
    chat_kind TEXT NOT NULL,
    language TEXT NOT NULL,
    created REAL NOT NULL,
    score REAL NOT NULL,
    user_hash TEXT,
    nearest TEXT NOT NULL,
    vector BLOB,
    model TEXT NOT NULL DEFAULT '',
    closed REAL,
    closed_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS gap_questions_by_created ON gap_questions (created);
CREATE UNIQUE INDEX IF NOT EXISTS gap_questions_once ON gap_questions (user_hash, question)
    WHERE closed IS NULL;
"""
_COLUMNS = (
    "id, question, reason, chat_kind, language, created, score, user_hash, nearest, vector,"
    " model, closed, closed_by"
)


class GapStore:
    """One SQLite connection, guarded by a lock (calls come from threads)."""

    def __init__(
        self, path: Path | str, *, health: sqlite.WriteHealth | None = None, max_bytes: int = 0
    ) -> None:
        self.path = path
        self.health = health if health is not None else sqlite.WriteHealth()
        self._db = sqlite.connect(path, max_bytes=max_bytes)
        # A forgotten question's text is overwritten in the file, not left in a free page.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: Sequence[object]) -> int:
        def attempt() -> int:
            with self._lock:
                return self._db.execute(sql, params).rowcount

        return sqlite.write_blocking(attempt, self.health, WRITER, WRITE_BUDGET_SECONDS)

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
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM gap_questions WHERE created >= ?{closed}"
                " ORDER BY created DESC, id DESC LIMIT ?",
                (since, MAX_READ),
            ).fetchall()
        return [_question(row, model) for row in reversed(rows)]

    def set_vectors(self, vectors: dict[int, np.ndarray], model: str) -> None:
        """Keep the vectors computed for questions recorded without one."""
        params = [(v.astype(np.float32).tobytes(), model, i) for i, v in vectors.items()]

        def attempt() -> None:
            with self._lock:
                self._db.executemany(
                    "UPDATE gap_questions SET vector=?, model=? WHERE id=?", params
                )

        sqlite.write_blocking(attempt, self.health, WRITER, WRITE_BUDGET_SECONDS)

    def close_questions(self, closed_by: dict[int, str], when: float) -> int:
        """Mark questions answered: id -> the title of the document that answers it now."""
        params = [(when, title, i) for i, title in closed_by.items()]

        def attempt() -> int:
            with self._lock:
                cursor = self._db.executemany(
                    "UPDATE gap_questions SET closed=?, closed_by=? WHERE id=? AND closed IS NULL",
                    params,
                )
                return cursor.rowcount

        return sqlite.write_blocking(attempt, self.health, WRITER, WRITE_BUDGET_SECONDS)

    def counts(self) -> dict[str, int]:
        """How many questions are held: open and closed."""
        with self._lock:
            open_, closed = self._db.execute(
                "SELECT COALESCE(SUM(closed IS NULL), 0), COALESCE(SUM(closed IS NOT NULL), 0)"
                " FROM gap_questions"
            ).fetchone()
        return {"open": int(open_), "closed": int(closed)}

    def prune(self, before: float) -> int:
        """Forget questions asked before ``before`` (a Unix time); how many went."""
        return self._write("DELETE FROM gap_questions WHERE created < ?", (before,))

    def forget(self) -> dict[str, int]:
        """Forget every recorded question; how many open and closed ones went."""

        def attempt() -> dict[str, int]:
            with self._lock:
                db = self._db
                db.execute("BEGIN IMMEDIATE")
                try:
                    open_, closed = db.execute(
                        "SELECT COALESCE(SUM(closed IS NULL), 0),"
                        " COALESCE(SUM(closed IS NOT NULL), 0) FROM gap_questions"
                    ).fetchone()
                    db.execute("DELETE FROM gap_questions")
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                # Nor in the write-ahead log.
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return {"open": int(open_), "closed": int(closed)}

        return sqlite.write_blocking(attempt, self.health, WRITER, WRITE_BUDGET_SECONDS)


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
        vector=np.frombuffer(vector, np.float32) if usable else None,
        closed=closed,
        closed_by=closed_by,
    )
