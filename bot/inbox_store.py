"""The inbox's tables: the updates received, which are finished, how often each was tried, and
the dead letters (updates set aside after failing). ``bot/inbox.py`` uses them to make the
Application's queue durable."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sqlite
from .storage import Database, open_source

__all__ = [
    "KEEP_DONE_SECONDS",
    "WRITER",
    "DeadLetter",
    "Inbox",
    "PendingUpdate",
    "chat_key",
    "update_kind",
]

KEEP_DONE_SECONDS = 2 * 86400  # finished updates are remembered this long, to drop re-deliveries
WRITER = "inbox"


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """An update received but not finished: as Telegram sent it, and how it went so far."""

    update_id: int
    data: dict[str, Any]
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An update set aside after failing ``attempts`` times; ``error`` is the last failure."""

    update_id: int
    kind: str
    error: str
    attempts: int
    received: float
    set_aside: float
    data: dict[str, Any]

    def describe(self) -> str:
        """What it was, without its text: its kind, who sent it and where."""
        return update_kind(self.data, detail=True)


def update_kind(data: dict[str, Any], *, detail: bool = False) -> str:
    """An update's kind ("message", "callback_query", ...); with ``detail``, also its sender
    and chat (never its text, which may be what made it fail)."""
    kind = next((key for key in data if key != "update_id"), "unknown")
    if not detail:
        return kind
    body = data.get(kind)
    if not isinstance(body, dict):
        return kind
    raw_sender = body.get("from")
    sender: dict[str, Any] = raw_sender if isinstance(raw_sender, dict) else {}
    chat = body.get("chat")
    if not isinstance(chat, dict) and isinstance(body.get("message"), dict):
        chat = body["message"].get("chat")
    parts = [kind.replace("_", " ")]
    if sender.get("id") is not None:
        parts.append(f"from user {sender['id']}")
    if isinstance(chat, dict) and chat.get("id") is not None:
        parts.append(f"in chat {chat['id']}")
    return " ".join(parts)


def chat_key(update_id: int, data: dict[str, Any]) -> str:
    """What orders an update among others: its chat's id (a chat's updates are answered one
    at a time, in order), else its own id (an inline query: nothing to wait for)."""
    kind = next((key for key in data if key != "update_id"), "")
    body = data.get(kind)
    body = body if isinstance(body, dict) else {}
    chat = body.get("chat")
    if not isinstance(chat, dict) and isinstance(body.get("message"), dict):
        chat = body["message"].get("chat")
    if isinstance(chat, dict) and isinstance(chat.get("id"), int):
        return f"chat:{chat['id']}"
    return f"update:{update_id}"


