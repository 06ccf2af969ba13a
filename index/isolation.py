"""Reading an outside document in a child process, with a time and a memory limit.

A parser bomb (nested YAML aliases, a PDF whose pages share one huge content stream, HTML that
sends the extractor into a spin) then exhausts the child, which is killed, and never the bot:
the caller gets a DocumentError saying the document took too long or is too large to read.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from .errors import DocumentError

__all__ = ["CRASHED", "TOO_LARGE", "TOO_SLOW", "ReadLimits", "run_isolated"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

TOO_SLOW = "the document took too long to read"
TOO_LARGE = "the document is too large to read"
CRASHED = "the document could not be read (the reader failed on it)"


@dataclass(frozen=True, slots=True)
class ReadLimits:
    seconds: float = 60.0  # wall-clock time for the whole child, start-up included
    memory_bytes: int = 1024 * 1024 * 1024  # the child's address space (RLIMIT_AS)


def _limit_child(limits: ReadLimits) -> None:
    """In the child: cap its memory and CPU time, and have it die with the parent (Linux)."""
    try:
        import resource
    except ImportError:  # pragma: no cover (not Unix: the parent's timeout still applies)
        return
    memory = limits.memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.seconds) + 2  # an orphan stops even if the parent could not kill it
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Collect(logging.Handler):
    """In the child: keeps its warnings, which go back to the parent with the result."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < 100:
            self.records.append((record.name, record.levelno, record.getMessage()[:2000]))


def _child(
    conn: Connection, limits: ReadLimits, func: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    """The child's body: one ("done", result), ("refused", message), ("memory", "") or
    ("crashed", traceback) goes back on ``conn``, with the warnings logged meanwhile."""
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    logging.getLogger().setLevel(logging.WARNING)
    try:
        _limit_child(limits)
        try:
            message: tuple[str, Any] = ("done", func(*args))
        except DocumentError as exc:
            message = ("refused", str(exc))
        except MemoryError:
            message = ("memory", "")
        except RecursionError:
            message = ("refused", "the document is nested too deep to read")
        except Exception as exc:
            message = ("crashed", "".join(traceback.format_exception(exc))[-4000:])
        try:
            conn.send((*message, collect.records))
        except MemoryError:
            raise
        except Exception as exc:  # the result does not pickle
            conn.send(("crashed", "".join(traceback.format_exception(exc))[-4000:], []))
    except MemoryError:
        with contextlib.suppress(Exception):
            conn.send(("memory", "", []))
    finally:
        conn.close()


def run_isolated(func: Callable[..., T], *args: Any, limits: ReadLimits | None = None) -> T:
    """``func(*args)`` in a fresh child process ('spawn': nothing of the bot is inherited) under
    ``limits``; blocks, so call it from a worker thread. ``func`` and its arguments and result
    must pickle. DocumentError from ``func`` comes back as it was; a child that runs out of time
    is killed (TOO_SLOW), one that runs out of memory or dies gives TOO_LARGE, and any other
    error is logged and reported as a document that cannot be read."""
    limits = limits or ReadLimits()
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(sender, limits, func, args), name="storybot-reader", daemon=True
    )
    process.start()
    sender.close()
    try:
        if not receiver.poll(limits.seconds):
            logger.warning(
                "Reading a document took over %g s; the reader was stopped", limits.seconds
            )
            raise DocumentError(TOO_SLOW)
        try:
            kind, value, records = receiver.recv()
        except EOFError:
            process.join(5)
            logger.warning("The document reader died (exit code %s)", process.exitcode)
            code = process.exitcode
            if code == -getattr(signal, "SIGXCPU", 0):
                raise DocumentError(TOO_SLOW) from None
            if code is None or code < 0:  # killed: out of memory (the kernel, a failed malloc)
                raise DocumentError(TOO_LARGE) from None
            raise DocumentError(CRASHED) from None
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
        process.close()
    for name, level, text in records:
        logging.getLogger(name).log(level, "%s", text)
    if kind == "done":
        return value
    if kind == "refused":
        raise DocumentError(value)
    if kind == "memory":
        logger.warning("The document reader ran out of its %d bytes", limits.memory_bytes)
        raise DocumentError(TOO_LARGE)
    logger.error("The document reader failed:\n%s", value)
    raise DocumentError(CRASHED)
