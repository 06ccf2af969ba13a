"""Durable bot state (SQLite, or PostgreSQL with ``[state] url``): answers (for follow-ups and
buttons), feedback, counters, and each chat's /language choice.

Conversation context is a chain of answers: each answer row keeps the turns that led to it, so
replying to any earlier answer continues exactly that line of questions, and two people in one
group can follow two threads. Everything survives a restart. All methods are blocking; the bot
calls them through ``asyncio.to_thread``. A write that fails on a full disk, a lock or a lost
database server is tried again for ``WRITE_BUDGET_SECONDS`` (``WriteHealth`` shows it
meanwhile); ``prune`` forgets old answers and feedback, keeping their counts for /stats.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.followup import Turn

from . import sqlite
from .storage import Database, open_source

__all__ = ["AnswerRecord", "StateStore"]

WRITE_BUDGET_SECONDS = 30.0  # a failing write is tried again for this long, then raises
WRITER = "state store"

_VOTES = (
    "COALESCE(SUM(CASE WHEN value > 0 THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN value < 0 THEN 1 ELSE 0 END), 0)"
)
_TOTALS = "SELECT name, value FROM totals"
# A Unix time's day in UTC, as YYYY-MM-DD.
_UTC_DAY = {
    "sqlite": "date(created, 'unixepoch')",
    "postgresql": "to_char(to_timestamp(created) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}
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
        """The turns a follow-up to this answer is asked in: this one's history and itself
        (with the passage it cited first; the history keeps only what was asked)."""
        cited = self.passage_ids[0] if self.found and self.passage_ids else ""
        return (*self.history, Turn(self.question, self.query, cited))


class StateStore:
    """The state's tables in a ``Database`` (or in the SQLite file at a path, opened here and
    closed by ``close``); every method blocks."""

    def __init__(
        self,
        source: Database | Path | str,
        *,
        health: sqlite.WriteHealth | None = None,
        max_bytes: int = 0,
    ) -> None:
        self.health = health if health is not None else sqlite.WriteHealth()
        self._owned = not isinstance(source, Database)
        self.db = open_source(source, max_bytes=max_bytes)
        # Few chats choose a language: every choice is kept in memory, so that each reply can
        # read its chat's choice on the event loop without a query (replicas sharing the state
        # re-read them: bot/language_refresh.py).
        self._languages: dict[int, str] = {}
        self.reload_languages()

    def close(self) -> None:
        """Close the database if it was opened here (from a path)."""
        if self._owned:
            self.db.close()

    def _write(self, sql: str, params: Sequence[object]) -> int:
        """One write statement, tried again while the database cannot take it; its row count."""

        def attempt() -> int:
            return self.db.run(sql, params).rowcount

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
        row = self.db.run(
            "SELECT 1 FROM answers WHERE update_id=? AND message_id IS NOT NULL LIMIT 1",
            (update_id,),
        ).one()
        return row is not None

    def set_message_id(self, key: str, message_id: int) -> None:
        """Tie an answer to the Telegram message that carried it (for replies to it)."""
        self._write("UPDATE answers SET message_id=? WHERE key=?", (message_id, key))

    def answer(self, key: str) -> AnswerRecord | None:
        row = self.db.run(f"SELECT {_COLUMNS} FROM answers WHERE key=?", (key,)).one()
        return _record(row) if row else None

    def answer_for_message(self, chat_id: int, message_id: int) -> AnswerRecord | None:
        row = self.db.run(
            f"SELECT {_COLUMNS} FROM answers WHERE chat_id=? AND message_id=?",
            (chat_id, message_id),
        ).one()
        return _record(row) if row else None

    def latest_answer(
        self, chat_id: int, thread_id: int | None, since: float, user_id: int | None = None
    ) -> AnswerRecord | None:
        """The newest answer in a chat (and forum topic) given after ``since``; with
        ``user_id``, the newest answer to that user there."""
        mine = " AND user_id=?" if user_id is not None else ""
        params = (chat_id, thread_id or 0, since) + ((user_id,) if user_id is not None else ())
        row = self.db.run(
            f"SELECT {_COLUMNS} FROM answers WHERE chat_id=? AND thread_id=? AND created>=?"
            f"{mine} ORDER BY created DESC, rowid DESC LIMIT 1",
            params,
        ).one()
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
        votes = []
        for start, end in itertools.pairwise(bounds):
            up, down = self.db.run(
                f"SELECT {_VOTES} FROM feedback WHERE created >= ? AND created < ?", (start, end)
            ).rows[0]
            votes.append((int(up), int(down)))
        return votes

    def feedback(self, answer_key: str) -> dict[int, int]:
        rows = self.db.run("SELECT user_id, value FROM feedback WHERE answer_key=?", (answer_key,))
        return {int(user): int(value) for user, value in rows}

    def feedback_by_day(self, since: float) -> list[tuple[str, int, int]]:
        """(day as YYYY-MM-DD in UTC, 👍 count, 👎 count) for each day with feedback given at or
        after ``since`` (a Unix time), oldest first."""
        rows = self.db.run(
            f"SELECT {_UTC_DAY[self.db.dialect]} AS day, {_VOTES} FROM feedback"
            " WHERE created >= ? GROUP BY day ORDER BY day",
            (since,),
        )
        return [(str(day), int(up), int(down)) for day, up, down in rows]

    def stats(self) -> dict[str, int]:
        """Questions answered, not found, and feedback, since the state file was made (pruned
        rows are counted in ``totals``)."""
        answered, not_found = self.db.run(
            "SELECT COUNT(*), COALESCE(SUM(1 - found), 0) FROM answers"
        ).rows[0]
        up, down = self.db.run(f"SELECT {_VOTES} FROM feedback").rows[0]
        totals = {str(name): int(value) for name, value in self.db.run(_TOTALS)}
        return {
            "questions": int(answered) + totals.get("questions", 0),
            "not_found": int(not_found) + totals.get("not_found", 0),
            "thumbs_up": int(up) + totals.get("thumbs_up", 0),
            "thumbs_down": int(down) + totals.get("thumbs_down", 0),
        }

    # -- languages -----------------------------------------------------------------------

    def chat_language(self, chat_id: int) -> str | None:
        """The language a chat chose with /language; None when it chose none (automatic).
        From memory: safe to call on the event loop."""
        return self._languages.get(chat_id)

    def reload_languages(self) -> None:
        """Read every chat's choice again (made by another replica since, say)."""
        self._languages = {
            int(chat): str(language)
            for chat, language in self.db.run("SELECT chat_id, language FROM chat_languages")
        }

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
            with self.db.transaction() as tx:
                gone, not_found = tx.run(
                    "SELECT COUNT(*), COALESCE(SUM(1 - found), 0) FROM answers WHERE created < ?",
                    (before,),
                ).rows[0]
                up, down = tx.run(
                    f"SELECT {_VOTES} FROM feedback WHERE answer_key IN"
                    " (SELECT key FROM answers WHERE created < ?)",
                    (before,),
                ).rows[0]
                for name, value in (
                    ("questions", gone),
                    ("not_found", not_found),
                    ("thumbs_up", up),
                    ("thumbs_down", down),
                ):
                    tx.run(
                        "INSERT INTO totals (name, value) VALUES (?, ?) ON CONFLICT (name)"
                        " DO UPDATE SET value = totals.value + excluded.value",
                        (name, int(value)),
                    )
                tx.run(
                    "DELETE FROM feedback WHERE answer_key IN"
                    " (SELECT key FROM answers WHERE created < ?)",
                    (before,),
                )
                tx.run("DELETE FROM answers WHERE created < ?", (before,))
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
