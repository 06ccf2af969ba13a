"""Inline answer latency: users typing ``@storybot question`` through the Bot API test server.

    .venv/bin/python -m benchmarks.inline_latency                     # 300 queries at 10/s
    .venv/bin/python -m benchmarks.inline_latency --chat --runs 3   # and chat answers meanwhile

The bot runs as `storybot serve` in a child process, as deployed, with Telegram's answer cache
off (``inline.cache_seconds = 0``) and no flood limit, so every query reaches it, and the
engine's cache of question vectors off (``index.query_cache = 0``), so every query is embedded.
The queries are the story's 10 questions in turn (2 of them "not found"). Latency is from the
moment the query is sent to the moment the bot's answerInlineQuery reaches the server; the Bot
API gives a bot about 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

from benchmarks.bot_load import wait_healthy
from tests.botapi import BotApiServer
from tests.botapi.load import STORY_QUESTIONS, free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCHMARK-token-for-the-inline-benchmark"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def one_run(args: argparse.Namespace, work: Path, run: int) -> dict[str, float]:
    async with BotApiServer(token=TOKEN, supports_inline_queries=True) as server:
        users = [server.create_user(f"User{i}") for i in range(args.users)]
        port = free_port()
        config = work / "config.toml"
        config.write_text(
            f'[corpus]\npath = "{ROOT / "corpus"}"\n[index]\npath = "{work / "index"}"\n'
            f'onnx_cache = "{ROOT / "index" / "onnx"}"\nquery_cache = 0\n'
            f'[chat]\nstate_path = "{work / f"state-{run}.sqlite3"}"\nflood_questions = 0\n'
            "[inline]\ncache_seconds = 0\n"
            "[telegram]\nmessages_per_second = 0\ngroup_messages_per_minute = 0\n"
            f"[web]\nport = {port}\n"
        )
        log = work / f"bot-{run}.log"
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "STORYBOT_TELEGRAM_BASE_URL": server.root_url,
        }
        with log.open("w") as handle:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "--config", str(config), "serve",
                cwd=ROOT, env=env, stdout=handle, stderr=handle,
            )  # fmt: skip
        try:
            await wait_healthy(port, proc, log)
            for i in range(args.warmup):  # the first answers load what the engine loads lazily
                warm = server.send_inline_query(users[0], STORY_QUESTIONS[i % 8])
                await server.wait_for_inline_answer(warm, timeout=args.wait)
            sent: dict[str, float] = {}
            asked: list[tuple[int, float]] = []  # (chat, when) of the questions asked in chats
            for i in range(args.queries):
                question = STORY_QUESTIONS[i % len(STORY_QUESTIONS)]
                user = users[i % len(users)]
                query = server.send_inline_query(user, question)
                sent[query["id"]] = time.monotonic()
                if args.chat:  # the same question in the user's chat with the bot, meanwhile
                    server.send_text(server.create_private_chat(user), user, question)
                    asked.append((user.id, time.monotonic()))
                await asyncio.sleep(1 / args.rate)
            try:
                await server.wait_for(
                    lambda: (
                        all(q in server.inline_answers for q in sent)
                        and len(server.calls("sendMessage")) >= len(asked)
                    ),
                    args.wait,
                    "every answer",
                )
            except TimeoutError:
                answered = sum(q in server.inline_answers for q in sent)
                errors = Counter(c.error for c in server.calls() if c.error)
                raise SystemExit(
                    f"{answered} of {len(sent)} inline answers, "
                    f"{len(server.calls('sendMessage'))} of {len(asked)} replies; errors "
                    f"{dict(errors)}; see {log}"
                ) from None
            calls = {c.params["inline_query_id"]: c for c in server.calls("answerInlineQuery")}
            latencies = [calls[q].monotonic - t for q, t in sent.items()]
            outcomes = Counter(server.inline_answers[q].results[0]["id"] for q in sent)
            replies = [c for c in server.calls("sendMessage") if c.ok]
            chat_latencies = [
                next(
                    c.monotonic for c in replies if c.params["chat_id"] == chat and c.monotonic > t
                )
                - t
                for chat, t in asked
            ]
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    print(
        f"run {run + 1}: inline p50 {percentile(latencies, 50) * 1000:.0f} ms, p95 "
        f"{percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
        f"results: {dict(outcomes)}"
    )
    chat = {}
    if chat_latencies:
        chat = {
            "chat_p50_ms": percentile(chat_latencies, 50) * 1000,
            "chat_p95_ms": percentile(chat_latencies, 95) * 1000,
        }
        print(
            f"    the same questions in chats: p50 {chat['chat_p50_ms']:.0f} ms, p95 "
            f"{chat['chat_p95_ms']:.0f} ms"
        )
    return chat | {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "max_ms": max(latencies) * 1000,
        "try_again": outcomes["try-again"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="queries sent per second")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--chat", action="store_true", help="also ask each question in a chat, meanwhile"
    )
    parser.add_argument("--warmup", type=int, default=20, help="queries answered first, untimed")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--wait", type=float, default=300.0, help="give up after (s)")
    args = parser.parse_args()
    print(f"{args.queries} inline queries at {args.rate:g}/s; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="storybot-inline-") as tmp:
        results = [await one_run(args, Path(tmp), run) for run in range(args.runs)]
    print("\nfigure          min      median   max")
    for key in results[0]:
        values = [r[key] for r in results]
        print(
            f"{key:<12} {min(values):>8.1f} {statistics.median(values):>8.1f} {max(values):>8.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
