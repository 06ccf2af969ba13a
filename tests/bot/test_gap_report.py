"""The gap report end to end, through the Bot API test server: questions the bot could not
answer reach /gaps (admins only), a new document closes them and the admins are told, the 👎
button feeds it, /gaps forget, the digest, `storybot gaps --json`, retention, and no raw user
id in the gap file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.gap_commands import send_digest
from bot.gap_recorder import GapRecorder, gap_paths
from bot.gaps import NOT_FOUND, THUMBS_DOWN, GapQuestion
from bot.inbox import Inbox
from bot.services import Services
from bot.serving import prune_regularly
from tests.bot.conftest import BotEnv, wait_until_handled
from tests.conftest import EMBEDDING_TOML

pytestmark = pytest.mark.slow

HARBOUR = (
    "---\ntitle: Harbour reopens\nsource: Port Gazette\ndate: 2025-05-02\n---\n\n"
    "The old harbour of Saint-Louis reopened on Friday after three years of repairs, and the "
    "first ship to dock was a grain carrier from Dakar carrying twelve thousand tonnes.\n"
)
ASKED = "Which ship docked first at the reopened harbour of Saint-Louis?"
PARAPHRASE = "What was the first vessel to dock in Saint-Louis harbour after it reopened?"
OTHER = "What is the price of bread in Tokyo this winter?"


def _text(message: dict) -> str:  # type: ignore[type-arg]
    return str(message.get("text", ""))


def _services(env: BotEnv) -> Services:
    services = env.application.bot_data.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


async def test_gaps_are_reported_then_closed_by_a_new_document(bot_env: BotEnv) -> None:
    server, admin, alice, bob = bot_env.server, bot_env.admin, bot_env.alice, bot_env.bob
    alice_chat = server.create_private_chat(alice)
    group = server.create_group(members=[alice, bob])
    server.send_text(alice_chat, alice, ASKED)
    server.send_text(group, bob, f"/ask {PARAPHRASE}")
    server.send_text(alice_chat, alice, OTHER)
    replies = await server.wait_for_messages(alice_chat, 2)
    assert all("could not find" in _text(r) for r in replies)
    assert "could not find" in _text((await server.wait_for_messages(group, 1))[0])

    # A reader may not see the report.
    server.send_text(alice_chat, alice, "/gaps")
    refused = (await server.wait_for_messages(alice_chat, 3))[2]
    assert "only the bot's admins can use /gaps" in _text(refused)

    admin_chat = server.create_private_chat(admin)
    server.send_text(admin_chat, admin, "/gaps")
    (report,) = await server.wait_for_messages(admin_chat, 1)
    text = _text(report)
    assert "3 question(s) in 2 gap(s)" in text, text
    first = text.split("\n\n")[1]  # the biggest gap: the harbour, asked twice
    assert first.startswith("1. 2 questions") and ASKED in first and PARAPHRASE in first
    assert "nearest: ‹" in first
    assert OTHER in text.split("\n\n")[2]

    # A document that answers the harbour questions arrives; after the reindex they are closed.
    (bot_env.corpus / "harbour.md").write_text(HARBOUR)
    server.send_text(admin_chat, admin, "/reindex")
    await server.wait_for(
        lambda: any("now answered" in _text(m) for m in server.sent_messages(admin_chat)),
        timeout=60,
        what="the notice of closed gaps",
    )
    notices = [_text(m) for m in server.sent_messages(admin_chat) if "now answered" in _text(m)]
    assert notices == ["2 open questions are now answered by ‹Harbour reopens›."]
    recorder = _services(bot_env).gaps
    assert recorder is not None
    assert recorder.counts() == {"open": 1, "closed": 2}

    server.send_text(admin_chat, admin, "/gaps")
    await server.wait_for(
        lambda: "1 question(s) in 1 gap(s)" in _text(server.sent_messages(admin_chat)[-1]),
        timeout=30,
        what="the report without the closed gap",
    )
    assert ASKED not in _text(server.sent_messages(admin_chat)[-1])

    # Only keyed hashes: no asker's raw id anywhere in the gap file.
    path, _key = gap_paths(bot_env.config)
    raw = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
    assert ASKED.encode() in raw
    for user in (alice, bob):
        assert str(user.id).encode() not in raw


async def test_a_thumbs_down_records_the_question(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    server.send_text(chat, alice, "What is the Wagner Group doing for the AES?")
    (answer,) = await server.wait_for_messages(chat, 1)
    markup = answer["reply_markup"]["inline_keyboard"]
    down = next(b["callback_data"] for row in markup for b in row if b["text"] == "👎")
    await server.wait_for_callback_answer(server.press_button(chat, alice, answer, down))
    recorder = _services(bot_env).gaps
    assert recorder is not None
    asked = recorder.questions(1)
    assert [(q.question, q.reason, q.chat_kind) for q in asked] == [
        ("What is the Wagner Group doing for the AES?", THUMBS_DOWN, "private")
    ]


async def test_gaps_forget_and_the_digest(bot_env: BotEnv) -> None:
    server, admin, alice = bot_env.server, bot_env.admin, bot_env.alice
    alice_chat = server.create_private_chat(alice)
    server.send_text(alice_chat, alice, OTHER)
    await server.wait_for_messages(alice_chat, 1)
    await wait_until_handled(server, bot_env.config.chat.state_path)

    admin_chat = server.create_private_chat(admin)
    assert await send_digest(bot_env.application, _services(bot_env)) == 1  # type: ignore[arg-type]
    (digest,) = await server.wait_for_messages(admin_chat, 1)
    assert "1 question(s) in 1 gap(s)" in _text(digest) and OTHER in _text(digest)

    server.send_text(admin_chat, admin, "/gaps forget")
    forgot = (await server.wait_for_messages(admin_chat, 2))[1]
    assert "1 open and 0 closed question(s) dropped" in _text(forgot)
    server.send_text(admin_chat, admin, "/gaps")
    empty = (await server.wait_for_messages(admin_chat, 3))[2]
    assert "No open gaps in the last 7 days" in _text(empty)
    # No gaps: no digest.
    assert await send_digest(bot_env.application, _services(bot_env)) == 0  # type: ignore[arg-type]
    server.send_text(admin_chat, admin, "/gaps sideways")
    usage = (await server.wait_for_messages(admin_chat, 4))[3]
    assert "Usage: /gaps" in _text(usage)


async def test_old_gap_questions_are_pruned_on_the_schedule(bot_env: BotEnv) -> None:
    services = _services(bot_env)
    recorder = services.gaps
    assert recorder is not None
    now = time.time()
    for age_days, text in ((100, "An old question about harbours?"), (1, "A recent one?")):
        recorder.store.add(
            GapQuestion(text, NOT_FOUND, "private", "en", now - age_days * 86400, 0.1)
        )
    inbox = Inbox(":memory:")
    pruner = asyncio.create_task(prune_regularly(bot_env.config, bot_env.state, inbox, recorder))
    try:
        await bot_env.server.wait_for(
            lambda: recorder.counts()["open"] == 1, timeout=10, what="the old question pruned"
        )
    finally:
        pruner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pruner
        inbox.close()
    assert [q.question for q in recorder.store.questions(0)] == ["A recent one?"]


def test_storybot_gaps_json(
    tmp_path: Path,
    corpus_dir: Path,
    story_index: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(story_index, tmp_path / "index")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[corpus]\npath = "{corpus_dir}"\n[index]\npath = "{tmp_path / "index"}"\n'
        f'{EMBEDDING_TOML}[chat]\nstate_path = "{tmp_path / "state.sqlite3"}"\n'
    )
    for question in (OTHER, ASKED, PARAPHRASE):
        assert main(["--config", str(config), "ask", question]) == 0
    capsys.readouterr()
    # `storybot ask` records nothing: only the bot's readers feed the report.
    assert main(["--config", str(config), "gaps", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gaps"] == []
    recorder = GapRecorder.open(load_config(config), lambda: None)
    for user, question in enumerate((OTHER, ASKED, PARAPHRASE)):
        recorder.record(question, reason=NOT_FOUND, chat_kind="group", user_id=user)
    recorder.close()
    assert main(["--config", str(config), "gaps", "--json", "--since", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["open_questions"] == 3 and report["days"] == 2
    counts = [g["count"] for g in report["gaps"]]
    assert counts == [2, 1]
    assert set(report["gaps"][0]["questions"]) == {ASKED, PARAPHRASE}
    assert main(["--config", str(config), "gaps"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 open question(s) in 2 gap(s) over the last 7 days")
    assert main(["--config", str(config), "gaps", "--since", "-1"]) == 2
    assert "--since" in capsys.readouterr().err
