"""``storybot inbox``: the dead letters (updates set aside after failing), to retry or drop."""

from __future__ import annotations

import argparse
import json
import logging
import time

from index.errors import StoryError

from .config import Config

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``inbox`` on the ``storybot`` parser."""
    inbox = sub.add_parser(
        "inbox", help="list the dead letters (updates set aside after failing); retry or drop one"
    )
    what = inbox.add_mutually_exclusive_group()
    what.add_argument("--retry", type=int, metavar="ID", help="handle it again at the next start")
    what.add_argument("--drop", type=int, metavar="ID", help="forget it")
    inbox.add_argument("--json", action="store_true", help="as one JSON object")
    inbox.set_defaults(func=cmd_inbox, log_default=logging.WARNING)


def cmd_inbox(args: argparse.Namespace, config: Config) -> int:
    """storybot inbox: the dead letters (updates set aside after failing), to retry or drop."""
    from .inbox import Inbox
    from .storage import open_configured

    path = config.chat.state_path
    if not config.state.url and not path.exists():
        raise StoryError(f"There is no state file at {path}: the bot has not run yet.")
    inbox = Inbox(open_configured(config))
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
        inbox.db.close()
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
