"""End to end: inline mode (``@storybot question`` in any chat) through the Bot API test server
over real HTTP."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config_schema import InlineSection
from bot.metrics import Metrics
from bot.services import Services
from index.embedder import Embedder
from index.engine import Engine
from index.store import IndexStore
from tests.bot.conftest import TOKEN, BotEnv, make_config, start_bot, stop_bot, wait_until_handled
from tests.botapi import BotApiServer, InlineAnswer

pytestmark = pytest.mark.slow


def _metrics(env: BotEnv) -> Metrics:
    metrics: Metrics = env.application.bot_data.services.metrics  # type: ignore[attr-defined]
    return metrics


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def _text(answer: InlineAnswer, result_id: str) -> str:
    return answer.messages[result_id][0]


async def test_an_inline_question_is_answered_with_cited_articles(bot_env: BotEnv) -> None:
    server, alice, bob = bot_env.server, bot_env.alice, bot_env.bob
    query = server.send_inline_query(
        alice, "Who will the ministers meet in Moscow?", chat_type="group"
    )
    answer = await server.wait_for_inline_answer(query, timeout=30)
    assert 1 <= len(answer.results) <= bot_env.config.inline.results
    assert answer.results[0]["id"] == "answer"
    text, entities = answer.messages["answer"]
    assert "Lavrov" in text and "[1]" in text and "Moscow" in text  # the sentence, its source
    assert any(e["type"] == "bold" for e in entities)  # (links: test_inline_results.py)
    for result in answer.results:
        assert 0 < len(result["title"]) <= 64 and len(result.get("description", "")) <= 160
        assert result["input_message_content"]["parse_mode"] == "HTML"
    # The same for everyone who types it (the question's language is clear), for a while.
    assert (answer.cache_time, answer.is_personal) == (bot_env.config.inline.cache_seconds, False)
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert _value(_metrics(bot_env), "storybot_inline_queries_total", outcome="answered") == 1

    # Alice sends it into a group: counted; the bot does not answer its own answer there.
    group = server.create_group("Readers", [alice, bob])
    server.choose_inline_result(query, "answer", chat=group)
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert _value(_metrics(bot_env), "storybot_inline_chosen_total") == 1
    assert server.sent_messages(group) == []
    # Bob typing the same question gets Telegram's cached answer; the bot is not asked again.
    again = server.send_inline_query(
        bob, "Who will the ministers meet in Moscow?", chat_type="group"
    )
    assert (await server.wait_for_inline_answer(again)).cached
    assert len(server.calls("answerInlineQuery")) == 1


async def test_empty_and_short_queries_get_a_hint_in_the_users_language(bot_env: BotEnv) -> None:
    server = bot_env.server
    french = server.create_user("Jeanne", language_code="fr")
    hints = []
    for user, typed in ((bot_env.alice, ""), (bot_env.bob, "ab"), (french, "")):
        query = server.send_inline_query(user, typed)
        hints.append(await server.wait_for_inline_answer(query, timeout=30))
    for hint in hints:
        assert [r["id"] for r in hint.results] == ["hint"]
        assert hint.is_personal  # no question to tell the language from: the user's
    assert hints[0].results[0]["title"] == "Type a question"
    assert "@storybot" in _text(hints[0], "hint")
    assert hints[2].results[0]["title"] == "Tapez une question"


async def test_a_question_nothing_answers_gets_one_not_found_result(bot_env: BotEnv) -> None:
    server = bot_env.server
    english = server.send_inline_query(bot_env.alice, "What is the best recipe for banana bread?")
    french = server.send_inline_query(
        bot_env.bob, "Quelle est la meilleure recette de gâteau au chocolat ?"
    )
    for query, title, says in (
        (english, "No answer found", "could not find an answer"),
        (french, "Aucune réponse trouvée", "pas trouvé"),
    ):
        answer = await server.wait_for_inline_answer(query, timeout=30)
        assert [r["id"] for r in answer.results] == ["not-found"]
        assert answer.results[0]["title"] == title
        assert says in _text(answer, "not-found")
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert _value(_metrics(bot_env), "storybot_inline_queries_total", outcome="not_found") == 2
    # Both are in the gap report, as inline questions, without the askers' ids.
    gaps = bot_env.application.bot_data.services.gaps  # type: ignore[attr-defined]
    recorded = gaps.store.questions(0, open_only=True, model="")
    assert {(q.question, q.reason, q.chat_kind) for q in recorded} == {
        ("What is the best recipe for banana bread?", "not_found", "inline"),
        ("Quelle est la meilleure recette de gâteau au chocolat ?", "not_found", "inline"),
    }
    assert all(q.user_hash not in (None, str(bot_env.alice.id)) for q in recorded)


async def test_a_user_typing_too_fast_is_limited_like_questions(bot_env: BotEnv) -> None:
    server, alice, bob = bot_env.server, bot_env.alice, bot_env.bob
    queries = [server.send_inline_query(alice, f"What is the AES? {i}") for i in range(30)]
    others = server.send_inline_query(bob, "Who will the ministers meet in Moscow?")
    assert (await server.wait_for_inline_answer(others, timeout=60)).results
    await wait_until_handled(server, bot_env.config.chat.state_path)
    answered = [
        server.inline_answers[q["id"]] for q in queries if q["id"] in server.inline_answers
    ]
    limit = bot_env.config.chat.flood_questions
    assert len(answered) == limit + 1  # the allowed answers and one notice, then nothing
    notices = [a for a in answered if a.results[0]["id"] == "slow-down"]
    assert len(notices) == 1 and notices[0].cache_time == 0 and notices[0].is_personal
    assert (
        _value(_metrics(bot_env), "storybot_inline_queries_total", outcome="throttled")
        == 30 - limit
    )


@pytest.fixture
async def one_thread_env(
    tmp_path: Path, story_index: Path, embedder: Embedder, corpus_dir: Path
) -> AsyncIterator[tuple[BotApiServer, Services]]:
    """A bot with one answering thread and a short inline deadline."""
    index_dir = tmp_path / "index"
    shutil.copytree(story_index, index_dir)
    async with BotApiServer(token=TOKEN, supports_inline_queries=True) as server:
        config = make_config(tmp_path, server, 1, index_dir, corpus_dir)
        config = dataclasses.replace(
            config,
            chat=dataclasses.replace(config.chat, answer_threads=1),
            inline=InlineSection(answer_seconds=0.5),
        )
        engine = Engine(IndexStore.load(index_dir, embedder.name), embedder)
        application, state = await start_bot(config, engine, embedder)
        try:
            yield server, application.bot_data.services
        finally:
            await stop_bot(application, state)


async def test_a_slow_answer_is_try_again_not_a_timeout(
    one_thread_env: tuple[BotApiServer, Services],
) -> None:
    server, services = one_thread_env
    release = threading.Event()
    busy = services.answering.submit(release.wait, 60)  # the one answering thread is taken
    try:
        query = server.send_inline_query(server.create_user("Al"), "Who will the ministers meet?")
        answer = await server.wait_for_inline_answer(query, timeout=30)
    finally:
        release.set()
    assert busy.result(timeout=10)
    assert [r["id"] for r in answer.results] == ["try-again"]
    assert answer.cache_time == 0  # the next try reaches the bot
    (call,) = server.calls("answerInlineQuery")
    assert call.ok
    # Once the thread is free, the same query is answered.
    again = server.send_inline_query(server.create_user("Bo"), "Who will the ministers meet?")
    assert (await server.wait_for_inline_answer(again, timeout=30)).results[0]["id"] == "answer"


async def test_a_query_answered_too_late_is_counted_not_raised(bot_env: BotEnv) -> None:
    server = bot_env.server
    server.inline_query_timeout = 0.0  # every answer arrives after Telegram gave up
    query = server.send_inline_query(bot_env.alice, "Who will the ministers meet in Moscow?")
    (call,) = await server.wait_for_calls("answerInlineQuery", timeout=30)
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert call.error is not None and "too old" in call.error
    assert query["id"] not in server.inline_answers
    assert _value(_metrics(bot_env), "storybot_inline_queries_total", outcome="expired") == 1
    assert _value(_metrics(bot_env), "storybot_telegram_errors_total", kind="BadRequest") == 0
