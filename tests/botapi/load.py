"""Many simulated users asking at once, and an account of what the bot did with each question.

Used by the reliability tests and by ``benchmarks/bot_load.py``. Questions are asked with
``/ask`` in groups, where the bot replies to (quotes) the asking message, so every reply can be
matched to its question from the server's side alone: none lost, none twice, in order per chat.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .server import BotApiServer, Fault, FaultKind, SimChat, SimUser

__all__ = [
    "STORY_QUESTIONS",
    "LoadReport",
    "ask_many",
    "free_port",
    "inject_random_faults",
    "make_groups",
]

# Questions about the shipped story, and two it does not answer.
STORY_QUESTIONS = [
    "Who will the ministers meet in Moscow?",
    "What is the AES?",
    "When will the ministers visit Moscow?",
    "How big is the joint force?",
    "Which countries are in the Alliance of Sahel States?",
    "Why did the three countries leave ECOWAS?",
    "What will they discuss with Lavrov?",
    "Who chairs the AES?",
    "What is the capital of France?",
    "Is there any news about football?",
]
ERROR_MARKERS = ("Sorry, something went wrong", "not ready", "faster than I can answer")


@dataclass
class LoadReport:
    """What happened to the questions of one run."""

    questions: int = 0
    answered: int = 0  # questions with at least one answer
    lost: int = 0  # questions with no reply at all
    duplicated: int = 0  # extra replies to a question already answered
    errors: int = 0  # replies that were an apology instead of an answer
    out_of_order: int = 0  # replies that came before the reply to an earlier question
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # question sent -> reply received
    sent: list[float] = field(default_factory=list)  # when each of those questions was sent
    faults: dict[str, int] = field(default_factory=dict)  # injected, by kind
    # sendMessage calls Telegram carried out but whose answer never reached the bot (dropped,
    # or come after the bot's timeout ran out)
    accepted_then_lost: int = 0

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def lines(self) -> list[str]:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return [
            f"questions {self.questions}, answered {self.answered}, lost {self.lost}, "
            f"duplicated {self.duplicated} (sendMessage accepted but its answer lost: "
            f"{self.accepted_then_lost}), apologies {self.errors}, out of order "
            f"{self.out_of_order}",
            f"{self.per_second:.1f} answers/s over {self.seconds:.1f} s; update to reply "
            f"p50 {self.percentile(50) * 1000:.0f} ms, p95 {self.percentile(95) * 1000:.0f} ms"
            + (
                f", mean {statistics.fmean(self.latencies) * 1e3:.0f} ms" if self.latencies else ""
            ),
            f"faults injected: {faults}",
        ]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_groups(
    server: BotApiServer, users: int, per_group: int
) -> list[tuple[SimChat, list[SimUser]]]:
    """``users`` users in groups of ``per_group``, each group with the bot in it."""
    made = [server.create_user(f"User{i}", username=f"user{i}") for i in range(users)]
    groups = []
    for start in range(0, users, per_group):
        members = made[start : start + per_group]
        groups.append((server.create_group(f"Readers {start // per_group}", members), members))
    return groups


def inject_random_faults(
    server: BotApiServer,
    share: float,
    *,
    seed: int = 7,
    timeout_delay: float = 1.5,
    kinds: Sequence[str] = (
        FaultKind.RATE_LIMIT,
        FaultKind.SERVER_ERROR,
        FaultKind.BAD_GATEWAY,
        FaultKind.TIMEOUT,
        FaultKind.DROP,
        FaultKind.ACCEPT_THEN_DROP,
    ),
) -> list[Fault]:
    """Make about ``share`` of all requests fail, spread evenly over ``kinds``."""
    rng = random.Random(seed)
    each = share / len(kinds)

    def chance(_method: str, _params: dict[str, Any]) -> bool:
        return rng.random() < each

    return [
        server.inject_fault(kind, times=None, match=chance, delay=timeout_delay, retry_after=1)
        for kind in kinds
    ]


async def ask_many(
    server: BotApiServer,
    groups: list[tuple[SimChat, list[SimUser]]],
    questions: Sequence[str],
    total: int,
    *,
    rate: float,
    timeout: float = 600.0,  # noqa: ASYNC109 - part of the helper's contract
    seed: int = 11,
) -> LoadReport:
    """Ask ``total`` questions at about ``rate`` per second (users taking turns at random),
    wait until each has a reply or ``timeout`` passes, and account for every question."""
    rng = random.Random(seed)
    asked: dict[int, list[tuple[int, float]]] = defaultdict(list)  # chat -> (message id, time)
    started = time.monotonic()
    speakers = [(chat, user) for chat, members in groups for user in members]
    for n in range(total):
        chat, user = speakers[rng.randrange(len(speakers))]
        text = "/ask " + questions[rng.randrange(len(questions))]
        sent = server.send_text(chat, user, text)
        asked[chat.id].append((sent["message_id"], time.monotonic()))
        due = started + (n + 1) / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def all_answered() -> bool:
        for cid, questions_in in asked.items():
            quoted = {
                m["reply_to_message"]["message_id"]
                for m in server.sent_messages(cid)
                if "reply_to_message" in m
            }
            if not {mid for mid, _ in questions_in} <= quoted:
                return False
        return True

    deadline = time.monotonic() + timeout
    while not all_answered() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(1.0)  # cheap polling: the server shares this process's CPU
    finished = time.monotonic()
    return account(server, asked, started, finished)


def account(
    server: BotApiServer,
    asked: dict[int, list[tuple[int, float]]],
    started: float,
    finished: float,
) -> LoadReport:
    """Match every reply to its question, from what the server stored and saw."""
    report = LoadReport(seconds=finished - started, faults=dict(server.fault_counts))
    reply_times: dict[tuple[int, int], float] = {}
    for call in server.calls("sendMessage"):
        response = call.response if isinstance(call.response, dict) else {}
        result = response.get("result")
        if isinstance(result, dict):
            reply_times[(result["chat"]["id"], result["message_id"])] = call.monotonic
        if (
            call.fault == FaultKind.ACCEPT_THEN_DROP
            or (call.fault == FaultKind.TIMEOUT and call.status is None and call.response)
            or (call.unheard and call.ok)
        ):
            report.accepted_then_lost += 1
    for chat_id, questions_in in asked.items():
        sent_at = dict(questions_in)
        report.questions += len(questions_in)
        seen: Counter[int] = Counter()
        order: list[int] = []
        for message in server.sent_messages(chat_id):
            quoted = message.get("reply_to_message", {}).get("message_id")
            if quoted not in sent_at:
                continue
            seen[quoted] += 1
            if seen[quoted] > 1:
                report.duplicated += 1
                continue
            order.append(quoted)
            text = message.get("text", "")
            if any(marker in text for marker in ERROR_MARKERS):
                report.errors += 1
            else:
                report.answered += 1
            when = reply_times.get((chat_id, message["message_id"]))
            if when is not None:
                report.latencies.append(when - sent_at[quoted])
                report.sent.append(sent_at[quoted])
        report.lost += sum(1 for mid in sent_at if seen[mid] == 0)
        report.out_of_order += sum(1 for a, b in itertools.pairwise(order) if b < a)
    return report
