"""Where the bot keeps its state (inbox, answers, feedback, counters, languages): the storage
interface, its SQLite and PostgreSQL engines, and the versioned schema."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .database import Database, Dialect, Result, Transaction
from .migrations import MIGRATIONS, Migration, migrate, schema_version
from .postgres_engine import PostgresDatabase
from .sqlite_engine import SqliteDatabase

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "MIGRATIONS",
    "Database",
    "Dialect",
    "Migration",
    "PostgresDatabase",
    "Result",
    "SqliteDatabase",
    "Transaction",
    "migrate",
    "open_configured",
    "open_database",
    "open_source",
    "schema_version",
]

logger = logging.getLogger(__name__)


def open_database(
    url: str, sqlite_path: Path | str, *, max_bytes: int = 0, pool_size: int = 8
) -> Database:
    """The database ``[state] url`` names (PostgreSQL), else the SQLite file at ``sqlite_path``
    (``max_bytes``: the most it may grow to, 0 for no limit); its schema brought up to date."""
    db: Database
    if url:
        db = PostgresDatabase(url, pool_size=pool_size)
        logger.info("State in PostgreSQL at %s", db.description)
    else:
        db = SqliteDatabase(sqlite_path, max_bytes=max_bytes)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def open_source(source: Database | Path | str, *, max_bytes: int = 0) -> Database:
    """``source`` itself when it is a database; else the SQLite file at that path, migrated
    (what the stores do when given a path, as tools and tests give them)."""
    if isinstance(source, Database):
        return source
    return open_database("", source, max_bytes=max_bytes)


def open_configured(config: Config) -> Database:
    """The database the configuration names: ``state.url``, else the file ``chat.state_path``."""
    return open_database(
        config.state.url,
        config.chat.state_path,
        max_bytes=int(config.chat.state_max_mb * 1024 * 1024),
        pool_size=config.state.pool_size,
    )
