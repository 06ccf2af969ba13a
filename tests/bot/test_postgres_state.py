"""The bot with its state in a real PostgreSQL server (``STORYBOT_STATE_URL``), as a child
process killed mid-answer and restarted: the questions it had taken are answered from the
inbox in PostgreSQL, nothing twice, the context and feedback from before intact, and the
database's password in no log line."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from tests.bot.conftest import TOKEN
from tests.bot.test_reliability import BotProcess
from tests.botapi import BotApiServer, FaultKind
from tests.postgres import PASSWORD

pytestmark = pytest.mark.slow


def unfinished(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT count(*) FROM inbox WHERE done IS NULL").fetchone()
    assert row is not None
    return int(row[0])


async def test_killed_mid_answer_it_answers_from_postgresql_after_restart(
    tmp_path: Path, story_index: Path, corpus_dir: Path, postgres_url: str
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin = server.create_user("Ada")
        alice = server.create_user("Alice")
        group = server.create_group("Readers", [alice, admin])
        bot = BotProcess(tmp_path, server, index_dir, corpus_dir, admin.id)
        bot.env["STORYBOT_STATE_URL"] = postgres_url
        await bot.start()
        try:
            first = server.send_text(group, alice, "/ask What is the AES?")
            (answer,) = await server.wait_for_messages(group, 1, timeout=60)
            vote = server.press_button(
                group,
                alice,
                answer,
                next(
                    b["callback_data"]
                    for row in answer["reply_markup"]["inline_keyboard"]
                    for b in row
                    if b["callback_data"].endswith(":+")
                ),
            )
            await server.wait_for_callback_answer(vote, timeout=30)

            server.inject_fault(FaultKind.TIMEOUT, "sendMessage", times=None, delay=120)
            second = server.send_text(group, alice, "/ask Who will the ministers meet in Moscow?")
            await server.wait_for_calls("sendMessage", 2, timeout=60)
            await server.wait_until_consumed(timeout=30)
            await bot.kill()
            server.clear_faults()
            assert len(server.sent_messages(group)) == 1

            await bot.start()
            replies = await server.wait_for_messages(group, 2, timeout=60)
            quoted = [m["reply_to_message"]["message_id"] for m in replies]
            assert quoted == [first["message_id"], second["message_id"]]
            assert "Lavrov" in replies[1]["text"]
            follow = server.send_text(group, alice, "When was it formed?", reply_to=answer)
            replies = await server.wait_for_messages(group, 3, timeout=60)
            assert replies[2]["reply_to_message"]["message_id"] == follow["message_id"]
            await server.wait_until_consumed(timeout=30)
            await server.wait_for(lambda: unfinished(postgres_url) == 0, 60, "every update done")
            assert len(server.sent_messages(group)) == 3  # nothing answered twice
        finally:
            await bot.stop()
    with psycopg.connect(postgres_url) as db:
        votes = db.execute("SELECT user_id, value FROM feedback").fetchall()
        history = db.execute(
            "SELECT history FROM answers WHERE question = 'When was it formed?'"
        ).fetchone()
    assert votes == [(alice.id, 1)]
    assert history is not None and "What is the AES?" in history[0]
    assert not bot.state_path.exists()  # no SQLite file beside it: the state is in PostgreSQL
    log = bot.log.read_text()
    assert "State in PostgreSQL at postgresql://storybot:***@127.0.0.1" in log
    assert PASSWORD not in log and TOKEN not in log
