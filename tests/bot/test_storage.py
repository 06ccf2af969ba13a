"""The storage interface, the same suite on both engines: SQLite (the embedded default) and a
real PostgreSQL server (tests/postgres.py). Answers, feedback, counters, languages, the inbox
and its dead letters, pruning, and the versioned schema migrated once by replicas starting
together."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.gap_store import GapStore
from bot.gaps import NOT_FOUND, THUMBS_DOWN, GapQuestion
from bot.inbox import Inbox
from bot.state import StateStore
from bot.storage import (
    MIGRATIONS,
    Database,
    PostgresDatabase,
    SqliteDatabase,
    migrate,
    open_database,
    schema_version,
)
from index.followup import Turn

DAY = 86400
Opener = Callable[[], Database]


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a new connection (SQLite) or pool (PostgreSQL) to one fresh database per test,
    its schema migrated: a second call is a second replica on the same state."""
    if request.param == "sqlite":
        path = tmp_path / "state.sqlite3"
        return lambda: open_database("", path)
    url = request.getfixturevalue("postgres_url")
    return lambda: open_database(url, "unused", pool_size=4)


@pytest.fixture
def db(opener: Opener) -> Iterator[Database]:
    with contextlib.closing(opener()) as database:
        yield database


def answer(store: StateStore, question: str, *, chat: int = 5, found: bool = True) -> str:
    return store.add_answer(
        chat_id=chat,
        thread_id=None,
        user_id=7,
        question=question,
        query=question.lower(),
        found=found,
        history=(Turn("First?", "first"),),
        passage_ids=["p1", "p2"],
        update_id=None,
    )


def age(db: Database, table: str, column: str, days: float) -> None:
    db.run(f"UPDATE {table} SET {column} = ?", (time.time() - days * DAY,))


def test_answers_round_trip_and_follow_the_latest(db: Database) -> None:
    store = StateStore(db)
    big_chat = -1001234567890  # a supergroup's id does not fit 32 bits
    first = answer(store, "Who met in Moscow?", chat=big_chat)
    second = answer(store, "When?", chat=big_chat)
    store.set_message_id(second, 2**40)
    record = store.answer(first)
    assert record is not None
    assert (record.chat_id, record.question, record.query, record.found) == (
        big_chat,
        "Who met in Moscow?",
        "who met in moscow?",
        True,
    )
    assert record.history == (Turn("First?", "first"),) and record.passage_ids == ("p1", "p2")
    assert abs(record.created - time.time()) < 60  # a float with sub-second precision kept
    by_message = store.answer_for_message(big_chat, 2**40)
    assert by_message is not None and by_message.key == second
    latest = store.latest_answer(big_chat, None, since=0)
    assert latest is not None and latest.key == second  # the newest wins, ties by insertion
    assert store.latest_answer(big_chat, None, since=time.time() + 60) is None
    assert store.answer("missing") is None


def test_replies_are_known_once_sent(db: Database) -> None:
    store = StateStore(db)
    key = store.add_answer(
        chat_id=1,
        thread_id=3,
        user_id=None,
        question="q",
        query="q",
        found=False,
        history=(),
        passage_ids=(),
        update_id=42,
    )
    assert not store.answered(42)  # recorded, not sent yet
    store.set_message_id(key, 9)
    assert store.answered(42) and not store.answered(43)


def test_feedback_stats_and_pruning_keep_the_counts(db: Database) -> None:
    store = StateStore(db)
    old = answer(store, "Old question?", found=False)
    store.set_feedback(old, 7, -1)
    age(db, "answers", "created", 40)
    new = answer(store, "New question?")
    store.set_feedback(new, 7, 1)
    store.set_feedback(new, 8, -1)
    store.set_feedback(new, 8, 1)  # pressing again replaces the vote
    assert store.feedback(new) == {7: 1, 8: 1}
    day = time.strftime("%Y-%m-%d", time.gmtime())
    old_day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 40 * DAY))
    db.run("UPDATE feedback SET created = ? WHERE answer_key = ?", (time.time() - 40 * DAY, old))
    assert store.feedback_by_day(0) == [(old_day, 0, 1), (day, 2, 0)]
    assert store.feedback_by_day(time.time() - DAY) == [(day, 2, 0)]
    now = time.time()
    assert store.feedback_between([now - 50 * DAY, now - DAY, now + 1]) == [(0, 1), (2, 0)]
    store.remove_feedback(new, 8)  # a reaction taken back
    assert store.feedback(new) == {7: 1}
    store.set_feedback(new, 8, 1)
    before = store.stats()
    assert before == {"questions": 2, "not_found": 1, "thumbs_up": 2, "thumbs_down": 1}
    assert store.prune(time.time() - 30 * DAY) == 1
    assert store.answer(old) is None and store.feedback(old) == {}
    assert store.stats() == before
    assert store.prune(time.time() - 30 * DAY) == 0
    assert store.stats() == before  # pruning twice counts nothing twice


