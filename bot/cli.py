"""storybot: the command line. Parses arguments, loads the config, sets up logging, calls in."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from index.errors import StoryError

from .config import Config, ConfigError, load_config
from .eval_report import as_dict, format_conversations, format_eval, plot_recall
from .formatting import answer_to_dict, format_text

if TYPE_CHECKING:
    from tqdm import tqdm

    from index.engine import Engine
    from index.ingest import DocumentInfo


logger = logging.getLogger("storybot")

TOKEN_HELP = """\
No Telegram bot token: set TELEGRAM_BOT_TOKEN (or telegram.token_file in config.toml).
To get a token, message @BotFather on Telegram, send /newbot and follow its steps.
Starting the same engine in the terminal instead (storybot chat). Ctrl-D to leave.
"""


def setup_logging(verbose: int, default: int = logging.WARNING) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else default
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Quiet chatty libraries. httpx and httpcore (python-telegram-bot's default client, unused
    # since bot/request.py sends through aiohttp) would log Bot API URLs, which hold the token.
    for noisy in ("httpx", "httpcore", "faiss.loader", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class _Progress:
    """tqdm bars on standard error, one per stage of a reindex or an evaluation."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm[Any]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(
                total=total, desc=stage, unit="item", leave=False, file=sys.stderr, disable=None
            )
            if bar.disable:  # not a terminal: a log line instead
                logger.info("%s: %d items", stage, total)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def _engine(config: Config) -> Engine:
    from .runtime import open_engine

    progress = _Progress()
    try:
        return open_engine(config, progress=progress)
    finally:
        progress.close()


def cmd_reindex(args: argparse.Namespace, config: Config) -> int:
    from .runtime import make_embedder, reindex

    progress = _Progress()
    try:
        report = reindex(config, lambda: make_embedder(config), progress)
    finally:
        progress.close()
    print(report.summary())
    return 0


def _reindex_quietly(config: Config) -> str:
    from .runtime import make_embedder, reindex

    progress = _Progress()
    try:
        return reindex(config, lambda: make_embedder(config), progress).summary()
    finally:
        progress.close()


def _document_line(info: DocumentInfo) -> str:
    detail = " · ".join(p for p in (info.source, info.date or "no date") if p)
    line = f"{info.doc_id}\n    {info.title} — {detail}; {info.passages} passages"
    if info.duplicate_of:
        line += f"\n    near-duplicate of {info.duplicate_of}"
    return line


def _index_infos(config: Config) -> list[DocumentInfo]:
    from index.ingest import indexed_documents
    from index.store import IndexStore

    store = IndexStore.load(config.index.path, config.embedding_id, verify=False)
    return indexed_documents(store)


def cmd_add(args: argparse.Namespace, config: Config) -> int:
    """storybot add URL|FILE: save the story into the corpus, reindex, say what was added."""
    import asyncio

    from index.fetch import add_url
    from index.ingest import add_upload, megabytes

    target = args.target
    path = Path(target).expanduser()
    if "://" not in target and path.is_file():
        limit = config.upload_max_bytes
        if path.stat().st_size > limit:  # refused before reading it all into memory
            raise StoryError(f"{path.name} is over the {megabytes(limit)} limit.")
        data = path.read_bytes()
        doc_id, _ = add_upload(config.corpus.path, path.name, data, config.upload_max_bytes)
    elif "://" not in target and not target.lower().startswith(("www.", "http")):
        raise StoryError(f"{target!r} is neither a file nor a web address (http:// or https://).")
    else:
        doc_id, _ = asyncio.run(add_url(config.corpus.path, target, config.fetch_settings()))
    print(f"Saved {config.corpus.path / doc_id}", file=sys.stderr)
    summary = _reindex_quietly(config)
    info = next((i for i in _index_infos(config) if i.doc_id == doc_id), None)
    print("Added " + (_document_line(info) if info else doc_id + " (not indexed: see below)"))
    print(summary)
    return 0


def cmd_docs(args: argparse.Namespace, config: Config) -> int:
    """storybot docs: the indexed documents, with dates, passage counts and ids."""
    from index.ingest import latest_documents

    infos = _index_infos(config)
    if args.latest:
        infos = latest_documents(infos, args.latest)
    if args.json:
        import dataclasses

        print(json.dumps([dataclasses.asdict(i) for i in infos], ensure_ascii=False, indent=1))
        return 0
    for info in infos:
        print(_document_line(info))
    print(f"{len(infos)} documents")
    return 0


def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    """storybot remove DOC: delete the document's file from the corpus, then reindex."""
    from index.documents import iter_corpus_files
    from index.ingest import remove_document, resolve_document

    corpus = config.corpus.path
    doc_id = resolve_document(args.document, [d for _, d in iter_corpus_files(corpus)])
    remove_document(corpus, doc_id)
    print(f"Removed {doc_id}")
    print(_reindex_quietly(config))
    return 0


