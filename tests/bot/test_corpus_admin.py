"""Corpus management from Telegram, end to end: /add from a local site, uploads through the Bot
API test server, /docs, /latest, /remove; the real model, index and HTTP throughout."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from bot.config_schema import FetchSection
from bot.services import Services
from tests.bot.conftest import BotEnv
from tests.botapi import BotApiServer, SimChat
from tests.corpus_site import FLOOD, make_pdf, news_site, wrap

pytestmark = pytest.mark.slow


def _text(message: dict | None) -> str:  # type: ignore[type-arg]
    return str((message or {}).get("text", ""))


def _services(env: BotEnv) -> Services:
    return env.application.bot_data.services  # type: ignore[attr-defined, no-any-return]


async def _final(server: BotApiServer, chat: SimChat, index: int, *words: str) -> str:
    """The text of the bot's ``index``-th message in the chat once it holds all ``words``."""
    await server.wait_for_messages(chat, index + 1, timeout=20)

    def check() -> str | None:
        text = _text(server.sent_messages(chat)[index])
        return text if all(w in text for w in words) else None

    try:
        return str(await server.wait_for(check, timeout=30, what=f"a message with {words}"))
    except TimeoutError:
        raise AssertionError(_text(server.sent_messages(chat)[index])) from None


async def test_admin_adds_a_story_by_link_and_it_is_cited_with_its_date(
    bot_env: BotEnv,
) -> None:
    server, admin, alice = bot_env.server, bot_env.admin, bot_env.alice
    admin_chat = server.create_private_chat(admin)
    svc = _services(bot_env)
    async with news_site() as root:
        server.send_text(admin_chat, admin, f"/add {root}/lavrov.html")  # a local address
        refused = await _final(server, admin_chat, 0, "Nothing was added")
        assert "Refused: address not allowed" in refused
        svc.config = dataclasses.replace(svc.config, fetch=FetchSection(True))  # an intranet
        server.send_text(admin_chat, admin, f"/add {root}/lavrov.html")
        added = await _final(server, admin_chat, 1, "Added", "passage")
    assert "Sahel ministers meet Lavrov in Moscow" in added
    assert "2025-04-04" in added and "Jane Doe" in added
    assert "sahel-ministers-meet-lavrov-in-moscow.md" in added and "1 added" in added
    assert (bot_env.corpus / "sahel-ministers-meet-lavrov-in-moscow.md").is_file()

    chat = server.create_private_chat(alice)
    server.send_text(chat, alice, "When is the joint statement of the confederation expected?")
    (answer,) = await server.wait_for_messages(chat, 1)
    assert "joint statement" in _text(answer).split("\n")[0]
    assert "Sahel ministers meet Lavrov in Moscow" in _text(answer)
    assert "2025-04-04" in _text(answer)  # each citation shows its story's date

    server.send_text(chat, alice, "/latest")
    latest = (await server.wait_for_messages(chat, 2))[1]
    lines = _text(latest).split("\n")
    assert lines[1].startswith("• 2025-04-04 — Sahel ministers meet Lavrov in Moscow")

    server.send_text(admin_chat, admin, "/docs")
    docs = _text((await server.wait_for_messages(admin_chat, 3))[2])
    assert "2 documents" in docs and "000_1517f336e036ffe5.md" in docs
    assert "id sahel-ministers-meet-lavrov-in-moscow.md" in docs and "2025-04-04" in docs


async def test_bad_links_get_clear_messages_and_add_nothing(bot_env: BotEnv) -> None:
    server, admin = bot_env.server, bot_env.admin
    svc = _services(bot_env)
    svc.config = dataclasses.replace(
        svc.config,
        corpus=dataclasses.replace(svc.config.corpus, fetch_timeout_seconds=1.0, fetch_max_mb=1.0),
        fetch=FetchSection(allow_private_networks=True),  # the site is on 127.0.0.1
    )
    chat = server.create_private_chat(admin)
    before = sorted(p.name for p in bot_env.corpus.iterdir())
    async with news_site(slow_seconds=3) as root:
        cases = [
            ("/add", "Send one link"),
            ("/add ftp://example.org/a", "Only http:// and https://"),
            ("/add example.org/story", "should start with https://"),
            (f"/add {root}/slow.html", "did not arrive within 1 seconds"),
            (f"/add {root}/huge.html", "too big"),
            (f"/add {root}/loop", "redirects too many times"),
            (f"/add {root}/data.json", "Could not fetch that link"),
            (f"/add {root}/menu.html", "does not look like a news story"),
        ]
        for i, (command, message) in enumerate(cases):
            server.send_text(chat, admin, command)
            text = await _final(server, chat, i, message)
            assert "Send one link" in text or text.startswith("Nothing was added")
    assert sorted(p.name for p in bot_env.corpus.iterdir()) == before
    assert not svc.reindexer.jobs


