"""The bot under load: many users asking through the Bot API test server, end to end.

    .venv/bin/python -m benchmarks.bot_load                       # capacity, 5,000 questions
    .venv/bin/python -m benchmarks.bot_load --faults 0.1          # the same with 10% faults
    .venv/bin/python -m benchmarks.bot_load --reindex             # a reindex during the run
    .venv/bin/python -m benchmarks.bot_load --questions 10000 --rate 100 --runs 1   # memory soak
    .venv/bin/python -m benchmarks.bot_load --index DIR --corpus DIR   # a bigger index
    .venv/bin/python -m benchmarks.bot_load --compare /tmp/base   # this tree against another
    .venv/bin/python -m benchmarks.bot_load --postgres            # SQLite against PostgreSQL

With ``--compare DIR`` (another checkout, e.g. ``git archive main | tar -x -C /tmp/base``) the
runs alternate between the bot of DIR and this one, and the medians are given as ratios, so a
change's cost is measured in one run on a noisy machine. ``--postgres`` adds this tree with its
state in PostgreSQL to the alternation: a throwaway server (tests/postgres.py, Debian's
binaries), or the server of ``--state-url URL``; each run gets a new database on it.

The bot runs as `storybot serve` in a child process (as deployed); this process runs the test
server and the simulated users: 100 users in groups of 5, asking with /ask at ``--rate``
questions per second. Telegram's send limits are turned off (``messages_per_second = 0``) to
measure the bot's own capacity; with them on, Telegram's 30 messages/s is the ceiling. Every
question is accounted for: answered, lost, duplicated, out of order. Latency is from the
moment the question is sent to the moment its reply reaches the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

os.environ.setdefault("PTB_TIMEDELTA", "true")

from tests.botapi import BotApiServer
from tests.botapi.load import (
    STORY_QUESTIONS,
    LoadReport,
    ask_many,
    free_port,
    inject_random_faults,
    make_groups,
)

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCHMARK-token-for-the-load-benchmark"
ADMIN_TOKEN = "benchmark-admin-token"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_healthy(port: int, proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 600
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise SystemExit(f"the bot exited; see {log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.5)
    raise SystemExit("the bot did not become healthy")


async def start_reindex(port: int) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/admin/reindex",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as response,
    ):
        return str((await response.json())["job"])


async def reindex_window(port: int, job: str) -> tuple[float, float]:
    """Poll the job until it ends; (start, end) in this process's monotonic clock."""
    start = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(
                f"http://127.0.0.1:{port}/admin/reindex/{job}",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ) as response:
                state = (await response.json())["state"]
            if state != "running":
                return start, time.monotonic()
            await asyncio.sleep(0.2)


def fresh_database(server_url: str, run: int) -> str:
    """A new empty database ``storybot_load_RUN`` on the server of ``server_url``; its URL."""
    import psycopg

    name = f"storybot_load_{run}"
    with psycopg.connect(server_url, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name}")
        db.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


