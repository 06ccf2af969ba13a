"""Durable bot state in SQLite: answers (for follow-ups and buttons), feedback, counters, and
each chat's /language choice.

Conversation context is a chain of answers: each answer row keeps the turns that led to it, so
replying to any earlier answer continues exactly that line of questions, and two people in one
group can follow two threads. Everything survives a restart. All methods are blocking; the bot
calls them through ``asyncio.to_thread``. A write that fails on a full disk or a lock is tried
again for ``WRITE_BUDGET_SECONDS`` (``WriteHealth`` shows it meanwhile); ``prune`` forgets old
answers and feedback, keeping their counts for /stats.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.followup import Turn

from . import sqlite

__all__ = ["AnswerRecord", "StateStore"]

WRITE_BUDGET_SECONDS = 30.0  # a failing write is tried again for this long, then raises
WRITER = "state store"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL DEFAULT 0,
    message_id INTEGER,
    user_id INTEGER,
    question TEXT NOT NULL,
    query TEXT NOT NULL,
    found INTEGER NOT NULL,
    history TEXT NOT NULL,
    passages TEXT NOT NULL,
    created REAL NOT NULL,
    update_id INTEGER
);
CREATE INDEX IF NOT EXISTS answers_by_message ON answers (chat_id, message_id);
CREATE INDEX IF NOT EXISTS answers_by_thread ON answers (chat_id, thread_id, created);
CREATE TABLE IF NOT EXISTS feedback (
    answer_key TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    value INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (answer_key, user_id)
);
CREATE TABLE IF NOT EXISTS totals (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_languages (
    chat_id INTEGER PRIMARY KEY,
    language TEXT NOT NULL
);
"""
_COLUMNS = (
    "key, chat_id, thread_id, message_id, user_id, question, query, found, history, passages,"
    " created"
)


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One answer the bot gave: what was asked, the context it was asked in, what it cited."""

    key: str
    chat_id: int
    thread_id: int
    message_id: int | None
    user_id: int | None
    question: str
    query: str
    found: bool
    history: tuple[Turn, ...]
    passage_ids: tuple[str, ...]
    created: float

    def context(self) -> tuple[Turn, ...]:
        """The turns a follow-up to this answer is asked in: this one's history and itself."""
        return (*self.history, Turn(self.question, self.query))


