"""A reindex in a child process: the build's tokenising and BM25 work never holds the bot's
interpreter lock, the child runs at a lower CPU priority than answering, and it dies with the
bot. Progress and the outcome come back over a pipe."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection

from index.build_report import BuildReport
from index.errors import StoryError

from .config import Config, Secret
from .runtime import make_embedder, make_other_embedder, reindex

__all__ = ["REINDEX_NICENESS", "child_config", "reindex_child", "run_reindex_process"]


def _threads(config: Config) -> int | None:
    """A reindex in the bot embeds on one thread with ONNX (its sessions have their own thread
    pools), leaving the other cores to answering. torch's thread count is process-wide, so it is
    left alone there."""
    return 1 if config.index.backend == "onnx" else None


# A reindex in its own process runs at this lower CPU priority: answers come first.
REINDEX_NICENESS = 10


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the bot dies (even by SIGKILL), so an orphaned
    reindex never holds the build lock."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def child_config(config: Config) -> Config:
    """The configuration a reindex process is handed: all of it but the secrets (it reads the
    corpus and writes the index, and talks to nobody)."""
    return dataclasses.replace(
        config, token=Secret(""), admin_token=Secret(""), webhook_secret=Secret("")
    )


def reindex_child(config: Config, conn: Connection) -> None:
    """The body of a reindex process: build, sending ("progress", stage, done, total) while it
    works, then ("done", BuildReport) or ("failed", message) or ("crashed", message)."""
    _die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(REINDEX_NICENESS)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def progress(stage: str, done: int, total: int) -> None:
        conn.send(("progress", stage, done, total))

    try:
        report = reindex(
            config,
            lambda: make_embedder(config, threads=_threads(config)),
            progress,
            lambda: make_other_embedder(config, threads=_threads(config)),
        )
        conn.send(("done", report))
    except StoryError as exc:
        conn.send(("failed", str(exc)))
    except BaseException as exc:  # reported to the bot, which stays up
        logging.getLogger(__name__).exception("Reindex crashed")
        conn.send(("crashed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_reindex_process(config: Config, progress: Callable[[str, int, int], None]) -> BuildReport:
    """Reindex in a child process (blocking; call from a worker thread). The build's tokenising
    and BM25 work then never holds the bot's interpreter lock, and the child runs at a lower
    priority than answering. Raises StoryError when the build fails or the process dies."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=reindex_child,
        args=(child_config(config), sender),
        name="storybot-reindex",
        daemon=True,
    )
    process.start()
    sender.close()
    try:
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                process.join()
                raise StoryError(
                    f"The reindex process died (exit code {process.exitcode}); "
                    "the previous index is still serving."
                ) from None
            kind = message[0]
            if kind == "progress":
                progress(*message[1:])
            elif kind == "done":
                report: BuildReport = message[1]
                return report
            elif kind == "failed":
                raise StoryError(message[1])
            else:
                raise RuntimeError(message[1])
    finally:
        receiver.close()
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