async def one_run(
    args: argparse.Namespace, work: Path, run: int, tree: Path = ROOT, state_url: str = ""
) -> dict[str, float]:
    corpus = work / f"corpus-{run}"
    shutil.copytree(args.corpus, corpus)
    index_dir = args.index or work / "index"
    async with BotApiServer(token=TOKEN, bot_username="storybot") as server:
        groups = make_groups(server, args.users, 5)
        port = free_port()
        config = work / "config.toml"
        config.write_text(
            f'[corpus]\npath = "{corpus}"\n[index]\npath = "{index_dir}"\n'
            f'backend = "{args.backend}"\nprecision = "{args.precision}"\n'
            f'onnx_cache = "{ROOT / "index" / "onnx"}"\n'
            + (f"query_cache = {args.query_cache}\n" if args.query_cache is not None else "")
            + f'[chat]\nstate_path = "{work / f"state-{run}.sqlite3"}"\nflood_questions = 0\n'
            + (
                f"answer_threads = {args.answer_threads}\n"
                if args.answer_threads is not None
                else ""
            )
            + "[telegram]\nadmins = [1]\nmessages_per_second = 0\ngroup_messages_per_minute = 0\n"
            f"timeout_seconds = {args.timeout}\n[web]\nport = {port}\n"
        )
        log = work / f"bot-{run}.log"
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "STORYBOT_TELEGRAM_BASE_URL": server.root_url,
            "STORYBOT_ADMIN_TOKEN": ADMIN_TOKEN,
            "PYTHONPATH": str(tree),
        }
        if state_url:
            env["STORYBOT_STATE_URL"] = await asyncio.to_thread(fresh_database, state_url, run)
        with log.open("w") as handle:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "--config", str(config), "serve",
                cwd=tree, env=env, stdout=handle, stderr=handle,
            )  # fmt: skip
        try:
            started = time.monotonic()
            await wait_healthy(port, proc, log)
            ready = time.monotonic() - started
            warm = await ask_many(server, groups[:2], args.asked, 20, rate=20, timeout=120)
            assert warm.lost == 0, warm.lines()
            rss_start = rss_mb(proc.pid)
            reindex: asyncio.Task[tuple[float, float]] | None = None
            if args.reindex:
                # New text, so the reindex really embeds while questions are being answered.
                story = next(corpus.glob("*.md")).read_text()
                for n in range(args.reindex_docs):
                    (corpus / f"extra-{n}.md").write_text(story.replace("Moscow", f"Moscow {n}"))
                reindex = asyncio.create_task(reindex_window(port, await start_reindex(port)))
            if args.faults:
                inject_random_faults(server, args.faults, seed=run, timeout_delay=args.timeout + 1)
            report: LoadReport = await ask_many(
                server, groups, args.asked, args.questions, rate=args.rate, timeout=args.wait
            )
            server.clear_faults()
            rss_end = rss_mb(proc.pid)
            figures = {
                "ready_s": ready,
                "answers_per_s": report.per_second,
                "p50_ms": report.percentile(50) * 1000,
                "p95_ms": report.percentile(95) * 1000,
                "lost": report.lost,
                "duplicated": report.duplicated,
                "accepted_then_lost": report.accepted_then_lost,
                "errors": report.errors,
                "out_of_order": report.out_of_order,
                "faults": sum(report.faults.values()),
                "rss_start_mb": rss_start,
                "rss_end_mb": rss_end,
            }
            print(
                f"run {run + 1} ({tree}{', PostgreSQL' if state_url else ''}): ready in "
                f"{ready:.1f} s; RSS {rss_start:.0f} -> "
                f"{rss_end:.0f} MB"
            )
            for line in report.lines():
                print("   ", line)
            if reindex is not None:
                begin, end = await reindex
                during = sorted(
                    lat
                    for lat, sent in zip(report.latencies, report.sent, strict=True)
                    if begin <= sent <= end
                )
                if during:
                    p95 = during[min(len(during) - 1, round(0.95 * (len(during) - 1)))]
                    figures["reindex_s"] = end - begin
                    figures["p95_during_reindex_ms"] = p95 * 1000
                    print(
                        f"    reindex ran {end - begin:.1f} s; {len(during)} questions asked "
                        f"during it: p50 {statistics.median(during) * 1000:.0f} ms, "
                        f"p95 {p95 * 1000:.0f} ms"
                    )
            return figures
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=250.0, help="questions asked per second")
    parser.add_argument("--faults", type=float, default=0.0, help="share of calls that fail")
    parser.add_argument("--reindex", action="store_true", help="run a reindex meanwhile")
    parser.add_argument("--reindex-docs", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0, help="bot's request timeout")
    parser.add_argument("--wait", type=float, default=900.0, help="give up after (s)")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--index", type=Path, default=None, help="an index folder to serve")
    parser.add_argument("--backend", default="onnx", help="index.backend (shipped: onnx)")
    parser.add_argument("--precision", default="int8", help="index.precision (shipped: int8)")
    parser.add_argument(
        "--questions-from",
        type=Path,
        default=None,
        help="a questions.jsonl (e.g. squad_v11_dev's) to ask instead of the story's 10 questions",
    )
    parser.add_argument(
        "--query-cache", type=int, default=None, help="index.query_cache (shipped: 4096)"
    )
    parser.add_argument(
        "--answer-threads", type=int, default=None, help="chat.answer_threads (shipped: 0)"
    )
    parser.add_argument(
        "--compare", type=Path, default=None, help="another checkout: runs alternate with it"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also this tree with its state in PostgreSQL (a throwaway server unless --state-url)",
    )
    parser.add_argument(
        "--state-url", default="", help="a PostgreSQL server for --postgres (databases made on it)"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.postgres and not args.state_url:
            from tests.postgres import running

            args.state_url = stack.enter_context(running()).url()
        await measure(args)


async def measure(args: argparse.Namespace) -> None:
    """Every variant (the other tree, this one, this one on PostgreSQL) ``--runs`` times,
    alternating; the medians, and their ratios to the first variant."""
    args.asked = STORY_QUESTIONS
    if args.questions_from:
        lines = args.questions_from.read_text().splitlines()
        args.asked = list(dict.fromkeys(json.loads(line)["question"] for line in lines if line))
    print(
        f"{len(args.asked)} distinct questions; query cache: "
        f"{'config default' if args.query_cache is None else args.query_cache}"
    )
    print(
        f"{args.users} users ask {args.questions} questions at {args.rate:g}/s; faults "
        f"{args.faults:.0%}; reindex during the run: {args.reindex}; {os.cpu_count()} CPUs"
    )
    variants = [(ROOT, "")] if args.compare is None else [(args.compare.resolve(), ""), (ROOT, "")]
    if args.postgres:
        variants.append((ROOT, args.state_url))
    names = [f"{tree}{' on PostgreSQL' if url else ''}" for tree, url in variants]
    with tempfile.TemporaryDirectory(prefix="storybot-load-") as tmp:
        work = Path(tmp)
        results: list[list[dict[str, float]]] = [[] for _ in variants]
        for run in range(args.runs):
            for i, (tree, url) in enumerate(variants):  # alternating: drift hits all alike
                results[i].append(await one_run(args, work, len(variants) * run + i, tree, url))
    medians: dict[tuple[int, str], float] = {}
    for i, name in enumerate(names):
        print(f"\n{name}\nfigure                      min      median   max")
        for key in results[i][0]:
            values = [r[key] for r in results[i] if key in r]
            medians[i, key] = statistics.median(values)
            print(f"{key:<24} {min(values):>8.1f} {medians[i, key]:>8.1f} {max(values):>8.1f}")
    for i in range(1, len(variants)):
        for key in ("answers_per_s", "p50_ms", "p95_ms"):
            ratio = medians[i, key] / medians[0, key]
            pairs = [
                mine[key] / theirs[key]
                for mine, theirs in zip(results[i], results[0], strict=True)
            ]
            print(
                f"{key}: {names[i]} / {names[0]} = {ratio:.3f} (medians); run by run "
                f"{', '.join(f'{r:.2f}' for r in pairs)} (median {statistics.median(pairs):.3f})"
            )


if __name__ == "__main__":
    asyncio.run(main())
