"""Named locks taken and given back one at a time, each held until given back or until the
process holding it dies: the per-chat locks that webhook replicas hold while answering
(``bot/shared_inbox.py``).

PostgreSQL: session-level advisory locks on one connection of their own (not a pooled one), so
that a replica that dies, or loses the server, lets go of every lock it held at once. A new
session holds nothing: after the connection broke, the locks are taken afresh. SQLite (one
machine, one process answering): the locks live in this process only.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Callable

import psycopg

from .database import Database
from .postgres_engine import PostgresDatabase, lock_key

__all__ = ["LocalLocks", "PostgresSessionLocks", "SessionLocks", "session_locks"]

Connect = Callable[[], psycopg.Connection[tuple[object, ...]]]


def session_locks(database: Database) -> SessionLocks:
    """The session locks that go with ``database``'s engine."""
    if isinstance(database, PostgresDatabase):
        return PostgresSessionLocks(database.own_connection)
    return LocalLocks()


class SessionLocks(abc.ABC):
    """Locks by name, one holder at a time. Blocking; call from one worker thread."""

    @abc.abstractmethod
    def try_take(self, name: str) -> bool:
        """Take the lock if nobody holds it (this process included); False otherwise."""

    @abc.abstractmethod
    def give_back(self, name: str) -> None:
        """Let go of a lock this process holds (nothing when it holds none by that name)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of every lock; safe to call twice."""


class LocalLocks(SessionLocks):
    """Locks held in this process only."""

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def try_take(self, name: str) -> bool:
        with self._mutex:
            if name in self._held:
                return False
            self._held.add(name)
            return True

    def give_back(self, name: str) -> None:
        with self._mutex:
            self._held.discard(name)

    def close(self) -> None:
        with self._mutex:
            self._held.clear()


class PostgresSessionLocks(SessionLocks):
    """Advisory locks on one PostgreSQL session (a connection ``connect`` opens), opened on
    first use and again after it broke."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[str] = set()  # what this session holds (the server's are reentrant)
        self._mutex = threading.Lock()

    def _session(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._held.clear()  # a new session holds nothing
            self._connection = self._connect()
        return self._connection

    def try_take(self, name: str) -> bool:
        with self._mutex:
            session = self._session()
            if name in self._held:
                return False
            row = session.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(name),)).fetchone()
            if row and row[0]:
                self._held.add(name)
                return True
            return False

    def give_back(self, name: str) -> None:
        with self._mutex:
            if name not in self._held:
                return
            self._held.discard(name)
            session = self._connection
            if session is not None and not session.closed and not session.broken:
                session.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))

    def close(self) -> None:
        """Give every lock back on the session before closing it: the server lets go of a
        closed session's locks only once its backend has exited, a moment after the close
        returns, so another replica could otherwise still find them held."""
        with self._mutex:
            self._held.clear()
            session, self._connection = self._connection, None
            if session is None:
                return
            if not session.closed and not session.broken:
                with contextlib.suppress(psycopg.Error):  # a lost session holds nothing
                    session.execute("SELECT pg_advisory_unlock_all()")
            session.close()
