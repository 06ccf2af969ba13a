"""Wiring shared by the command line and the bot: the model and the engine, from the config."""

from __future__ import annotations

import logging
from collections.abc import Callable

from index.build import build_index
from index.build_report import BuildReport, ProgressFn
from index.embedder import Embedder
from index.engine import Engine
from index.errors import IndexOutdatedError
from index.store import IndexStore

from .config import Config
from .deployment_lock import holding_the_reindex_lock

__all__ = ["make_embedder", "open_engine", "reindex", "reindex_alone"]

logger = logging.getLogger(__name__)


def make_embedder(
    config: Config, *, threads: int | None = None, query_cache: int | None = None
) -> Embedder:
    """The configured embedder; ``threads`` and ``query_cache`` override the config's."""
    index = config.index
    return Embedder(
        index.model,
        query_prefix=config.build.query_prefix,
        passage_prefix=config.build.passage_prefix,
        batch_size=index.batch_size,
        threads=index.threads if threads is None else threads,
        precision=index.precision,
        backend=index.backend,
        onnx_cache=index.onnx_cache,
        query_cache=index.query_cache if query_cache is None else query_cache,
    )


def reindex(
    config: Config, load_embedder: Callable[[], Embedder], progress: ProgressFn | None = None
) -> BuildReport:
    """Bring the configured index up to date with the corpus (incremental, single-flight); the
    model is loaded only if there is something to embed."""
    return build_index(
        config.corpus.path,
        config.index.path,
        config.embedding_id,
        load_embedder,
        config.build_settings(),
        progress,
    )


def reindex_alone(
    config: Config,
    load_embedder: Callable[[], Embedder],
    progress: ProgressFn | None = None,
    *,
    wait: bool = False,
) -> BuildReport:
    """``reindex`` holding the deployment's reindex lock (PostgreSQL, with ``[state] url``),
    for builds that no reindex job started: waiting for another replica's build with ``wait``,
    else refusing at once while one runs."""
    with holding_the_reindex_lock(config, wait=wait):
        return reindex(config, load_embedder, progress)


def open_engine(
    config: Config, embedder: Embedder | None = None, progress: ProgressFn | None = None
) -> Engine:
    """The engine on the saved index. On a fresh checkout (no index yet) it is built first,
    and an index written by an older storybot or with another model is rebuilt from the
    corpus (it cannot answer, and the corpus holds everything it held). Either build holds the
    deployment's reindex lock; a replica finding another one building waits for that build
    (after which its own finds nothing left to embed).

    A damaged index is not rebuilt behind the user's back: IndexUnavailableError says what is
    wrong and to run ``storybot reindex``.
    """
    embedder = embedder or make_embedder(config)
    if not IndexStore.exists(config.index.path):
        logger.info(
            "No index in %s yet: building it from %s", config.index.path, config.corpus.path
        )
        reindex_alone(config, lambda: embedder, progress, wait=True)
    try:
        store = IndexStore.load(config.index.path, config.embedding_id)
    except IndexOutdatedError as exc:
        logger.warning("%s Rebuilding it from %s now.", exc, config.corpus.path)
        reindex_alone(config, lambda: embedder, progress, wait=True)
        store = IndexStore.load(config.index.path, config.embedding_id)
    return Engine(store, embedder, config.ranking_settings())