def test_language_choices_survive_a_restart(opener: Opener) -> None:
    with contextlib.closing(opener()) as first:
        store = StateStore(first)
        store.set_chat_language(5, "fr")
        store.set_chat_language(6, "en")
        store.set_chat_language(6, None)
        store.set_chat_language(7, "en")
        store.set_chat_language(7, "fr")
    with contextlib.closing(opener()) as second:
        store = StateStore(second)
        assert [store.chat_language(c) for c in (5, 6, 7, 8)] == ["fr", None, "fr", None]


def test_the_inbox_attempts_dead_letters_and_pruning(db: Database) -> None:
    inbox = Inbox(db)
    update = {"update_id": 7, "message": {"message_id": 1, "text": "hi", "chat": {"id": 5}}}
    assert inbox.add(7, update) and not inbox.add(7, update)  # a re-delivery is dropped
    assert [(p.update_id, p.attempts, p.data) for p in inbox.pending()] == [(7, 0, update)]
    assert inbox.begin(7) == 1 and inbox.begin(7) == 2
    inbox.failed(7, "RuntimeError: boom")
    assert inbox.pending()[0].error == "RuntimeError: boom"
    dead = inbox.set_aside(7, "RuntimeError: boom")
    assert dead is not None and (dead.kind, dead.attempts) == ("message", 2)
    assert dead.describe() == "message in chat 5"
    assert inbox.pending() == [] and inbox.set_aside(7, "again") is None
    assert not inbox.add(7, update)  # delivered again: still a dead letter, not taken in
    assert inbox.add(8, {"update_id": 8, "callback_query": {"from": {"id": 3}}})
    assert inbox.retry(7) and not inbox.retry(7)
    assert {p.update_id: p.attempts for p in inbox.pending()} == {7: 0, 8: 0}
    inbox.done(7)
    inbox.set_aside(8, "x")
    assert [d.describe() for d in inbox.dead_letters()] == ["callback query from user 3"]
    assert inbox.prune(time.time(), keep_dead_seconds=DAY) == 0  # all too young
    assert inbox.prune(time.time() + 3 * DAY, keep_dead_seconds=DAY) == 2
    assert inbox.dead_letters() == [] and not inbox.drop(8)


def gap(text: str, created: float, user: str | None = "u1") -> GapQuestion:
    return GapQuestion(text, NOT_FOUND, "group", "en", created, 0.2, user, "Title")


def test_gap_questions_one_open_per_asker_vectors_closing_and_pruning(db: Database) -> None:
    store = GapStore(db)
    now = time.time()
    store.add(gap("Who is the new minister?", now - 10))
    store.add(dataclasses.replace(gap("Who is the new minister?", now), reason=THUMBS_DOWN))
    store.add(gap("Who is the new minister?", now, user="u2"))
    store.add(gap("Old question", now - 100 * DAY))
    kept = store.questions(now - DAY)
    assert [(q.question, q.reason, q.user_hash) for q in kept] == [
        ("Who is the new minister?", THUMBS_DOWN, "u1"),
        ("Who is the new minister?", NOT_FOUND, "u2"),
    ]
    assert kept[0].vector is None
    vector = np.arange(4, dtype=np.float32) / 4
    store.set_vectors({kept[0].id: vector}, "model-a")
    (with_vector, _) = store.questions(now - DAY, model="model-a")
    assert with_vector.vector is not None and np.array_equal(with_vector.vector, vector)
    assert store.questions(now - DAY, model="model-b")[0].vector is None  # another model's
    assert store.counts() == {"open": 3, "closed": 0}
    assert store.close_questions({kept[0].id: "A document"}, now) == 1
    assert store.counts() == {"open": 2, "closed": 1}
    assert [q.closed_by for q in store.questions(0, open_only=False)][-2] == "A document"
    assert store.prune(now - 90 * DAY) == 1
    assert store.forget() == {"open": 1, "closed": 1}
    assert store.counts() == {"open": 0, "closed": 0}
    store.close()  # the database is the caller's: still open
    assert db.run("SELECT count(*) FROM gap_questions").scalar() == 0


