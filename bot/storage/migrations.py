"""The versioned schema of the bot's state: each migration once, in order, at start.

``schema_migrations`` records the versions applied. ``migrate`` runs the missing ones in one
transaction that holds the schema lock (PostgreSQL: an advisory lock; SQLite: the file's write
lock), so two replicas starting at once do not race: the second waits, then finds nothing left
to do. A migration is a list of steps per engine: SQL text, or a function for what SQL alone
cannot say (a column that a file from before versioning may lack).

To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .database import Database, Transaction

__all__ = ["MIGRATIONS", "Migration", "migrate", "schema_version"]

logger = logging.getLogger(__name__)

LOCK = "storybot schema"

Step = str | Callable[[Transaction], None]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sqlite: Sequence[Step]
    postgresql: Sequence[Step]


def _add_missing_column(table: str, column: str, definition: str) -> Step:
    """SQLite: add ``column`` to ``table`` unless it is there (a file from before versioning
    may have any earlier shape of the table)."""

    def step(tx: Transaction) -> None:
        columns = {row[1] for row in tx.run(f"PRAGMA table_info({table})")}
        if column not in columns:
            tx.run(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    return step


_V1_SQLITE: tuple[Step, ...] = (
    "CREATE TABLE IF NOT EXISTS inbox (update_id INTEGER PRIMARY KEY, data TEXT NOT NULL,"
    " received REAL NOT NULL, done REAL)",
    _add_missing_column("inbox", "attempts", "INTEGER NOT NULL DEFAULT 0"),
    _add_missing_column("inbox", "error", "TEXT"),
    "CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (done, update_id)",
    "CREATE TABLE IF NOT EXISTS dead_letters (update_id INTEGER PRIMARY KEY, data TEXT NOT NULL,"
    " kind TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " received REAL NOT NULL, set_aside REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, chat_id INTEGER NOT NULL,"
    " thread_id INTEGER NOT NULL DEFAULT 0, message_id INTEGER, user_id INTEGER,"
    " question TEXT NOT NULL, query TEXT NOT NULL, found INTEGER NOT NULL, history TEXT NOT NULL,"
    " passages TEXT NOT NULL, created REAL NOT NULL, update_id INTEGER)",
    _add_missing_column("answers", "update_id", "INTEGER"),
    "CREATE INDEX IF NOT EXISTS answers_by_message ON answers (chat_id, message_id)",
    "CREATE INDEX IF NOT EXISTS answers_by_thread ON answers (chat_id, thread_id, created)",
    "CREATE INDEX IF NOT EXISTS answers_by_update ON answers (update_id)"
    " WHERE update_id IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS feedback (answer_key TEXT NOT NULL, user_id INTEGER NOT NULL,"
    " value INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (answer_key, user_id))",
    "CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chat_languages (chat_id INTEGER PRIMARY KEY,"
    " language TEXT NOT NULL)",
)

# The same tables: ids that Telegram may make larger than 32 bits are BIGINT, times are DOUBLE
# PRECISION (REAL is 4 bytes there), and answers get the ``rowid`` SQLite gives every table.
_V1_POSTGRESQL: tuple[Step, ...] = (
    "CREATE TABLE inbox (update_id BIGINT PRIMARY KEY, data TEXT NOT NULL,"
    " received DOUBLE PRECISION NOT NULL, done DOUBLE PRECISION,"
    " attempts INTEGER NOT NULL DEFAULT 0, error TEXT)",
    "CREATE INDEX inbox_pending ON inbox (done, update_id)",
    "CREATE TABLE dead_letters (update_id BIGINT PRIMARY KEY, data TEXT NOT NULL,"
    " kind TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " received DOUBLE PRECISION NOT NULL, set_aside DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE answers (key TEXT PRIMARY KEY, rowid BIGSERIAL, chat_id BIGINT NOT NULL,"
    " thread_id BIGINT NOT NULL DEFAULT 0, message_id BIGINT, user_id BIGINT,"
    " question TEXT NOT NULL, query TEXT NOT NULL, found INTEGER NOT NULL, history TEXT NOT NULL,"
    " passages TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, update_id BIGINT)",
    "CREATE INDEX answers_by_message ON answers (chat_id, message_id)",
    "CREATE INDEX answers_by_thread ON answers (chat_id, thread_id, created)",
    "CREATE INDEX answers_by_update ON answers (update_id) WHERE update_id IS NOT NULL",
    "CREATE TABLE feedback (answer_key TEXT NOT NULL, user_id BIGINT NOT NULL,"
    " value INTEGER NOT NULL, created DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (answer_key, user_id))",
    "CREATE TABLE totals (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "CREATE TABLE chat_languages (chat_id BIGINT PRIMARY KEY, language TEXT NOT NULL)",
)

# The gap report's questions. With SQLite they live in a file of their own beside the state
# file, whose schema bot/gap_store.py makes; so nothing here for SQLite.
_V2_POSTGRESQL: tuple[Step, ...] = (
    "CREATE TABLE gap_questions (id BIGSERIAL PRIMARY KEY, question TEXT NOT NULL,"
    " reason TEXT NOT NULL, chat_kind TEXT NOT NULL, language TEXT NOT NULL,"
    " created DOUBLE PRECISION NOT NULL, score DOUBLE PRECISION NOT NULL, user_hash TEXT,"
    " nearest TEXT NOT NULL, vector BYTEA, model TEXT NOT NULL DEFAULT '',"
    " closed DOUBLE PRECISION, closed_by TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX gap_questions_by_created ON gap_questions (created)",
    "CREATE UNIQUE INDEX gap_questions_once ON gap_questions (user_hash, question)"
    " WHERE closed IS NULL",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "inbox, dead letters, answers, feedback, totals, chat languages",
        _V1_SQLITE,
        _V1_POSTGRESQL,
    ),
    Migration(2, "gap questions", (), _V2_POSTGRESQL),
    # Replicas sharing the inbox: what orders an update (its chat), and who claimed it until
    # when (bot/shared_inbox.py). Rows from before get a key of their own: nothing to wait for.
    Migration(
        3,
        "inbox claims",
        (
            _add_missing_column("inbox", "chat_key", "TEXT NOT NULL DEFAULT ''"),
            _add_missing_column("inbox", "claimed_by", "TEXT"),
            _add_missing_column("inbox", "lease_until", "REAL"),
            "UPDATE inbox SET chat_key = 'update:' || update_id WHERE chat_key = ''",
            "CREATE INDEX IF NOT EXISTS inbox_by_chat ON inbox (chat_key, update_id)"
            " WHERE done IS NULL",
        ),
        (
            "ALTER TABLE inbox ADD COLUMN chat_key TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE inbox ADD COLUMN claimed_by TEXT",
            "ALTER TABLE inbox ADD COLUMN lease_until DOUBLE PRECISION",
            "UPDATE inbox SET chat_key = 'update:' || update_id WHERE chat_key = ''",
            "CREATE INDEX inbox_by_chat ON inbox (chat_key, update_id) WHERE done IS NULL",
        ),
    ),
)

_VERSIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL, applied {time} NOT NULL)"
)


def _applied(db: Database, tx: Transaction) -> set[int]:
    time_type = "REAL" if db.dialect == "sqlite" else "DOUBLE PRECISION"
    tx.run(_VERSIONS.format(time=time_type))
    return {int(row[0]) for row in tx.run("SELECT version FROM schema_migrations")}


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the migrations ``db`` lacks, under the schema lock; returns the versions applied
    now (empty when the schema was current)."""
    with db.transaction() as tx:
        db.lock(tx, LOCK)  # before anything else: a replica starting beside us waits here
        done = _applied(db, tx)
        newer = sorted(done - {m.version for m in migrations})
        if newer:
            raise RuntimeError(
                f"The state database {db.description} has schema version {newer[-1]}, newer "
                "than this storybot knows: run the newer storybot, or another database."
            )
        applied = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in done:
                continue
            for step in migration.sqlite if db.dialect == "sqlite" else migration.postgresql:
                if isinstance(step, str):
                    tx.run(step)
                else:
                    step(tx)
            tx.run(
                "INSERT INTO schema_migrations (version, description, applied) VALUES (?,?,?)",
                (migration.version, migration.description, time.time()),
            )
            applied.append(migration.version)
    if applied:
        logger.info("State schema of %s brought to version %d", db.description, applied[-1])
    return applied


def schema_version(db: Database) -> int:
    """The newest migration applied to ``db`` (0 for a database that has none)."""
    with db.transaction() as tx:
        done = _applied(db, tx)
    return max(done, default=0)
