"""The bot's SQLite file: one way to open it (the inbox and the state store share it), writes that
are retried while the database cannot take them (the SQLite file, or PostgreSQL when
``[state] url`` names one), the health that /healthz reports, and a damaged file set aside at
start."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import psycopg

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "WriteHealth",
    "connect",
    "set_aside_if_damaged",
    "write",
    "write_blocking",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long a write waits for another connection's write to the same file (the inbox and the
# state store each hold one) before SQLite gives up with "database is locked".
BUSY_TIMEOUT_SECONDS = 5.0
# A failed write is tried again after 0.05 s, doubling up to this (disk full, locked).
RETRY_MAX_SECONDS = 5.0
# Writes run on one thread, in the order they were asked for, and their callers resume in that
# order: two updates of one chat reach the chat's lock in the order they came (on the shared
# default pool, the second update's inbox write could finish first and its reply go out first).
# SQLite takes one writer at a time anyway.
_WRITER = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")


def connect(path: Path | str, *, max_bytes: int = 0) -> sqlite3.Connection:
    """A connection to ``path`` (its folder is created; ``":memory:"`` for a private database).

    Autocommit (each statement is its own transaction), usable from any thread (callers
    serialise their calls), WAL journal with ``synchronous=NORMAL`` (a write survives the
    process being killed, and readers never block the writer), and a busy timeout. With
    ``max_bytes``, this connection does not grow the file beyond that ("database or disk is
    full", as on a full disk).
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
    )
    _use_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    if max_bytes:
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        db.execute(f"PRAGMA max_page_count={max(1, max_bytes // page_size)}")
    return db


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (the file keeps it). The first switch needs the file's
    exclusive lock; when two connections switch a fresh file at once (replicas starting
    together), each holds the read lock the other must wait out, and SQLite refuses one with
    "database is locked" at once rather than deadlock, without its busy timeout. So try again,
    0.01 s later doubling up to 0.5 s, for as long as the busy timeout; raise if still locked."""
    delay = 0.01
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock it needs."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


class WriteHealth:
    """Which writers cannot write to the file now, and why: /healthz answers 503 with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: dict[str, tuple[str, float]] = {}  # writer -> (error, since)

    def failed(self, writer: str, error: Exception) -> None:
        with self._lock:
            first = writer not in self._failing
            since = self._failing[writer][1] if not first else time.monotonic()
            self._failing[writer] = (str(error), since)
        if first:
            logger.error("The %s cannot write to its database: %s; retrying", writer, error)

    def recovered(self, writer: str) -> None:
        with self._lock:
            failure = self._failing.pop(writer, None)
        if failure is not None:
            logger.warning(
                "The %s writes again (it could not for %.1f s: %s)",
                writer,
                time.monotonic() - failure[1],
                failure[0],
            )

    @property
    def problem(self) -> str:
        """Empty while every write succeeds; else what fails, for how long, and why."""
        with self._lock:
            failing = sorted(self._failing.items())
        now = time.monotonic()
        return "; ".join(
            f"the {writer} cannot write ({error}, for {now - since:.0f} s)"
            for writer, (error, since) in failing
        )


# Faults of the file, the server or another writer that may pass (SQLite: disk full, locked,
# I/O; PostgreSQL: the server gone or restarting, the pool out of connections), not a bug or a
# damaged database.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.OperationalError,
    psycopg.OperationalError,
)


async def write(call: Callable[[], T], health: WriteHealth | None, writer: str) -> T:
    """Run the blocking ``call`` off the event loop, on the one writer thread (in order); while
    it fails with a transient fault, wait (0.05 s, doubling up to 5 s) and try again, for as long
    as it takes (cancel to give up)."""
    delay = 0.05
    while True:
        try:
            result = await asyncio.get_running_loop().run_in_executor(_WRITER, call)
        except TRANSIENT_ERRORS as exc:
            if health is not None:
                health.failed(writer, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        if health is not None:
            health.recovered(writer)
        return result


def write_blocking(
    call: Callable[[], T], health: WriteHealth | None, writer: str, budget: float
) -> T:
    """``write`` for a worker thread: tries again for ``budget`` seconds, then raises."""
    delay = 0.05
    deadline = time.monotonic() + budget
    while True:
        try:
            result = call()
        except TRANSIENT_ERRORS as exc:
            if health is not None:
                health.failed(writer, exc)
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        if health is not None:
            health.recovered(writer)
        return result


def _damage(path: Path) -> str:
    """Why the SQLite file at ``path`` cannot be used ("" when it can, or does not exist)."""
    if not path.exists():
        return ""
    try:
        db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS)
        try:
            rows = db.execute("PRAGMA quick_check").fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:
        raise  # locked, unreadable: not damage, and not ours to move
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    return "; ".join(problems[:3])


def set_aside_if_damaged(path: Path | str) -> tuple[Path, str] | None:
    """Move a damaged SQLite file (and its -wal and -shm) aside, so that a fresh one is made
    in its place; returns (where it went, what was wrong), or None when it was sound."""
    path = Path(path)
    if str(path) == ":memory:":
        return None
    problem = _damage(path)
    if not problem:
        return None
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("-wal", "-shm", ""):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{aside}{suffix}"))
    logger.error(
        "The state file %s is damaged (%s): moved it to %s and starting with a fresh one "
        "(earlier conversations, feedback and unfinished updates stay in the moved file)",
        path,
        problem,
        aside,
    )
    return aside, problem