def message(update_id: int, chat: int) -> dict[str, object]:
    return {"update_id": update_id, "message": {"message_id": update_id, "chat": {"id": chat}}}


def test_claims_take_the_oldest_update_of_each_chat_and_expire(db: Database) -> None:
    inbox = Inbox(db)
    for update_id, chat in ((1, 10), (2, 10), (3, 20)):
        inbox.add(update_id, message(update_id, chat))
    inbox.add(4, {"update_id": 4, "inline_query": {"id": "q", "query": "aes"}})
    now = time.time()
    assert [u.update_id for u in inbox.claim("a", 10, 10, now)] == [1, 3, 4]  # 2 waits for 1
    assert inbox.claim("b", 10, 10, now) == []  # live claims, and chat 10's turn is taken
    inbox.done(1)
    assert [u.update_id for u in inbox.claim("b", 10, 10, now)] == [2]
    assert inbox.renew("a", [3, 4], now + 10) == 2
    assert inbox.renew("b", [2], now + 20) == 1  # "b" lives on
    # "a" died: once its leases run out, "b" takes its updates.
    later = now + 15
    assert [u.update_id for u in inbox.claim("b", 10, 10, later)] == [3, 4]
    assert inbox.renew("a", [3, 4], later + 10) == 0  # no longer its
    assert [u.update_id for u in inbox.claim("c", 10, 1, later + 30)] == [2]  # limit 1


def test_replicas_claiming_at_once_never_take_the_same_update(opener: Opener) -> None:
    with contextlib.closing(opener()) as db:
        inbox = Inbox(db)
        for update_id in range(1, 201):
            inbox.add(update_id, message(update_id, update_id))  # 200 chats, one update each
    start = threading.Barrier(4)
    taken: dict[str, list[int]] = {}

    def replica(name: str) -> None:
        with contextlib.closing(opener()) as db:
            inbox = Inbox(db)
            start.wait()
            mine: list[int] = []
            while batch := inbox.claim(name, 60, 7, time.time()):
                mine += [u.update_id for u in batch]
            taken[name] = mine

    threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    claimed = [u for mine in taken.values() for u in mine]
    assert sorted(claimed) == list(range(1, 201))  # every update once, none twice
    assert len(taken) == 4


def test_a_transaction_that_fails_leaves_nothing(db: Database) -> None:
    def halfway() -> None:
        with db.transaction() as tx:
            tx.run("INSERT INTO totals (name, value) VALUES (?, ?)", ("questions", 3))
            raise RuntimeError("halfway")

    with pytest.raises(RuntimeError):
        halfway()
    assert db.run("SELECT count(*) FROM totals").scalar() == 0


def test_migrating_again_does_nothing(db: Database) -> None:
    latest = max(m.version for m in MIGRATIONS)
    assert schema_version(db) == latest
    assert migrate(db) == []
    assert db.run("SELECT count(*) FROM schema_migrations").scalar() == len(MIGRATIONS)


def test_replicas_starting_together_migrate_once(opener: Opener) -> None:
    """Eight replicas open a fresh database at the same moment: one applies the schema, the
    others wait for its lock and find it current; none fails."""
    start = threading.Barrier(8)
    opened: list[Database] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def replica() -> None:
        start.wait()
        try:
            db = opener()
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            opened.append(db)

    threads = [threading.Thread(target=replica) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == []
        assert len(opened) == 8
        rows = opened[0].run("SELECT version FROM schema_migrations").rows
        assert sorted(v for (v,) in rows) == [m.version for m in MIGRATIONS]
    finally:
        for db in opened:
            db.close()


def test_a_newer_schema_is_refused(db: Database) -> None:
    db.run(
        "INSERT INTO schema_migrations (version, description, applied) VALUES (?,?,?)",
        (999, "from the future", time.time()),
    )
    with pytest.raises(RuntimeError, match="schema version 999"):
        migrate(db)


def test_the_engines_are_the_ones_asked_for(db: Database, opener: Opener) -> None:
    assert isinstance(db, SqliteDatabase | PostgresDatabase)
    assert "pg-test-password" not in db.description  # the URL, shown without its password