def _questions(arg: str, stdin: TextIO) -> Iterator[str]:
    if arg != "-":
        yield arg
        return
    for line in stdin:
        if line.strip():
            yield line.strip()


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    engine = _engine(config)
    for question in _questions(args.question, sys.stdin):
        answer = engine.ask(question)
        if args.json:
            print(json.dumps(answer_to_dict(answer), ensure_ascii=False), flush=True)
        else:
            print(format_text(answer), end="\n\n" if args.question == "-" else "\n", flush=True)
    return 0


def cmd_chat(args: argparse.Namespace, config: Config) -> int:
    """A conversation in the terminal, kept by the same rules as a chat with the bot."""
    from .conversation import continued_answer, history_of
    from .state import StateStore

    engine = _engine(config)
    interactive = sys.stdin.isatty() and not args.json
    if interactive:
        print("Ask about the stories I know. /reset starts a new topic; Ctrl-D leaves.")
    state = StateStore(":memory:")
    fresh_since = 0.0  # /reset: earlier answers are no longer continued
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        question = line.strip()
        if not question:
            continue
        if question in ("/reset", "/new"):
            fresh_since = time.time()
            if interactive:
                print("(context cleared)")
            continue
        if question in ("/quit", "/exit"):
            break
        since = max(fresh_since, time.time() - config.chat.context_minutes * 60)
        record = continued_answer(
            state, chat_id=0, thread_id=None, user_id=0, reply_to_message_id=None, since=since
        )
        history = history_of(record)
        answer = engine.ask(question, history)
        state.add_answer(
            chat_id=0,
            thread_id=None,
            user_id=0,
            question=question,
            query=answer.query,
            found=answer.found,
            history=history,
            passage_ids=[h.passage.passage_id for h in answer.hits],
        )
        if args.json:
            print(json.dumps(answer_to_dict(answer), ensure_ascii=False), flush=True)
        else:
            print(("bot> " if interactive else "") + format_text(answer) + "\n", flush=True)
    state.close()
    return 0


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    from index.evaluate import evaluate, load_followups

    from .runtime import make_embedder, open_engine

    if args.conversations:
        return _eval_conversations(args, config)
    progress = _Progress()
    embedder = make_embedder(config, query_cache=0)  # latency of real embedding
    followups = load_followups(Path(args.followups)) if args.followups else []
    story = open_engine(config, embedder) if any(f.corpus == "story" for f in followups) else None
    try:
        result = evaluate(
            Path(args.data_dir),
            embedder,
            config.build_settings(),
            config.ranking_settings(),
            questions_file=Path(args.questions) if args.questions else None,
            limit=args.limit,
            index_dir=Path(args.index) if args.index else None,
            progress=progress,
            followups=followups,
            story_engine=story,
            everyday=_lines(Path(args.everyday)) if args.gate else None,
        )
    finally:
        progress.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_eval(result))
    if args.plot:
        plot_recall(result, Path(args.plot))
    return 0


