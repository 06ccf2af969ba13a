"""Reindex jobs: one at a time, with their progress, shared by Telegram admins, the admin
HTTP API and the corpus watcher; with the state in PostgreSQL, one at a time across every
replica (an advisory lock held for the build)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from index.build_report import BuildReport, ProgressFn
from index.errors import ReindexInProgressError, StoryError
from index.store import IndexStore

from .config import Config
from .deployment_lock import LOCK_RETRY_SECONDS, REINDEX_LOCK
from .i18n import ENGLISH, Translator
from .metrics import Metrics
from .reindex_process import run_reindex_process
from .storage import Database

__all__ = ["IndexBuild", "ReindexJob", "Reindexer"]

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

    def progress_text(self, tr: Translator = ENGLISH) -> str:
        """How far the job got, in ``tr``'s language (the build's own summary, stage names and
        errors stay in English)."""
        _ = tr.gettext
        if self.state == "done" and self.report is not None:
            return _("Reindex finished. {summary}").format(summary=self.report.summary())
        if self.state == "failed":
            return _("Reindex failed: {error}\nThe previous index is still serving.").format(
                error=self.error
            )
        elapsed = round(time.time() - self.started)
        if self.total:
            return _(
                "Reindexing: {stage} {done}/{total} ({percent}%), {seconds} s so far."
            ).format(
                stage=self.stage,
                done=self.done,
                total=self.total,
                percent=round(100 * self.done / self.total),
                seconds=elapsed,
            )
        return _("Reindexing: {stage}, {seconds} s so far.").format(
            stage=self.stage, seconds=elapsed
        )

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


class IndexBuild(Protocol):
    """How a job brings the configured index up to date (blocking; run in a worker thread)."""

    def __call__(self, config: Config, progress: ProgressFn) -> BuildReport: ...


class Reindexer:
    """Runs ``storybot reindex``, then hands the new index to ``install``.

    ``build`` brings the index up to date: by default in a child process
    (``run_reindex_process``) with a model of its own, so questions keep being answered, at full
    speed, meanwhile; another ``IndexBuild`` may build in this process (``runtime.reindex`` with
    a model already loaded). Only one job runs at a time (a second request gets
    ReindexInProgressError, and the build's file lock also guards against a command-line
    reindex). With ``database`` set (the state's PostgreSQL, shared by
    replicas), a build also holds an advisory lock there: a job started while another replica
    builds fails saying so, or, started by the watcher, waits its turn.
    """

    def __init__(
        self,
        config: Config,
        install: Callable[[IndexStore], None],
        build: IndexBuild = run_reindex_process,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.install = install  # puts a freshly built index into service
        # Tells the admins (set by the bot): a failed job is reported to all of them.
        self.notify: Callable[[str, ReindexJob], Awaitable[None]] | None = None
        self._build = build
        self.metrics = metrics
        self.jobs: dict[str, ReindexJob] = {}
        self._task: asyncio.Task[None] | None = None
        self.database: Database | None = None  # set by the bot when replicas share the state

    @property
    def running(self) -> ReindexJob | None:
        return next((j for j in self.jobs.values() if j.state == "running"), None)

    def start(
        self, requested_by: str, *, user_id: int | None = None, wait_for_replicas: bool = False
    ) -> ReindexJob:
        """Start a job (call from the event loop); refuses while another one runs here. With
        ``wait_for_replicas``, a build on another replica is waited for; without, the job
        fails saying that one runs."""
        current = self.running
        if current is not None:
            raise ReindexInProgressError(
                f"A reindex is already running (job {current.id}, started by "
                f"{current.requested_by}): {current.progress_text()}"
            )
        job = ReindexJob(id=secrets.token_hex(4), requested_by=requested_by, user_id=user_id)
        self.jobs[job.id] = job
        logger.info("Reindex job %s started by %s", job.id, requested_by)
        self._task = asyncio.get_running_loop().create_task(self._run(job, wait_for_replicas))
        return job

    async def start_when_free(
        self, requested_by: str, *, user_id: int | None = None
    ) -> ReindexJob:
        """Start a job; if one is running, wait for it and start another (it may have read the
        corpus before the latest change)."""
        while True:
            try:
                return self.start(requested_by, user_id=user_id, wait_for_replicas=True)
            except ReindexInProgressError:
                await self.wait()

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    @contextlib.asynccontextmanager
    async def _across_replicas(self, job: ReindexJob, wait: bool) -> AsyncIterator[None]:
        """Hold the deployment's reindex lock (nothing to hold without ``database``)."""
        if self.database is None:
            yield
            return
        while True:
            hold = self.database.hold(REINDEX_LOCK)
            if await asyncio.to_thread(hold.__enter__) is not None:
                break
            await asyncio.to_thread(hold.__exit__, None, None, None)
            if not wait:
                raise ReindexInProgressError(
                    "Another replica is reindexing now; the index it builds is served here "
                    "within seconds of being written."
                )
            job.stage = "waiting for another replica's reindex"
            await asyncio.sleep(LOCK_RETRY_SECONDS)
        try:
            yield
        finally:
            await asyncio.to_thread(hold.__exit__, None, None, None)

    async def _run(self, job: ReindexJob, wait_for_replicas: bool = False) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total

        try:
            async with self._across_replicas(job, wait_for_replicas):
                job.report = await asyncio.to_thread(self._build, self.config, progress)
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