class StateStore:
    """A small SQLite database; one connection, guarded by a lock (calls come from threads)."""

    def __init__(
        self,
        path: Path | str,
        *,
        health: sqlite.WriteHealth | None = None,
        max_bytes: int = 0,
    ) -> None:
        self.health = health if health is not None else sqlite.WriteHealth()
        self._db = sqlite.connect(path, max_bytes=max_bytes)
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
        if "update_id" not in columns:  # a state file from before the durable inbox
            self._db.execute("ALTER TABLE answers ADD COLUMN update_id INTEGER")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS answers_by_update ON answers (update_id)"
            " WHERE update_id IS NOT NULL"
        )
        self._lock = threading.Lock()
        # Few chats choose a language: every choice is kept in memory, so that each reply can
        # read its chat's choice on the event loop without a query.
        self._languages: dict[int, str] = dict(
            self._db.execute("SELECT chat_id, language FROM chat_languages").fetchall()
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: Sequence[object]) -> int:
        """One write statement, tried again while the file cannot take it; its row count."""

        def attempt() -> int:
            with self._lock:
                return self._db.execute(sql, params).rowcount

        return sqlite.write_blocking(attempt, self.health, WRITER, WRITE_BUDGET_SECONDS)

    # -- answers -------------------------------------------------------------------------

    def add_answer(
        self,
        *,
        chat_id: int,
        thread_id: int | None,
        user_id: int | None,
        question: str,
        query: str,
        found: bool,
        history: Sequence[Turn],
        passage_ids: Sequence[str],
        update_id: int | None = None,
    ) -> str:
        """Record an answer before it is sent; returns its key (used in button data)."""
        key = secrets.token_hex(6)
        self._write(
            "INSERT INTO answers (key, chat_id, thread_id, user_id, question, query, found,"
            " history, passages, created, update_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                chat_id,
                thread_id or 0,
                user_id,
                question,
                query,
                int(found),
                json.dumps([[t.question, t.query] for t in history]),
                json.dumps(list(passage_ids)),
                time.time(),
                update_id,
            ),
        )
        return key

    def answered(self, update_id: int) -> bool:
        """Whether the answer to this update was sent (a replayed update is not answered twice)."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM answers WHERE update_id=? AND message_id IS NOT NULL LIMIT 1",
                (update_id,),
            ).fetchone()
        return row is not None

    def set_message_id(self, key: str, message_id: int) -> None:
        """Tie an answer to the Telegram message that carried it (for replies to it)."""
        self._write("UPDATE answers SET message_id=? WHERE key=?", (message_id, key))

    def answer(self, key: str) -> AnswerRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM answers WHERE key=?", (key,)
            ).fetchone()
        return _record(row) if row else None

    def answer_for_message(self, chat_id: int, message_id: int) -> AnswerRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM answers WHERE chat_id=? AND message_id=?",
                (chat_id, message_id),
            ).fetchone()
        return _record(row) if row else None

    def latest_answer(
        self, chat_id: int, thread_id: int | None, since: float, user_id: int | None = None
    ) -> AnswerRecord | None:
        """The newest answer in a chat (and forum topic) given after ``since``; with
        ``user_id``, the newest answer to that user there."""
        mine = " AND user_id=?" if user_id is not None else ""
        params = (chat_id, thread_id or 0, since) + ((user_id,) if user_id is not None else ())
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM answers WHERE chat_id=? AND thread_id=? AND created>=?"
                f"{mine} ORDER BY created DESC, rowid DESC LIMIT 1",
                params,
            ).fetchone()
        return _record(row) if row else None

    # -- feedback and counters -----------------------------------------------------------

    def set_feedback(self, answer_key: str, user_id: int, value: int) -> None:
        """+1 or -1 from one user on one answer; pressing again replaces their vote."""
        self._write(
            "INSERT INTO feedback (answer_key, user_id, value, created) VALUES (?,?,?,?)"
            " ON CONFLICT (answer_key, user_id) DO UPDATE SET value=excluded.value,"
            " created=excluded.created",
            (answer_key, user_id, value, time.time()),
        )

    def remove_feedback(self, answer_key: str, user_id: int) -> None:
        """Withdraw a user's vote on an answer (a reaction taken back)."""
        self._write("DELETE FROM feedback WHERE answer_key=? AND user_id=?", (answer_key, user_id))

    def feedback_between(self, bounds: Sequence[float]) -> list[tuple[int, int]]:
        """(👍, 👎) votes cast in each interval between consecutive Unix times of ``bounds``
        (kept feedback only: pruned votes count in ``stats`` alone)."""
        with self._lock:
            return [
                tuple(
                    self._db.execute(
                        "SELECT COALESCE(SUM(value > 0), 0), COALESCE(SUM(value < 0), 0)"
                        " FROM feedback WHERE created >= ? AND created < ?",
                        (start, end),
                    ).fetchone()
                )
                for start, end in itertools.pairwise(bounds)
            ]

    def feedback(self, answer_key: str) -> dict[int, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT user_id, value FROM feedback WHERE answer_key=?", (answer_key,)
            ).fetchall()
        return dict(rows)

    def feedback_by_day(self, since: float) -> list[tuple[str, int, int]]:
        """(day as YYYY-MM-DD in UTC, 👍 count, 👎 count) for each day with feedback given at or
        after ``since`` (a Unix time), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT date(created, 'unixepoch') AS day, COALESCE(SUM(value > 0), 0),"
                " COALESCE(SUM(value < 0), 0) FROM feedback WHERE created >= ?"
                " GROUP BY day ORDER BY day",
                (since,),
            ).fetchall()
        return [(str(day), int(up), int(down)) for day, up, down in rows]

    def stats(self) -> dict[str, int]:
        """Questions answered, not found, and feedback, since the state file was made (pruned
        rows are counted in ``totals``)."""
        with self._lock:
            answered, not_found = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(1 - found), 0) FROM answers"
            ).fetchone()
            up, down = self._db.execute(
                "SELECT COALESCE(SUM(value > 0), 0), COALESCE(SUM(value < 0), 0) FROM feedback"
            ).fetchone()
            totals = dict(self._db.execute("SELECT name, value FROM totals").fetchall())
        return {
            "questions": answered + totals.get("questions", 0),
            "not_found": not_found + totals.get("not_found", 0),
            "thumbs_up": up + totals.get("thumbs_up", 0),
            "thumbs_down": down + totals.get("thumbs_down", 0),
        }

    # -- languages -----------------------------------------------------------------------

    def chat_language(self, chat_id: int) -> str | None:
        """The language a chat chose with /language; None when it chose none (automatic).
        From memory: safe to call on the event loop."""
        return self._languages.get(chat_id)

    def set_chat_language(self, chat_id: int, language: str | None) -> None:
        """Record a chat's choice of language; None goes back to automatic."""
        if language is None:
            self._write("DELETE FROM chat_languages WHERE chat_id=?", (chat_id,))
            self._languages.pop(chat_id, None)
        else:
            self._write(
                "INSERT INTO chat_languages (chat_id, language) VALUES (?,?)"
                " ON CONFLICT (chat_id) DO UPDATE SET language=excluded.language",
                (chat_id, language),
            )
            self._languages[chat_id] = language

    # -- pruning ---------------------------------------------------------------------------

    def prune(self, before: float) -> int:
        """Forget answers given before ``before`` (a Unix time) and the feedback on them; their
        counts move to ``totals``, so /stats still counts them. Returns the answers removed."""

        def attempt() -> int:
            with self._lock:
                db = self._db
                db.execute("BEGIN IMMEDIATE")
                try:
                    gone, not_found = db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(1 - found), 0) FROM answers"
                        " WHERE created < ?",
                        (before,),
                    ).fetchone()
                    up, down = db.execute(
                        "SELECT COALESCE(SUM(value > 0), 0), COALESCE(SUM(value < 0), 0)"
                        " FROM feedback WHERE answer_key IN"
                        " (SELECT key FROM answers WHERE created < ?)",
                        (before,),
                    ).fetchone()
                    for name, value in (
                        ("questions", gone),
                        ("not_found", not_found),
                        ("thumbs_up", up),
                        ("thumbs_down", down),
                    ):
                        db.execute(
                            "INSERT INTO totals (name, value) VALUES (?, ?) ON CONFLICT (name)"
                            " DO UPDATE SET value = value + excluded.value",
                            (name, value),
                        )
                    db.execute(
                        "DELETE FROM feedback WHERE answer_key IN"
                        " (SELECT key FROM answers WHERE created < ?)",
                        (before,),
                    )
                    db.execute("DELETE FROM answers WHERE created < ?", (before,))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                return int(gone)

        return sqlite.write_blocking(attempt, self.health, WRITER, WRITE_BUDGET_SECONDS)


def _record(row: tuple[Any, ...]) -> AnswerRecord:
    (
        key,
        chat_id,
        thread_id,
        message_id,
        user_id,
        question,
        query,
        found,
        history,
        passages,
        created,
    ) = row
    return AnswerRecord(
        key=key,
        chat_id=chat_id,
        thread_id=thread_id,
        message_id=message_id,
        user_id=user_id,
        question=question,
        query=query,
        found=bool(found),
        history=tuple(Turn(q, s) for q, s in json.loads(history)),
        passage_ids=tuple(json.loads(passages)),
        created=created,
    )