def _eval_conversations(args: argparse.Namespace, config: Config) -> int:
    """``storybot eval DATA --conversations FILE``: play the sessions, print the figures."""
    import tempfile

    from index.evaluate import open_dataset_engine

    from .conversation_eval import load_sessions, play_sessions, report
    from .runtime import make_embedder, open_engine

    sessions = load_sessions(Path(args.conversations))
    embedder = make_embedder(config)
    engines = {}
    progress = _Progress()
    with tempfile.TemporaryDirectory(prefix="storybot-eval-") as tmp:
        try:
            if any(s.corpus == "story" for s in sessions):
                engines["story"] = open_engine(config, embedder)
            if any(s.corpus == "squad" for s in sessions):
                engines["squad"] = open_dataset_engine(
                    Path(args.data_dir),
                    embedder,
                    config.build_settings(),
                    config.ranking_settings(),
                    Path(args.index) if args.index else Path(tmp),
                    progress,
                )
            total = sum(len(s.turns) for s in sessions)
            results = play_sessions(
                sessions, engines, config.retrieval.top_k, lambda n: progress("turns", n, total)
            )
        finally:
            progress.close()
    figures = report(results)
    if args.json:
        turns = [as_dict(r) for r in results]
        print(
            json.dumps({"figures": figures, "turns": turns} if args.turns else figures, indent=2)
        )
    else:
        print(format_conversations(figures))
    return 0


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cmd_inbox(args: argparse.Namespace, config: Config) -> int:
    """storybot inbox: the dead letters (updates set aside after failing), to retry or drop."""
    from .inbox import Inbox

    path = config.chat.state_path
    if not path.exists():
        raise StoryError(f"There is no state file at {path}: the bot has not run yet.")
    inbox = Inbox(path)
    try:
        if args.retry is not None or args.drop is not None:
            update_id = args.retry if args.retry is not None else args.drop
            found = inbox.retry(update_id) if args.retry is not None else inbox.drop(update_id)
            if not found:
                raise StoryError(
                    f"There is no dead letter {update_id} (`storybot inbox` lists them)."
                )
            done = (
                "is back in the inbox (handled at the bot's next start)"
                if args.retry is not None
                else ""
            )
            print(f"Update {update_id} {done or 'was dropped'}.")
            return 0
        dead = inbox.dead_letters()
        unfinished = len(inbox.pending())
    finally:
        inbox.close()
    if args.json:
        rows = [
            {
                "update_id": d.update_id,
                "kind": d.kind,
                "what": d.describe(),
                "error": d.error,
                "attempts": d.attempts,
                "received": d.received,
                "set_aside": d.set_aside,
            }
            for d in dead
        ]
        print(json.dumps({"dead_letters": rows, "unfinished": unfinished}, indent=1))
        return 0
    for d in dead:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.set_aside))
        print(f"{d.update_id}  {d.describe()}; {d.attempts} attempt(s); set aside {when}")
        print(f"    {d.error}")
    print(f"{len(dead)} dead letter(s); {unfinished} update(s) received and not finished yet.")
    if dead:
        print("--retry ID puts one back for the bot's next start; --drop ID forgets it.")
    return 0


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    if not config.token:
        print(TOKEN_HELP, file=sys.stderr)
        if not args.verbose:  # a terminal conversation, not a server log
            logging.getLogger().setLevel(logging.WARNING)
        return cmd_chat(args, config)
    from .app import run_bot

    return run_bot(config, webhook=args.webhook, watch=args.watch)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storybot", description="Answers questions about news stories, citing its sources."
    )
    parser.add_argument("--config", default="config.toml", help="config file (config.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", help="run the Telegram bot (or the terminal chat without a token)"
    )
    serve.add_argument(
        "--webhook",
        action="store_true",
        help="take updates by webhook (web.webhook_url) instead of long polling",
    )
    serve.add_argument(
        "--watch",
        action="store_true",
        help="reindex when files in corpus/ change (debounced: corpus.watch_debounce_seconds)",
    )
    serve.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve, log_default=logging.INFO)

    inbox = sub.add_parser(
        "inbox", help="list the dead letters (updates set aside after failing); retry or drop one"
    )
    what = inbox.add_mutually_exclusive_group()
    what.add_argument("--retry", type=int, metavar="ID", help="handle it again at the next start")
    what.add_argument("--drop", type=int, metavar="ID", help="forget it")
    inbox.add_argument("--json", action="store_true", help="as one JSON object")
    inbox.set_defaults(func=cmd_inbox, log_default=logging.WARNING)

    reindex = sub.add_parser("reindex", help="bring the index up to date with corpus/")
    reindex.set_defaults(func=cmd_reindex, log_default=logging.WARNING)

    add = sub.add_parser("add", help="add a story (a web page's URL or a .txt/.md/.html/.pdf)")
    add.add_argument("target", help="http(s) URL of the story, or a file")
    add.set_defaults(func=cmd_add, log_default=logging.WARNING)

    docs = sub.add_parser("docs", help="list the indexed documents (dates, passages, ids)")
    docs.add_argument("--latest", type=int, default=0, help="only the N newest, newest first")
    docs.add_argument("--json", action="store_true", help="as a JSON list")
    docs.set_defaults(func=cmd_docs, log_default=logging.WARNING)

    remove = sub.add_parser("remove", help="remove a document from the corpus and reindex")
    remove.add_argument("document", help="its id (as `storybot docs` shows) or file name")
    remove.set_defaults(func=cmd_remove, log_default=logging.WARNING)

    ask = sub.add_parser("ask", help="answer a question ('-': one per line from stdin)")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.set_defaults(func=cmd_ask, log_default=logging.WARNING)

    chat = sub.add_parser("chat", help="a conversation in the terminal, follow-ups understood")
    chat.add_argument("--json", action="store_true", help="one JSON object per turn")
    chat.set_defaults(func=cmd_chat, log_default=logging.WARNING)

    ev = sub.add_parser("eval", help="measure retrieval on a data set (passages+questions)")
    ev.add_argument("data_dir")
    ev.add_argument("--questions", help="another questions.jsonl against the same passages")
    ev.add_argument("--limit", type=int, default=0, help="evaluate an even sample of N questions")
    ev.add_argument("--json", action="store_true", help="the figures as one JSON object")
    ev.add_argument("--plot", help="write a PNG of recall@k for each method to this file")
    ev.add_argument("--index", help="keep the data set's index in this folder and reuse it")
    ev.add_argument(
        "--gate",
        action="store_true",
        help="also measure the not-found gate: each question with its article hidden, "
        "and everyday questions",
    )
    ev.add_argument(
        "--everyday",
        default="evaluation/everyday.txt",
        help="everyday questions the corpus cannot answer (one per line)",
    )
    ev.add_argument(
        "--followups",
        help="two-turn conversations (JSON lines) to measure "
        "follow-up handling on, against the data set and the configured corpus",
    )
    ev.add_argument(
        "--conversations",
        help="chat sessions (a JSON-lines file, or a folder of them) to play through the bot's "
        "conversation rules, on the data set and the configured corpus",
    )
    ev.add_argument(
        "--turns", action="store_true", help="with --json and --conversations: every turn too"
    )
    ev.set_defaults(func=cmd_eval, log_default=logging.WARNING)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.log_default)
    try:
        config = load_config(Path(args.config), os.environ)
        return int(args.func(args, config) or 0)
    except ConfigError as exc:
        print(f"storybot: {exc}", file=sys.stderr)
        return 2
    except StoryError as exc:
        print(f"storybot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
