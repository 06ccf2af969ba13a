"""storybot: the command line. Parses arguments, loads the config, sets up logging, calls in.

The commands live by concept: cli_corpus (reindex, add, docs, remove), cli_ask (ask, chat),
cli_eval (eval), cli_gaps (gaps), cli_inbox (inbox); each registers its own arguments."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from index.errors import StoryError

from . import cli_ask, cli_corpus, cli_eval, cli_gaps, cli_inbox
from .config import Config, ConfigError, load_config

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


def stdin_is_empty_device() -> bool:
    """True when standard input can never carry a question: /dev/null (as under systemd) or
    closed. A service started without a token must then fail, not end as a finished chat."""
    try:
        return os.path.samestat(os.fstat(0), Path(os.devnull).stat())
    except OSError:
        return True


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    if not config.token:
        if stdin_is_empty_device():
            print(TOKEN_HELP.splitlines()[0], file=sys.stderr)
            print(
                "No terminal to chat in either (standard input is empty): stopping.",
                file=sys.stderr,
            )
            return 2
        print(TOKEN_HELP, file=sys.stderr)
        if not args.verbose:  # a terminal conversation, not a server log
            logging.getLogger().setLevel(logging.WARNING)
        return cli_ask.cmd_chat(args, config)
    from .serving import run_bot

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

    cli_inbox.add_commands(sub)
    cli_corpus.add_commands(sub)
    cli_ask.add_commands(sub)
    cli_eval.add_commands(sub)
    cli_gaps.add_commands(sub)
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