class Inbox:
    """The updates the bot has received, which of them it has finished with, how often each
    was tried, and the dead letters, in a ``Database`` (or in the SQLite file at a path, opened
    here and closed by ``close``). Blocking; the bot calls it from worker threads through
    ``sqlite.write``."""

    def __init__(
        self,
        source: Database | Path | str,
        *,
        health: sqlite.WriteHealth | None = None,
        max_bytes: int = 0,
    ) -> None:
        self.health = health
        self._owned = not isinstance(source, Database)
        self.db = open_source(source, max_bytes=max_bytes)

    def close(self) -> None:
        """Close the database if it was opened here (from a path)."""
        if self._owned:
            self.db.close()

    def add(self, update_id: int, data: dict[str, Any]) -> bool:
        """Store a newly received update; False when it was received before (a re-delivery),
        or was set aside as a dead letter."""
        result = self.db.run(
            "INSERT INTO inbox (update_id, data, received, chat_key)"
            " SELECT ?, ?, ?, ? WHERE NOT EXISTS"
            " (SELECT 1 FROM dead_letters WHERE update_id = ?)"
            " ON CONFLICT (update_id) DO NOTHING",
            (
                update_id,
                json.dumps(data, ensure_ascii=False),
                time.time(),
                chat_key(update_id, data),
                update_id,
            ),
        )
        return result.rowcount == 1

    def begin(self, update_id: int) -> int:
        """Count one more attempt at an update (before its handlers run); returns the count."""
        attempts = self.db.run(
            "UPDATE inbox SET attempts = attempts + 1 WHERE update_id=? RETURNING attempts",
            (update_id,),
        ).scalar()
        return int(attempts) if attempts is not None else 1

    def done(self, update_id: int) -> None:
        self.db.run(
            "UPDATE inbox SET done=? WHERE update_id=? AND done IS NULL",
            (time.time(), update_id),
        )

    def failed(self, update_id: int, error: str) -> None:
        """Remember why an attempt failed (the update stays unfinished, to be tried again)."""
        self.db.run("UPDATE inbox SET error=? WHERE update_id=?", (error, update_id))

    def claim(self, replica: str, lease: float, limit: int, now: float) -> list[PendingUpdate]:
        """Claim up to ``limit`` unfinished updates for ``replica`` until ``now + lease``: the
        oldest unfinished update of each chat, when nobody holds a live claim on it, oldest
        first. Replicas claiming at once get different updates (PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``; SQLite: the transaction's write lock)."""
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        with self.db.transaction() as tx:
            rows = tx.run(
                "SELECT update_id, data, attempts, error FROM inbox i WHERE done IS NULL"
                " AND (lease_until IS NULL OR lease_until < ?) AND NOT EXISTS (SELECT 1 FROM"
                " inbox j WHERE j.chat_key = i.chat_key AND j.done IS NULL"
                f" AND j.update_id < i.update_id) ORDER BY update_id LIMIT ?{skip_locked}",
                (now, limit),
            ).rows
            for row in rows:
                tx.run(
                    "UPDATE inbox SET claimed_by=?, lease_until=? WHERE update_id=?",
                    (replica, now + lease, row[0]),
                )
        return [PendingUpdate(uid, json.loads(data), n, err) for uid, data, n, err in rows]

    def renew(self, replica: str, update_ids: list[int], until: float) -> int:
        """Extend ``replica``'s claims on these unfinished updates; how many it still held."""
        renewed = 0
        with self.db.transaction() as tx:
            for update_id in update_ids:
                renewed += tx.run(
                    "UPDATE inbox SET lease_until=? WHERE update_id=? AND claimed_by=?"
                    " AND done IS NULL",
                    (until, update_id, replica),
                ).rowcount
        return renewed

    def postpone(self, replica: str, update_id: int, until: float) -> None:
        """Shorten ``replica``'s claim on an update it cannot answer now, to look again then."""
        self.db.run(
            "UPDATE inbox SET lease_until=? WHERE update_id=? AND claimed_by=?",
            (until, update_id, replica),
        )

    def pending(self) -> list[PendingUpdate]:
        """Received but not finished, oldest first."""
        rows = self.db.run(
            "SELECT update_id, data, attempts, error FROM inbox WHERE done IS NULL"
            " ORDER BY update_id"
        )
        return [PendingUpdate(uid, json.loads(data), n, err) for uid, data, n, err in rows]

    def set_aside(self, update_id: int, error: str) -> DeadLetter | None:
        """Move an unfinished update to the dead letters (None if it is not in the inbox)."""
        now = time.time()
        with self.db.transaction() as tx:
            row = tx.run(
                "SELECT data, attempts, received FROM inbox WHERE update_id=?", (update_id,)
            ).one()
            if row is None:
                return None
            data, attempts, received = row
            kind = update_kind(json.loads(data))
            tx.run(
                "INSERT INTO dead_letters (update_id, data, kind, error, attempts, received,"
                " set_aside) VALUES (?,?,?,?,?,?,?) ON CONFLICT (update_id) DO UPDATE SET"
                " data=excluded.data, kind=excluded.kind, error=excluded.error,"
                " attempts=excluded.attempts, received=excluded.received,"
                " set_aside=excluded.set_aside",
                (update_id, data, kind, error, attempts, received, now),
            )
            tx.run("DELETE FROM inbox WHERE update_id=?", (update_id,))
        return DeadLetter(update_id, kind, error, attempts, received, now, json.loads(data))

    def dead_letters(self) -> list[DeadLetter]:
        rows = self.db.run(
            "SELECT update_id, kind, error, attempts, received, set_aside, data"
            " FROM dead_letters ORDER BY set_aside, update_id"
        )
        return [
            DeadLetter(update_id, kind, error, attempts, received, set_aside, json.loads(data))
            for update_id, kind, error, attempts, received, set_aside, data in rows
        ]

    def retry(self, update_id: int) -> bool:
        """Put a dead letter back in the inbox, with no attempts counted (the bot handles it at
        its next start); False if there is no such dead letter."""
        with self.db.transaction() as tx:
            moved = tx.run(
                "INSERT INTO inbox (update_id, data, received, done, attempts, error)"
                " SELECT update_id, data, received, NULL, 0, NULL FROM dead_letters"
                " WHERE update_id=? ON CONFLICT (update_id) DO UPDATE SET data=excluded.data,"
                " received=excluded.received, done=NULL, attempts=0, error=NULL",
                (update_id,),
            ).rowcount
            tx.run("DELETE FROM dead_letters WHERE update_id=?", (update_id,))
        return moved == 1

    def drop(self, update_id: int) -> bool:
        """Forget a dead letter for good; False if there is no such dead letter."""
        gone = self.db.run("DELETE FROM dead_letters WHERE update_id=?", (update_id,))
        return gone.rowcount == 1

    def prune(self, now: float, keep_dead_seconds: float) -> int:
        """Forget finished updates after two days, and dead letters after
        ``keep_dead_seconds``; returns how many rows went."""
        done = self.db.run(
            "DELETE FROM inbox WHERE done IS NOT NULL AND done < ?",
            (now - KEEP_DONE_SECONDS,),
        ).rowcount
        dead = self.db.run(
            "DELETE FROM dead_letters WHERE set_aside < ?", (now - keep_dead_seconds,)
        ).rowcount
        return done + dead
