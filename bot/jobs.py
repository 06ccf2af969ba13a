"""Background reindexing, one at a time, shared by Telegram admins and the admin HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import multiprocessing
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from index.build import BuildReport
from index.embedder import Embedder
from index.errors import ReindexInProgressError, StoryError
from index.store import IndexStore

from .config import Config, Secret
from .metrics import Metrics
from .runtime import make_embedder, reindex

__all__ = ["IndexWatcher", "ReindexJob", "Reindexer"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ReindexJob:
    """One reindex run and how far it got."""

    id: str
    requested_by: str
    user_id: int | None = None  # the Telegram admin who asked (None: the admin API, a watcher)
    state: str = "running"  # running | done | failed
    stage: str = "starting"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    report: BuildReport | None = None
    error: str | None = None

    def progress_text(self) -> str:
        if self.state == "done" and self.report is not None:
            return f"Reindex finished. {self.report.summary()}"
        if self.state == "failed":
            return f"Reindex failed: {self.error}\nThe previous index is still serving."
        elapsed = time.time() - self.started
        if self.total:
            pct = 100 * self.done / self.total
            return (
                f"Reindexing: {self.stage} {self.done}/{self.total} ({pct:.0f}%), "
                f"{elapsed:.0f} s so far."
            )
        return f"Reindexing: {self.stage}, {elapsed:.0f} s so far."

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "requested_by": self.requested_by,
            "state": self.state,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "started": self.started,
            "finished": self.finished,
            "summary": self.report.as_dict() if self.report else None,
            "error": self.error,
        }


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
        report = reindex(config, lambda: make_embedder(config, threads=_threads(config)), progress)
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
    # The child needs no secret: it reads the corpus and writes the index.
    child_config = dataclasses.replace(config, token=Secret(""), admin_token=Secret(""))
    process = context.Process(
        target=reindex_child, args=(child_config, sender), name="storybot-reindex", daemon=True
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
                return message[1]
            elif kind == "failed":
                raise StoryError(message[1])
            else:
                raise RuntimeError(message[1])
    finally:
        receiver.close()
        process.join(timeout=30)
        if process.is_alive():
            process.kill()


class Reindexer:
    """Runs ``storybot reindex``, then hands the new index to ``install``.

    The build runs in a child process (``run_reindex_process``) with a model of its own, so
    questions keep being answered, at full speed, meanwhile; with ``load_embedder`` given (an
    embedder to share, as the tests do) it runs in a worker thread of this process instead.
    Only one job runs at a time (a second request gets ReindexInProgressError, and the build's
    file lock also guards against a command-line reindex).
    """

    def __init__(
        self,
        config: Config,
        install: Callable[[IndexStore], None],
        load_embedder: Callable[[], Embedder] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.install = install  # puts a freshly built index into service
        # Tells the admins (set by the bot): a failed job is reported to all of them.
        self.notify: Callable[[str, ReindexJob], Awaitable[None]] | None = None
        self._load_embedder = load_embedder
        self.metrics = metrics
        self.jobs: dict[str, ReindexJob] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> ReindexJob | None:
        return next((j for j in self.jobs.values() if j.state == "running"), None)

    def start(self, requested_by: str, *, user_id: int | None = None) -> ReindexJob:
        """Start a job (call from the event loop); refuses while another one runs."""
        current = self.running
        if current is not None:
            raise ReindexInProgressError(
                f"A reindex is already running (job {current.id}, started by "
                f"{current.requested_by}): {current.progress_text()}"
            )
        job = ReindexJob(id=secrets.token_hex(4), requested_by=requested_by, user_id=user_id)
        self.jobs[job.id] = job
        logger.info("Reindex job %s started by %s", job.id, requested_by)
        self._task = asyncio.get_running_loop().create_task(self._run(job))
        return job

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self, job: ReindexJob) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total

        try:
            if self._load_embedder is None:
                job.report = await asyncio.to_thread(run_reindex_process, self.config, progress)
            else:
                job.report = await asyncio.to_thread(
                    reindex, self.config, self._load_embedder, progress
                )
            store = await asyncio.to_thread(
                IndexStore.load, self.config.index.path, self.config.embedding_id
            )
            self.install(store)
            job.state = "done"
            logger.info("Reindex job %s done: %s", job.id, job.report.summary())
        except StoryError as exc:
            job.state, job.error = "failed", str(exc)
            logger.warning("Reindex job %s failed: %s", job.id, exc)
        except Exception as exc:
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            logger.exception("Reindex job %s crashed", job.id)
        finally:
            job.finished = time.time()
            if self.metrics is not None:
                self.metrics.reindex_runs.labels(job.state).inc()
                self.metrics.reindex_seconds.observe(job.finished - job.started)
        if job.state == "failed" and self.notify is not None:
            await self.notify(job.progress_text(), job)


class IndexWatcher:
    """Serves an index that another process built (``storybot reindex`` on the command line).

    Every ``interval`` seconds it reads the index folder's CURRENT pointer; when that names a
    generation other than the one being served, it loads it and swaps it in. An index that
    fails to load (damaged, truncated, another model) is not served: the bot keeps the index
    it has, and the admins are told once per bad generation.
    """

    def __init__(
        self,
        folder: Path,
        model: str,
        serving: Callable[[], IndexStore | None],
        install: Callable[[IndexStore], None],
        busy: Callable[[], bool],
        notify: Callable[[str], Awaitable[None]],
        interval: float = 5.0,
    ) -> None:
        self.folder = folder
        self.model = model
        self.serving = serving
        self.install = install
        self.busy = busy  # a reindex of our own is running: it installs what it builds
        self.notify = notify
        self.interval = interval
        self._refused: str | None = None

    def _current(self) -> str | None:
        try:
            return (self.folder / "CURRENT").read_text().strip() or None
        except OSError:
            return None

    async def check(self) -> bool:
        """One look at the folder; True when a new index was put into service."""
        name = await asyncio.to_thread(self._current)
        store = self.serving()
        if name is None or name == self._refused or self.busy():
            return False
        if store is not None and name == store.folder.name:
            return False
        try:
            fresh = await asyncio.to_thread(IndexStore.load, self.folder, self.model)
            self.install(fresh)
        except StoryError as exc:
            self._refused = name
            logger.error("A new index in %s was not loaded: %s", self.folder, exc)
            keep = (
                f"I keep answering from the index I have ({store.folder.name})."
                if store is not None
                else "I still cannot answer questions."
            )
            await self.notify(
                f"A new index appeared ({name}) but it cannot be used: {exc}\n{keep}"
            )
            return False
        logger.info("Serving the index %s, built by another process", name)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                logger.exception("Checking the index folder failed")
