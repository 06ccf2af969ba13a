"""The PostgreSQL engine of the storage interface: a psycopg 3 connection pool, shared by every
thread of the process; several replicas of the bot can share one database.

Statements are written with ``?`` placeholders, as for SQLite; they become psycopg's ``%s`` here.
Every statement outside a transaction commits on its own (autocommit). Named locks are
transaction-level advisory locks, on a 64-bit key derived from the name, so they are released
when the transaction ends, also when the process holding them dies.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from ..redact import without_password
from .database import Database, Result, Transaction

__all__ = ["PostgresDatabase", "lock_key"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 30.0  # the pool's first connection at start, and a free one later
# A held lock's session is given up as dead after about 5 + 3 x 2 = 11 s of silence, by the
# server (these settings, for that session) and by the holder (the same, on its side).
_SERVER_KEEPALIVES = (
    ("tcp_keepalives_idle", 5),
    ("tcp_keepalives_interval", 2),
    ("tcp_keepalives_count", 3),
)


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def lock_key(name: str) -> int:
    """A lock's name as a signed 64-bit advisory lock key (stable across processes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _alive(connection: psycopg.Connection[tuple[object, ...]]) -> Callable[[], bool]:
    """Whether ``connection``'s session (and so the lock it holds) is still there."""

    def check() -> bool:
        try:
            connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    return check


def _result(cursor: psycopg.Cursor[tuple[object, ...]]) -> Result:
    rows = cursor.fetchall() if cursor.description is not None else []
    return Result(rows, cursor.rowcount)


class _PostgresTransaction(Transaction):
    def __init__(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        self._connection = connection

    def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        return _result(self._connection.execute(_placeholders(sql), params))


class PostgresDatabase(Database):
    """A pool of up to ``pool_size`` connections to ``url`` (``postgresql://user:pw@host/db``);
    opening waits up to 30 s for the server."""

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.description = without_password(url)
        self._url = url
        self._pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            open=False,
            timeout=CONNECT_TIMEOUT_SECONDS,
            name="storybot-state",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error:
            self._pool.close()
            raise

    def run(self, sql: str, params: Sequence[object] = ()) -> Result:
        with self._pool.connection() as connection:
            return _result(connection.execute(_placeholders(sql), params))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._pool.connection() as connection, connection.transaction():
            yield _PostgresTransaction(connection)

    def lock(self, tx: Transaction, name: str) -> None:
        tx.run("SELECT pg_advisory_xact_lock(?)", (lock_key(name),))

    def own_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        """A connection of its own, outside the pool, for locks that may be held for minutes or
        for the life of the process (closing it releases them). Keepalives both ways: a holder
        whose machine vanished loses its locks within about 11 s, and a holder cut off from
        the server learns as soon that its session is gone."""
        connection = psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=int(CONNECT_TIMEOUT_SECONDS),
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )
        try:
            for setting, value in _SERVER_KEEPALIVES:
                connection.execute(f"SET {setting} = {value}")
        except BaseException:
            connection.close()
            raise
        return connection

    @contextmanager
    def hold(self, name: str) -> Iterator[Callable[[], bool] | None]:
        with self.own_connection() as connection:
            row = connection.execute(
                "SELECT pg_try_advisory_lock(%s)", (lock_key(name),)
            ).fetchone()
            yield _alive(connection) if row and row[0] else None

    def close(self) -> None:
        self._pool.close()
