"""What the handlers share (``Services``): the engine and its hot swap, per-chat order, flood
limits, the answering threads, the reindexer and the metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from index.embedder import Embedder
from index.engine import Engine
from index.errors import IndexUnavailableError, StoryError
from index.onnx_backend import worker_count
from index.store import IndexStore

from .config import Config
from .gap_recorder import GapRecorder
from .jobs import Reindexer
from .metrics import Metrics
from .state import StateStore

logger = logging.getLogger(__name__)

__all__ = ["Services"]

MAX_TRACKED = 10_000  # chats whose lock is kept, and users whose questions are counted


@dataclass(slots=True)
class Services:
    """What the handlers share; they reach it as ``context.services`` (``bot/context.py``).

    ``engine`` is None until the model and index are loaded, or when loading failed; then
    ``unavailable`` says why, questions get a polite "not ready", ``/healthz`` answers 503, and
    an admin's ``/reindex`` can still build an index and bring the bot up.
    """

    config: Config
    state: StateStore
    engine: Engine | None = None
    embedder: Embedder | None = None
    # Records questions the bot could not answer well (``bot/gap_recorder.py``); None: off.
    gaps: GapRecorder | None = None
    # Called (on the event loop) with each new index generation put into service.
    index_listeners: list[Callable[[IndexStore], None]] = field(default_factory=list)
    unavailable: str = "The index is still loading."
    metrics: Metrics = field(default_factory=Metrics)
    reindexer: Reindexer = field(init=False)
    started: float = field(default_factory=time.time)
    _locks: OrderedDict[int, asyncio.Lock] = field(default_factory=OrderedDict)
    _asked: dict[int, deque[float]] = field(default_factory=dict)
    _warned: dict[int, float] = field(default_factory=dict)
    _pruned: float = float("-inf")  # when the flood counters were last pruned
    # Questions are answered on a few threads of their own (``chat.answer_threads``): the
    # engine's Python work holds the interpreter lock, and more threads than cores only wait
    # for it in turn.
    answering: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.answering = ThreadPoolExecutor(
            worker_count(self.config.chat.answer_threads), thread_name_prefix="answer"
        )
        self.reindexer = Reindexer(self.config, self.install, metrics=self.metrics)
        if self.engine is not None:
            self.install(self.engine.store)

    def install(self, store: IndexStore) -> None:
        """Serve from a (new) index: swap it into the engine, or start the engine with it. A
        generation other than the one served is then handed to ``index_listeners``."""
        previous = self.engine.store.folder if self.engine is not None else None
        if self.engine is not None:
            self.engine.swap(store)
        elif self.embedder is not None:
            self.engine = Engine(store, self.embedder, self.config.ranking_settings())
        else:
            raise StoryError("The embedding model is not loaded, so no index can be served.")
        self._install_other(self.engine)
        self.unavailable = ""
        self.metrics.set_index(len(store), store.size_bytes)
        if previous is not None and previous != store.folder:
            for listener in self.index_listeners:
                listener(store)

    def _install_other(self, engine: Engine) -> None:
        """The split's other-languages index beside the new one (a reindex brings both up to
        date); while it cannot be read, the engine keeps the one it had."""
        from .runtime import install_other

        try:
            install_other(self.config, engine)
        except IndexUnavailableError as exc:
            logger.warning("Other-languages index not served: %s", exc)

    @property
    def storage(self) -> str:
        """Why the bot's SQLite file cannot be written now ("" while it can)."""
        return self.state.health.problem

    def ready_engine(self) -> Engine:
        """The engine, or StoryError with a message for the user when it cannot answer."""
        if self.engine is None:
            raise StoryError(f"I am not ready to answer yet. {self.unavailable}")
        return self.engine

    def chat_lock(self, chat_id: int) -> asyncio.Lock:
        """One lock per chat, so that replies in a chat go out in the order asked."""
        lock = self._locks.pop(chat_id, None) or asyncio.Lock()
        self._locks[chat_id] = lock
        while len(self._locks) > MAX_TRACKED:
            oldest, old_lock = next(iter(self._locks.items()))
            if old_lock.locked():
                break
            del self._locks[oldest]
        return lock

    def flood_check(self, user_id: int | None, now: float) -> str:
        """ "ok" to answer; "warn" for the first question over the user's limit; "drop" after."""
        if user_id is None or self.config.chat.flood_questions <= 0:
            return "ok"
        window = self.config.chat.flood_seconds
        if len(self._asked) > MAX_TRACKED and now >= self._pruned + window:
            self._pruned = now  # forget users who have not asked within the window
            for uid in [u for u, t in self._asked.items() if not t or t[-1] <= now - window]:
                del self._asked[uid]
                self._warned.pop(uid, None)
        asked = self._asked.setdefault(user_id, deque())
        while asked and asked[0] <= now - window:
            asked.popleft()
        if len(asked) < self.config.chat.flood_questions:
            asked.append(now)
            return "ok"
        if self._warned.get(user_id, 0.0) > now - window:
            return "drop"
        self._warned[user_id] = now
        return "warn"

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.config.telegram.admins
