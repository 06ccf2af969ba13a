"""The state's database, opened at start: PostgreSQL when ``state.url`` names one, else the
SQLite file (set aside first when it is damaged); either way migrated to the current schema."""

from __future__ import annotations

from pathlib import Path

from . import sqlite
from .config import Config
from .storage import Database, SqliteDatabase, open_configured

__all__ = ["open_databases"]


def open_databases(config: Config) -> tuple[tuple[Path, str] | None, list[Database]]:
    """(where a damaged SQLite file went and why, or None; the databases to close at the end).
    PostgreSQL: one pool for the state store and the inbox. SQLite: a connection for each, so
    that reading answers does not wait for the inbox's writes; the first is the state store's,
    the last the inbox's."""
    if config.state.url:
        return None, [open_configured(config)]
    damaged = sqlite.set_aside_if_damaged(config.chat.state_path)
    first = open_configured(config)
    max_bytes = int(config.chat.state_max_mb * 1024 * 1024)
    return damaged, [first, SqliteDatabase(config.chat.state_path, max_bytes=max_bytes)]
