"""Asking from the terminal: ``storybot ask`` (one question, or one per line) and ``storybot
chat`` (a conversation kept by the bot's rules)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from .cli_progress import open_engine_with_progress
from .config import Config
from .formatting import answer_to_dict, format_text

__all__ = ["add_commands", "cmd_chat"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ask`` and ``chat`` on the ``storybot`` parser."""
    ask = sub.add_parser("ask", help="answer a question ('-': one per line from stdin)")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.set_defaults(func=cmd_ask, log_default=logging.WARNING)

    chat = sub.add_parser("chat", help="a conversation in the terminal, follow-ups understood")
    chat.add_argument("--json", action="store_true", help="one JSON object per turn")
    chat.set_defaults(func=cmd_chat, log_default=logging.WARNING)


def _questions(arg: str, stdin: TextIO) -> Iterator[str]:
    if arg != "-":
        yield arg
        return
    for line in stdin:
        if line.strip():
            yield line.strip()


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    engine = open_engine_with_progress(config)
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

    engine = open_engine_with_progress(config)
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