async def test_uploads_admin_files_are_added_others_refused(
    bot_env: BotEnv, caplog: pytest.LogCaptureFixture
) -> None:
    server, admin, alice = bot_env.server, bot_env.admin, bot_env.alice
    chat = server.create_private_chat(admin)
    alice_chat = server.create_private_chat(alice)
    with caplog.at_level(logging.WARNING):
        server.send_document(alice_chat, alice, "flood.txt", FLOOD.encode())
        (refusal,) = await server.wait_for_messages(alice_chat, 1)
    assert "only the bot's admins can add documents" in _text(refusal)
    assert f"Refused a file from non-admin user {alice.id}" in caplog.text
    assert not server.calls("getFile")

    server.send_document(chat, admin, "fake.pdf", b"<html>not a pdf</html>", "application/pdf")
    assert "not a PDF" in await _final(server, chat, 0, "Nothing was added")
    server.send_document(chat, admin, "report.docx", b"PK\x03\x04...", None)
    assert "cannot add .docx" in await _final(server, chat, 1, "Nothing was added")
    server.send_document(chat, admin, "scan.pdf", make_pdf([]), "application/pdf")
    assert "no text that can be read" in await _final(server, chat, 2, "Nothing was added")
    server.send_document(chat, admin, "big.txt", b"a " * (11 * 1024 * 1024))
    assert "over the 20 MB limit" in await _final(server, chat, 3, "Nothing was added")
    assert not _services(bot_env).reindexer.jobs

    pdf = make_pdf(wrap(FLOOD), "Floods in Porto Nuevo")
    server.send_document(chat, admin, "../../Flood Report.pdf", pdf, "application/pdf")
    added = await _final(server, chat, 4, "Added", "passage")
    assert "Floods in Porto Nuevo" in added and "id floods-in-porto-nuevo.md" in added
    assert (bot_env.corpus / "floods-in-porto-nuevo.md").is_file()
    server.send_document(chat, admin, "again.pdf", pdf, "application/pdf")
    assert "already in the corpus" in await _final(server, chat, 5, "Nothing was added")

    server.send_text(alice_chat, alice, "How many families had to leave their homes?")
    answer = (await server.wait_for_messages(alice_chat, 2))[1]
    assert "three hundred families" in _text(answer)


async def test_removed_document_is_never_cited_again(bot_env: BotEnv) -> None:
    server, admin, alice = bot_env.server, bot_env.admin, bot_env.alice
    chat = server.create_private_chat(admin)
    server.send_document(chat, admin, "flood.txt", FLOOD.encode())
    await _final(server, chat, 0, "Added", "passage")

    alice_chat = server.create_private_chat(alice)
    question = "How many families had to leave their homes in Porto Nuevo?"
    server.send_text(alice_chat, alice, question)
    (before,) = await server.wait_for_messages(alice_chat, 1)
    assert "three hundred families" in _text(before)

    server.send_text(chat, admin, "/remove nothing-like-this")
    assert "no document 'nothing-like-this'" in await _final(server, chat, 1, "no document")
    server.send_text(chat, admin, "/remove flood")
    removed = await _final(server, chat, 2, "no longer cited", "1 removed")
    assert "flood.txt" in removed
    assert not (bot_env.corpus / "flood.txt").exists()

    server.send_text(alice_chat, alice, question)
    after = (await server.wait_for_messages(alice_chat, 2))[1]
    assert "three hundred" not in _text(after) and "flood.txt" not in _text(after)
    # The old answer's button now says the passage is gone instead of showing it.
    query = server.press_button(alice_chat, alice, before, f"p:{_key(before)}:1")
    reply = await server.wait_for_callback_answer(query)
    assert "no longer in the index" in reply["text"]


def _key(message: dict) -> str:  # type: ignore[type-arg]
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    return str(buttons[0]["callback_data"].split(":")[1])


async def test_non_admins_cannot_manage_the_corpus(bot_env: BotEnv) -> None:
    server, alice = bot_env.server, bot_env.alice
    chat = server.create_private_chat(alice)
    for command in ("/add https://example.org/x", "/remove 000_1517f336e036ffe5.md", "/docs"):
        server.send_text(chat, alice, command)
    replies = await server.wait_for_messages(chat, 3)
    assert all("only the bot's admins" in _text(r) for r in replies)
    assert (bot_env.corpus / "000_1517f336e036ffe5.md").is_file()
