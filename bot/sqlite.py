"""Opening the bot's SQLite file: one way for the inbox and the state store, which share it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["BUSY_TIMEOUT_SECONDS", "connect"]

# How long a write waits for another connection's write to the same file (the inbox and the
# state store each hold one) before SQLite gives up with "database is locked".
BUSY_TIMEOUT_SECONDS = 5.0


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection to ``path`` (its folder is created; ``":memory:"`` for a private database).

    Autocommit (each statement is its own transaction), usable from any thread (callers
    serialise their calls), WAL journal with ``synchronous=NORMAL`` (a write survives the
    process being killed, and readers never block the writer), and a busy timeout.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db
