"""End to end: 👍/👎 reactions on answers as feedback beside the buttons, counted in /metrics,
and the weekly helpfulness rate in /stats, through the Bot API test server over real HTTP."""

from __future__ import annotations

import time

import pytest
from telegram import ReactionTypeEmoji

from bot.feedback import helpfulness_lines, reaction_vote, week_starts
from bot.i18n import translator
from bot.metrics import Metrics
from tests.bot.conftest import BotEnv, wait_until_handled

pytestmark = pytest.mark.slow


def _votes(metrics: Metrics, value: str, source: str) -> float:
    sample = metrics.registry.get_sample_value(
        "storybot_feedback_total", {"value": value, "source": source}
    )
    return sample or 0.0


async def test_reactions_vote_replace_and_withdraw_beside_the_buttons(bot_env: BotEnv) -> None:
    server, alice, bob, state = bot_env.server, bot_env.alice, bot_env.bob, bot_env.state
    metrics: Metrics = bot_env.application.bot_data.services.metrics  # type: ignore[attr-defined]
    (poll, *_) = await server.wait_for_calls("getUpdates")
    assert "message_reaction" in poll.params["allowed_updates"]  # not sent unless asked for

    chat = server.create_private_chat(alice)
    server.send_text(chat, alice, "Who will the ministers meet in Moscow?")
    (answer,) = await server.wait_for_messages(chat, 1, timeout=30)
    await wait_until_handled(server, bot_env.config.chat.state_path)
    record = state.answer_for_message(chat.id, answer["message_id"])
    assert record is not None

    async def react(*emoji: str) -> dict[int, int]:
        server.react(chat, alice, answer, list(emoji))
        await wait_until_handled(server, bot_env.config.chat.state_path)
        return state.feedback(record.key)

    assert await react("👍") == {alice.id: 1}
    assert await react("👎") == {alice.id: -1}  # changed: the vote is replaced
    assert await react("🔥") == {}  # another emoji: withdrawn
    assert await react() == {}
    assert await react("👍") == {alice.id: 1}
    assert await react() == {}  # removed: withdrawn
    assert (_votes(metrics, "up", "reaction"), _votes(metrics, "down", "reaction")) == (2, 1)
    gaps = bot_env.application.bot_data.services.gaps  # type: ignore[attr-defined]
    (disliked,) = gaps.store.questions(0, open_only=True, model="")  # the 👎 put it there
    assert (disliked.question, disliked.reason, disliked.chat_kind) == (
        "Who will the ministers meet in Moscow?",
        "thumbs_down",
        "private",
    )

    # The buttons count beside the reactions.
    thumbs = {
        b["text"]: b["callback_data"]
        for row in answer["reply_markup"]["inline_keyboard"]
        for b in row
    }
    await server.wait_for_callback_answer(server.press_button(chat, alice, answer, thumbs["👍"]))
    assert state.feedback(record.key) == {alice.id: 1}
    assert _votes(metrics, "up", "button") == 1

    # In a group, Telegram sends reactions only to a bot that is an administrator there.
    group = server.create_group("Readers", [alice, bob])
    server.send_text(group, bob, "@storybot What is the AES?")
    (in_group,) = await server.wait_for_messages(group, 1, timeout=30)
    await wait_until_handled(server, bot_env.config.chat.state_path)
    group_record = state.answer_for_message(group.id, in_group["message_id"])
    assert group_record is not None
    server.react(group, bob, in_group, "👎")
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert state.feedback(group_record.key) == {}
    server.set_bot_status(group, "administrator")
    server.react(group, alice, in_group, "👎")
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert state.feedback(group_record.key) == {alice.id: -1}

    # A reaction to a message that is no answer is no vote.
    server.send_text(chat, alice, "/help")
    help_message = (await server.wait_for_messages(chat, 2))[-1]
    server.react(chat, alice, help_message, "👎")
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert _votes(metrics, "down", "reaction") == 2


async def test_stats_shows_the_weekly_helpfulness_rate(bot_env: BotEnv) -> None:
    server, admin, alice, state = bot_env.server, bot_env.admin, bot_env.alice, bot_env.state
    chat = server.create_private_chat(alice)
    for question in ("Who will the ministers meet in Moscow?", "What is the AES?"):
        server.send_text(chat, alice, question)
    answers = await server.wait_for_messages(chat, 2, timeout=30)
    server.react(chat, alice, answers[0], "👍")
    server.react(chat, alice, answers[1], "👍")
    bob = bot_env.bob
    server.send_text(server.create_private_chat(bob), bob, "What is the AES?")
    (bobs,) = await server.wait_for_messages(bob.id, 1, timeout=30)
    server.react(bob.id, bob, bobs, "👎")
    await wait_until_handled(server, bot_env.config.chat.state_path)
    assert state.stats()["thumbs_up"] == 2

    admin_chat = server.create_private_chat(admin)
    server.send_text(admin_chat, admin, "/stats")
    (stats,) = await server.wait_for_messages(admin_chat, 1, timeout=30)
    monday = time.strftime("%Y-%m-%d", time.gmtime(week_starts(time.time())[-1]))
    assert f"Week of {monday}: 67% helpful (👍 2  👎 1)" in stats["text"]
    assert stats["text"].count("Week of") == 4


def test_reaction_changes_as_votes() -> None:
    up, down, fire = (ReactionTypeEmoji(e) for e in ("👍", "👎", "🔥"))
    assert reaction_vote([], [up]) == 1
    assert reaction_vote([up], [down]) == -1
    assert reaction_vote([down], []) == 0
    assert reaction_vote([up], [fire]) == 0
    assert reaction_vote([], [fire]) is None
    assert reaction_vote([fire], []) is None
    assert reaction_vote([up], [up, down]) == -1  # premium: the one just added
    assert reaction_vote([down], [up, down]) == 1


def test_weekly_lines_newest_first_in_both_languages() -> None:
    starts = week_starts(1_765_000_000)  # Saturday 6 December 2025
    assert time.gmtime(starts[-1]).tm_wday == 0 and starts[-1] <= 1_765_000_000
    weeks = [(starts[0], 0, 0), (starts[-1], 3, 1)]
    assert helpfulness_lines(weeks, translator("en"), "en") == [
        "Week of 2025-12-01: 75% helpful (👍 3  👎 1)",
        "Week of 2025-11-10: no votes",
    ]
    assert helpfulness_lines(weeks, translator("fr"), "fr")[0] == (
        "Semaine du 2025-12-01 : 75\u202f% utiles (👍 3  👎 1)"
    )
