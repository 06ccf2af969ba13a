"""The storage interface the inbox, the state store and their tables are written against: run a
statement, or several in one transaction, on whichever engine holds the bot's state.

Two engines implement it: SQLite (``sqlite_engine.py``, the embedded default: one file next to
the bot) and PostgreSQL (``postgres_engine.py``, for replicas that share their state). Callers
write one portable SQL text with ``?`` placeholders; what differs between the two (column types,
upserts, advisory locks) lives in the migrations and in the engines, never in the callers.
Everything here blocks: the bot calls it from worker threads.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Database", "Dialect", "Result", "Transaction"]

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement gave: its rows (read in full, so the connection is free again) and the
    number of rows it changed."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def one(self) -> tuple[Any, ...] | None:
        """The first row, or None when there is none."""
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row (None when there is no row)."""
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class Transaction(abc.ABC):
    """Statements that commit together, or not at all (an exception rolls them back)."""

    @abc.abstractmethod
    def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        """One statement inside the transaction."""


class Database(abc.ABC):
    """A connection (SQLite) or a pool of them (PostgreSQL), usable from any thread."""

    dialect: Dialect
    # Where the state is, fit for a log line and an admin: a path, or a URL without password.
    description: str

    @abc.abstractmethod
    def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        """One statement, committed on its own."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """Several statements that commit together; other writers wait meanwhile (SQLite takes
        its write lock at the start, PostgreSQL locks the rows the statements touch)."""

    @abc.abstractmethod
    def lock(self, tx: Transaction, name: str) -> None:
        """Hold the lock called ``name`` until ``tx`` ends: one holder at a time across every
        process using this database (SQLite: the transaction's write lock holds it already;
        PostgreSQL: a transaction-level advisory lock)."""

    @abc.abstractmethod
    def hold(self, name: str) -> AbstractContextManager[Callable[[], bool] | None]:
        """Try to take the lock called ``name`` for as long as the block runs, without waiting:
        None when another process holds it; else a check that it is still held (False once
        the database lost the session that holds it). PostgreSQL: a session-level advisory
        lock on a connection of its own, released when the block ends or when the process
        holding it dies. SQLite: always taken (one machine; the file locks of whatever the lock
        guards do the rest)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection (or the pool); safe to call twice."""
