"""Faults injected for real: a flaky Bot API, crashes, damaged indexes, hostile input, secrets.

The fault soak here asks 500 questions; ``benchmarks/bot_load.py --faults 0.1`` runs the
5,000-question version and reports the figures in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import Config, load_config
from bot.serving import serve
from index.build import build_index
from index.embedder import Embedder
from index.engine import Engine
from index.settings import BuildSettings
from index.store import IndexStore
from tests.bot.conftest import TOKEN, start_bot, stop_bot, wait_until_handled
from tests.botapi import BotApiServer, FaultKind
from tests.botapi.load import (
    STORY_QUESTIONS,
    ask_many,
    free_port,
    inject_random_faults,
    make_groups,
)
from tests.conftest import EMBEDDING, EMBEDDING_TOML, ROOT

pytestmark = pytest.mark.slow


def soak_config(tmp: Path, server: BotApiServer, index_dir: Path, corpus: Path) -> Config:
    """The bot as deployed, but with Telegram's send limits off (the test server has none)
    and short timeouts, so that injected timeouts cost seconds rather than minutes."""
    return load_config(
        {
            "corpus": {"path": str(corpus)},
            "index": {"path": str(index_dir), **EMBEDDING},
            "chat": {"state_path": str(tmp / "state.sqlite3"), "flood_questions": 0},
            "telegram": {
                "base_url": server.root_url,
                "admins": [1],
                "timeout_seconds": 1.0,
                "messages_per_second": 0,
                "group_messages_per_minute": 0,
            },
        },
        environ={"TELEGRAM_BOT_TOKEN": TOKEN},
    )


@contextlib.asynccontextmanager
async def soak_bot(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus: Path
) -> AsyncIterator[tuple[BotApiServer, object]]:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        config = soak_config(tmp_path, server, index_dir, corpus)
        engine = Engine(
            IndexStore.load(index_dir, embedder.name), embedder, config.ranking_settings()
        )
        application, state = await start_bot(config, engine, embedder)
        try:
            yield server, application
        finally:
            server.clear_faults()
            await stop_bot(application, state)


async def test_fault_soak_loses_nothing_and_keeps_order(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> None:
    """100 users in 20 groups ask 500 questions while 10% of all Bot API calls fail."""
    async with soak_bot(tmp_path, story_index, embedder, corpus_dir) as (server, application):
        groups = make_groups(server, users=100, per_group=5)
        inject_random_faults(server, 0.10)
        report = await ask_many(server, groups, STORY_QUESTIONS, 500, rate=40, timeout=300)
        server.clear_faults()
        summary = "\n".join(report.lines())
        assert report.questions == 500
        assert sum(report.faults.values()) > 50, summary  # the faults really happened
        assert report.lost == 0, summary
        assert report.errors == 0, summary
        assert report.out_of_order == 0, summary
        # The one unavoidable duplicate: Telegram carried out a sendMessage whose answer was lost.
        assert report.duplicated <= report.accepted_then_lost, summary
        assert application.updater.running  # polling never stopped
        chat, members = groups[0]
        late = server.send_text(chat, members[0], "/ask What is the AES?")
        await server.wait_for(
            lambda: any(
                m.get("reply_to_message", {}).get("message_id") == late["message_id"]
                for m in server.sent_messages(chat)
            ),
            timeout=30,
        )


# -- the real process, killed -------------------------------------------------------------


class BotProcess:
    """``storybot serve`` in a child process, polling the test server."""

    serve_args: tuple[str, ...] = ()  # after ``serve``: a subclass's mode ("--webhook")

    def __init__(self, tmp: Path, server: BotApiServer, index_dir: Path, corpus: Path, admin: int):
        self.port = free_port()
        self.config = tmp / "config.toml"
        self.config.write_text(
            f'[corpus]\npath = "{corpus}"\n[index]\npath = "{index_dir}"\n{EMBEDDING_TOML}'
            f'[chat]\nstate_path = "{tmp / "state.sqlite3"}"\nflood_questions = 0\n'
            f"[telegram]\nadmins = [{admin}]\ntimeout_seconds = 2\n"
            f"[web]\nport = {self.port}\n"
        )
        self.state_path = tmp / "state.sqlite3"
        self.log = tmp / "bot.log"
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "STORYBOT_TELEGRAM_BASE_URL": server.root_url,
            "STORYBOT_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> None:
        """``storybot [ARGS] serve [serve_args]``, waited for until it is healthy."""
        with self.log.open("a") as handle:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "--config",
                str(self.config),
                *args,
                "serve",
                *self.serve_args,
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=handle,
            )
        deadline = time.monotonic() + 90
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc.returncode is None, self.log.read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"the bot did not become healthy:\n{self.log.read_text()}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


ADMIN_TOKEN = "admin-token-that-must-never-be-logged"


async def test_killed_mid_answer_answers_the_questions_it_had_taken_after_restart(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin = server.create_user("Ada")
        alice = server.create_user("Alice")
        group = server.create_group("Readers", [alice, admin])
        bot = BotProcess(tmp_path, server, index_dir, corpus_dir, admin.id)
        await bot.start()
        try:
            first = server.send_text(group, alice, "/ask What is the AES?")
            (answer,) = await server.wait_for_messages(group, 1, timeout=60)
            assert answer["reply_to_message"]["message_id"] == first["message_id"]
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

            # Replies now hang; the next two questions are taken (and confirmed to Telegram by
            # the following getUpdates) while the bot is stuck answering the first of them.
            server.inject_fault(FaultKind.TIMEOUT, "sendMessage", times=None, delay=120)
            second = server.send_text(group, alice, "/ask Who will the ministers meet in Moscow?")
            third = server.send_text(group, admin, "/ask How big is the joint force?")
            await server.wait_for_calls("sendMessage", 2, timeout=60)
            await server.wait_until_consumed(timeout=30)
            await bot.kill()
            server.clear_faults()
            assert len(server.sent_messages(group)) == 1  # nothing of the two was delivered

            await bot.start()
            replies = await server.wait_for_messages(group, 3, timeout=60)
            quoted = [m["reply_to_message"]["message_id"] for m in replies]
            assert quoted == [first["message_id"], second["message_id"], third["message_id"]]
            assert "Lavrov" in replies[1]["text"]
            # The conversation goes on where it was: a reply to the first answer is a follow-up.
            follow = server.send_text(group, alice, "When was it formed?", reply_to=answer)
            replies = await server.wait_for_messages(group, 4, timeout=60)
            assert replies[3]["reply_to_message"]["message_id"] == follow["message_id"]
            await wait_until_handled(server, bot.state_path)
            assert len(server.sent_messages(group)) == 4  # nothing answered twice
        finally:
            await bot.stop()
    with sqlite3.connect(bot.state_path) as db:
        votes = db.execute("SELECT user_id, value FROM feedback").fetchall()
        history = db.execute(
            "SELECT history FROM answers WHERE question = 'When was it formed?'"
        ).fetchone()
    assert votes == [(alice.id, 1)]  # feedback given before the kill is intact
    assert "What is the AES?" in history[0]  # context given before the kill is intact
    assert TOKEN not in bot.log.read_text()


# -- reindexing gone wrong -------------------------------------------------------------------


def first_text(server: BotApiServer, chat: object) -> str:
    """The bot's first message in a chat as it reads now (after edits), or ""."""
    messages = server.sent_messages(chat)  # type: ignore[arg-type]
    return str(messages[0].get("text", "")) if messages else ""


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, story_index: Path, corpus: Path, admins: int = 1
) -> AsyncIterator[tuple[BotApiServer, Config, list, asyncio.Event]]:  # type: ignore[type-arg]
    """``serve`` in this process (model and index loaded as in production), with admins."""
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        people = [server.create_user(f"Admin{i}") for i in range(admins)]
        for person in people:
            server.create_private_chat(person)
        config = load_config(
            {
                "corpus": {"path": str(corpus)},
                "index": {"path": str(index_dir), **EMBEDDING},
                "chat": {"state_path": str(tmp_path / "state.sqlite3")},
                "telegram": {"base_url": server.root_url, "admins": [p.id for p in people]},
                "web": {"enabled": False},
            },
            environ={"TELEGRAM_BOT_TOKEN": TOKEN},
        )
        stop = asyncio.Event()
        task = asyncio.create_task(serve(config, stop=stop))
        await server.wait_for_calls("getUpdates", 1, timeout=90)
        try:
            yield server, config, people, stop
        finally:
            stop.set()
            await asyncio.wait_for(task, 120)


