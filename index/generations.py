"""Index generations on disk: each build in its own folder, CURRENT naming the one in use and
switched atomically, and a lock so that one build runs at a time.

Layout of the index folder::

    CURRENT                 name of the generation in use (replaced atomically with os.replace)
    gen-<time>-<rand>/      one complete build
    .gen-<time>-<rand>.partial/   a build being written

A build writes a new generation beside the old one and then points CURRENT at it, so a crash
mid-build leaves the previous index serving.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import ReindexInProgressError

__all__ = [
    "build_lock",
    "current_generation",
    "discard_generation",
    "publish_generation",
    "remove_other_generations",
    "start_generation",
]

_PARTIAL = ".partial"


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's build lock (across processes); refuse at once if a build holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".build.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReindexInProgressError(
                "A reindex is already running; wait for it to finish."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_generation(folder: Path) -> Path:
    """The generation CURRENT names (ValueError when it names none; OSError when unreadable)."""
    name = (folder / "CURRENT").read_text().strip()
    gen = folder / name
    if not name or "/" in name or not gen.is_dir():
        raise ValueError(f"CURRENT names {name!r}, which is not an index generation")
    return gen


def start_generation(folder: Path) -> Path:
    """A new, empty folder to write a generation in, until ``publish_generation``."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    partial = folder / f".{name}{_PARTIAL}"
    partial.mkdir()
    return partial


def publish_generation(folder: Path, partial: Path) -> str:
    """Sync a written generation to disk, give it its final name and point CURRENT at it;
    returns its name."""
    for path in partial.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    name = partial.name.removeprefix(".").removesuffix(_PARTIAL)
    partial.rename(folder / name)
    pointer = folder / ".CURRENT.tmp"
    pointer.write_text(name + "\n")
    with pointer.open("rb") as handle:
        os.fsync(handle.fileno())
    pointer.replace(folder / "CURRENT")
    _fsync_dir(folder)
    return name


def discard_generation(partial: Path) -> None:
    """Delete a generation that was not finished."""
    shutil.rmtree(partial, ignore_errors=True)


def remove_other_generations(folder: Path, keep: str) -> None:
    """Delete every generation, finished or partial, but ``keep``."""
    for old in folder.iterdir():
        if (
            old.is_dir()
            and old.name != keep
            and (old.name.startswith("gen-") or old.name.startswith(".gen-"))
        ):
            shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
