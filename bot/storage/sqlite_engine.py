"""The SQLite engine of the storage interface: one connection to the bot's file, guarded by a
lock (calls come from threads), opened as ``bot/sqlite.py`` opens it (WAL, busy timeout, an
optional size limit)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .. import sqlite
from .database import Database, Result, Transaction

__all__ = ["SqliteDatabase"]


def _result(cursor: sqlite3.Cursor) -> Result:
    rows = cursor.fetchall() if cursor.description is not None else []
    return Result(rows, cursor.rowcount)


class _SqliteTransaction(Transaction):
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        return _result(self._db.execute(sql, params))


class SqliteDatabase(Database):
    """The bot's SQLite file (``":memory:"`` for a private database)."""

    dialect = "sqlite"

    def __init__(self, path: Path | str, *, max_bytes: int = 0) -> None:
        self.path = path
        self.description = str(path)
        self._db = sqlite.connect(path, max_bytes=max_bytes)
        self._lock = threading.Lock()
        self._closed = False

    def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        with self._lock:
            return _result(self._db.execute(sql, params))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the write lock, taken now rather than later
            try:
                yield _SqliteTransaction(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def lock(self, tx: Transaction, name: str) -> None:
        """Nothing more to take: a transaction holds the file's only write lock already."""

    @contextmanager
    def hold(self, name: str) -> Iterator[Callable[[], bool] | None]:
        yield lambda: True

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