async def test_two_admins_reindex_at_once_one_job_runs(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    async with serving(tmp_path, story_index, corpus_dir, admins=2) as (server, _, admins, _):
        chats = [server.chat(a.id) for a in admins]
        for chat, admin in zip(chats, admins, strict=True):
            server.send_text(chat, admin, "/reindex")
        first = await server.wait_for_messages(chats[0], 1, timeout=60)
        second = await server.wait_for_messages(chats[1], 1, timeout=60)
        texts = [first[0]["text"], second[0]["text"]]
        assert sum("already running" in t for t in texts) == 1, texts
        assert sum(t.startswith("Reindexing") for t in texts) == 1, texts
        winner = chats[0] if texts[0].startswith("Reindexing") else chats[1]
        await server.wait_for(
            lambda: "Reindex finished" in first_text(server, winner), timeout=120
        )


async def test_a_document_that_crashes_the_reader_is_named_to_the_admin(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    # YAML reads 2024-13-45 as a date and raises ValueError: not a DocumentError, a crash.
    (corpus_dir / "bad date.md").write_text(
        "---\ntitle: Bad\ndate: 2024-13-45\n---\nThe summit was held in Bamako.\n"
    )
    async with serving(tmp_path, story_index, corpus_dir) as (server, _, (admin,), _):
        chat = server.chat(admin.id)
        server.send_text(chat, admin, "/reindex")
        await server.wait_for(lambda: "Reindex finished" in first_text(server, chat), timeout=120)
        text = server.sent_messages(chat)[0]["text"]
        assert "Skipped bad date.md" in text and "ValueError" in text, text
        server.send_text(chat, admin, "Who will the ministers meet in Moscow?")
        replies = await server.wait_for_messages(chat, 2, timeout=60)
        assert "Lavrov" in replies[1]["text"]


async def test_a_damaged_new_index_is_refused_the_old_one_serves_and_admins_are_told(
    tmp_path: Path,
    story_index: Path,
    corpus_dir: Path,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.index_watch")
    async with serving(tmp_path, story_index, corpus_dir) as (server, config, (admin,), _):
        chat = server.chat(admin.id)
        index_dir = config.index.path
        serving_gen = (index_dir / "CURRENT").read_text().strip()
        # Another process "writes" a generation and its files get damaged (truncated).
        damaged = index_dir / "gen-99990101T000000-bad"
        shutil.copytree(index_dir / serving_gen, damaged)
        with (damaged / "dense.faiss").open("r+b") as handle:
            handle.truncate(100)
        (index_dir / "CURRENT").write_text(damaged.name + "\n")
        notice = await server.wait_for_messages(chat, 1, timeout=30)
        assert "cannot be used" in notice[0]["text"], notice
        assert "dense.faiss" in notice[0]["text"], notice
        assert serving_gen in notice[0]["text"]
        server.send_text(chat, admin, "Who will the ministers meet in Moscow?")
        replies = await server.wait_for_messages(chat, 2, timeout=60)
        assert "Lavrov" in replies[1]["text"]  # the index it had still answers

        # `storybot reindex` run by hand builds a good one: the bot starts serving it.
        (corpus_dir / "summit.md").write_text(
            "---\ntitle: Bamako summit\n---\nThe Bamako summit of the Sahel states took place "
            "in the old city hall, where the delegates signed the Niamey water charter.\n"
        )
        shutil.rmtree(damaged)
        (index_dir / "CURRENT").write_text(serving_gen + "\n")
        await asyncio.to_thread(
            build_index, corpus_dir, index_dir, embedder.name, lambda: embedder, BuildSettings()
        )
        fresh = (index_dir / "CURRENT").read_text().strip()
        await server.wait_for(  # the bot looks at the index folder every 5 s
            lambda: f"Serving the index {fresh}" in caplog.text,
            timeout=30,
            what=f"the bot to serve {fresh}",
        )
        server.send_text(chat, admin, "Which charter did the delegates sign?")
        replies = await server.wait_for_messages(chat, 3, timeout=60)
        assert "Niamey water charter" in replies[2]["text"]


# -- hostile and odd input -------------------------------------------------------------------

# (what, chat kind, text, what the reply must contain; None: the bot must stay silent)
HOSTILE = [
    ("empty /ask", "private", "/ask", "Ask me like this"),
    ("/ask with only spaces", "private", "/ask      ", "Ask me like this"),
    ("whitespace", "private", " \t  \u3000 ", "in words"),
    ("4,096 characters", "private", ("Why " * 1024)[:4096], "too long"),
    ("only emoji", "private", "🔥🇲🇱👍🏽", "in words"),
    ("zero-width characters", "private", "\u200b\u200c\u200d\u2060\ufeff", "in words"),
    ("zero-width inside words", "private", "What\u200b is the A\u200dES?", "Confederation"),
    ("right-to-left text", "private", "ما هو تحالف دول الساحل؟ \u202eAES", "not sure|find|AES"),
    ("HTML syntax", "private", "<b>Who</b> will the <i>ministers</i> meet?", "Lavrov"),
    ("Markdown syntax", "private", "**Who** will the _ministers_ meet? `x` [a](b)", "Lavrov"),
    ("echoes <script>", "private", "<script>alert('x')</script>", "find|not sure"),
    ("unknown command", "private", "/deleteeverything now", "don't know the command"),
    ("command for our bot", "group", "/deleteeverything@storybot", "don't know the command"),
    ("/ask for another bot", "group", "/ask@otherbot What is the AES?", None),
    ("unknown command for another bot", "group", "/stats@otherbot", None),
    ("bare unknown command in a group", "group", "/weather", None),
    ("a path", "private", "../../../../etc/passwd", "find|not sure"),
    ("a file URL", "private", "file:///etc/shadow what is in it", "find|not sure"),
]


async def test_hostile_messages_each_get_a_clear_answer_or_silence(bot_env) -> None:  # type: ignore[no-untyped-def]
    server = bot_env.server
    outcome: list[tuple[str, str]] = []
    for n, (what, kind, text, expected) in enumerate(HOSTILE):
        alice = server.create_user(f"Poker{n}")  # one each: flood control stays out of it
        if kind == "private":
            chat = server.create_private_chat(alice)
        else:
            chat = server.create_group(f"Group {n}", [alice])
        before = len(server.sent_messages(chat))
        server.send_text(chat, alice, text)
        if expected is None:
            # Follow with a question the bot does answer: its reply must be the only one.
            server.send_text(chat, alice, "/ask What is the AES?")
        await server.wait_for_messages(chat, before + 1, timeout=60)
        await wait_until_handled(server, bot_env.config.chat.state_path)
        replies = server.sent_messages(chat)
        assert len(replies) == before + 1, (what, [r.get("text") for r in replies[before:]])
        reply = replies[before].get("text", "")
        if expected is None:
            assert "Confederation" in reply, (what, reply)
        else:
            assert re.search(expected, reply), (what, reply)
        outcome.append((what, reply.split("\n")[0][:80]))
    errors = [c.error for c in server.calls() if c.error and "initiate" not in c.error]
    assert not errors  # no message was refused by the Bot API (HTML, length)


async def test_nothing_a_user_sends_makes_the_bot_open_a_file(bot_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Paths in questions, in button data and in a document's name: an audit hook sees every
    file the process opens while the bot handles them."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the launch codes")
    opened: list[str] = []
    recording = [True]

    def hook(event: str, args: tuple) -> None:  # type: ignore[type-arg]
        if recording[0] and event in ("open", "os.listdir", "os.scandir", "sqlite3.connect"):
            opened.append(str(args[0]) if args else "")

    sys.addaudithook(hook)  # hooks cannot be removed; this one stops recording at the end
    try:
        server, alice = bot_env.server, bot_env.alice
        chat = server.create_private_chat(alice)
        for text in (str(secret), f"What does {secret} say?", "../outside/secret.txt"):
            server.send_text(chat, alice, text)
        server.send_text(chat, alice, "What is the AES?")
        replies = await server.wait_for_messages(chat, 4, timeout=60)
        for data in (f"p:{secret}:1", "p:../../outside/secret.txt:1", f"m:{secret}"):
            query = server.press_button(chat, alice, replies[3], data, forged=True)
            await server.wait_for_callback_answer(query, timeout=30)
        # From another user: Alice's seven messages and presses used up her flood limit.
        bob = bot_env.bob
        bobs = server.create_private_chat(bob)
        server.send_document(bobs, bob, file_name="../../secret.txt", content=b"launch codes")
        await server.wait_for_messages(bobs, 1, timeout=60)
        (tmp_path / "probe.txt").write_text("the hook sees opens")
    finally:
        recording[0] = False
    assert any(p.endswith("probe.txt") for p in opened)  # the hook does see files opened
    assert not [p for p in opened if "secret" in p or "outside" in p], opened
    sent = server.sent_messages(chat) + server.sent_messages(bobs)
    assert all("launch codes" not in m.get("text", "") for m in sent)


# -- secrets ---------------------------------------------------------------------------------

WEBHOOK_SECRET = "webhook-secret-that-must-never-be-logged"


async def test_secrets_never_appear_in_logs_metrics_health_or_replies(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    """Debug logging on, faults and refusals on the way: then grep everything the bot wrote."""
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    seen: list[str] = []
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        admin, alice = server.create_user("Ada"), server.create_user("Alice")
        chat = server.create_private_chat(alice)
        bot = BotProcess(tmp_path, server, index_dir, corpus_dir, admin.id)
        bot.env["STORYBOT_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        await bot.start("-v", "-v")
        base = f"http://127.0.0.1:{bot.port}"
        try:
            for kind in (FaultKind.SERVER_ERROR, FaultKind.DROP, FaultKind.BAD_GATEWAY):
                server.inject_fault(kind, "sendMessage")
            server.inject_fault(FaultKind.DROP, "getUpdates")
            server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
            server.send_text(chat, alice, "/reindex")
            server.send_text(chat, alice, "/stats")
            replies = await server.wait_for_messages(chat, 3, timeout=60)
            seen += [m.get("text", "") for m in replies]
            async with aiohttp.ClientSession() as http:
                for url in ("/healthz", "/metrics", "/admin/reindex/nope"):
                    async with http.get(base + url) as response:
                        seen.append(await response.text())
                wrong = {"Authorization": "Bearer not-the-token"}
                async with http.post(f"{base}/admin/reindex", headers=wrong) as response:
                    assert response.status == 401
                    seen.append(await response.text())
                right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                async with http.post(f"{base}/admin/reindex", headers=right) as response:
                    assert response.status == 202
                    seen.append(await response.text())
                async with http.post(f"{base}/telegram/webhook", json={"update_id": 1}) as resp:
                    seen.append(await resp.text())  # not in webhook mode: no such route
        finally:
            await bot.stop()
    log = bot.log.read_text()
    assert "Refused /reindex from non-admin" in log
    assert "Refused POST /admin/reindex" in log
    assert "sendMessage failed" in log  # the faults were met and logged
    everything = "\n".join([log, *seen])
    for secret in (TOKEN, TOKEN.split(":")[1], ADMIN_TOKEN, WEBHOOK_SECRET):
        assert secret not in everything


async def test_reindex_killed_midway_leaves_the_last_good_index_serving(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    before = (index_dir / "CURRENT").read_text()
    story = (corpus_dir / "000_1517f336e036ffe5.md").read_text()
    for n in range(40):  # enough new text that the kill lands while it is being embedded
        (corpus_dir / f"copy-{n}.md").write_text(story.replace("Moscow", f"Moscow ({n})"))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[corpus]\npath = "{corpus_dir}"\n[index]\npath = "{index_dir}"\n{EMBEDDING_TOML}'
    )
    err = tmp_path / "reindex.err"

    async def cli(*args: str, stderr: object = asyncio.subprocess.PIPE) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--config", str(config), *args,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
        return proc.returncode or 0, out.decode()

    with err.open("w") as handle:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "-v", "--config", str(config), "reindex",
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=handle,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while "embedding:" not in err.read_text():  # the model is loaded; embedding begins
            assert proc.returncode is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (index_dir / "CURRENT").read_text() == before  # the old index is still the index
    code, out = await cli("ask", "Who will the ministers meet in Moscow?")
    assert code == 0 and "Lavrov" in out
    code, _ = await cli("reindex", stderr=asyncio.subprocess.DEVNULL)  # the lock died with it
    assert code == 0
    assert (index_dir / "CURRENT").read_text() != before
    assert not list(index_dir.glob(".gen-*"))  # no half-written generation left behind


async def test_admin_commands_are_refused_to_non_admins_in_groups_too(bot_env, caplog) -> None:  # type: ignore[no-untyped-def]
    server, alice, admin = bot_env.server, bot_env.alice, bot_env.admin
    group = server.create_group("Newsroom", [alice, admin])
    with caplog.at_level(logging.WARNING):
        server.send_text(group, alice, "/reindex@storybot")
        server.send_text(group, alice, "/stats")
        refusals = await server.wait_for_messages(group, 2, timeout=60)
    assert all("only the bot's admins" in m["text"] for m in refusals)
    assert f"Refused /stats from non-admin user {alice.id} in chat {group.id}" in caplog.text
    server.send_text(group, admin, "/stats")  # the admin may, in a group as well
    replies = await server.wait_for_messages(group, 3, timeout=60)
    assert "Documents:" in replies[2]["text"]
    assert bot_env.application.bot_data.services.reindexer.running is None
