"""Wiring shared by the command line and the bot: the model and the engine, from the config.

With ``index.other_languages_model`` set (the split), a second index of the same corpus, built
by that model, sits in the ``other`` folder of ``index.path``; the engine answers questions in
another language than English from it (``Engine.for_question``)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from index.build import build_index
from index.build_report import BuildReport, ProgressFn
from index.embedder import Embedder
from index.engine import Engine
from index.errors import IndexOutdatedError
from index.store import IndexStore

from .config import Config
from .deployment_lock import holding_the_reindex_lock

__all__ = [
    "install_other",
    "make_embedder",
    "make_other_embedder",
    "open_engine",
    "other_index_path",
    "reindex",
    "reindex_alone",
]

logger = logging.getLogger(__name__)


def make_embedder(
    config: Config, *, threads: int | None = None, query_cache: int | None = None
) -> Embedder:
    """The configured embedder; ``threads`` and ``query_cache`` override the config's."""
    return _embedder(
        config,
        config.index.model,
        threads,
        query_cache,
        query_prefix=config.build.query_prefix,
        passage_prefix=config.build.passage_prefix,
    )


def make_other_embedder(
    config: Config, *, threads: int | None = None, query_cache: int | None = None
) -> Embedder | None:
    """The embedder of ``index.other_languages_model`` (its own prefixes, the configured backend
    and precision), or None when the split is off; ``threads`` and ``query_cache`` override the
    config's."""
    model = config.index.other_languages_model
    return _embedder(config, model, threads, query_cache) if model else None


def _embedder(
    config: Config,
    model: str,
    threads: int | None,
    query_cache: int | None,
    **prefixes: str,
) -> Embedder:
    """``model`` with the configured backend, precision, batch size and cache (a model's own
    prefixes where ``prefixes`` gives none)."""
    index = config.index
    return Embedder(
        model,
        batch_size=index.batch_size,
        threads=index.threads if threads is None else threads,
        precision=index.precision,
        backend=index.backend,
        onnx_cache=index.onnx_cache,
        query_cache=index.query_cache if query_cache is None else query_cache,
        **prefixes,
    )


def other_index_path(config: Config) -> Path:
    """Where the other-languages index lives (inside ``index.path``)."""
    return config.index.path / "other"


def reindex(
    config: Config,
    load_embedder: Callable[[], Embedder],
    progress: ProgressFn | None = None,
    load_other: Callable[[], Embedder | None] | None = None,
) -> BuildReport:
    """Bring the configured index up to date with the corpus (incremental, single-flight); the
    model is loaded only if there is something to embed. With the split on, the other-languages
    index is brought up to date first (``load_other``: its embedder, made from the config when
    not given), so whoever watches the index for a new generation finds both written."""
    if config.other_embedding_id:
        load = load_other or (lambda: make_other_embedder(config))
        build_index(
            config.corpus.path,
            other_index_path(config),
            config.other_embedding_id,
            lambda: _required(load()),
            dataclasses.replace(config.build_settings(), query_prefix="", passage_prefix=""),
            progress,
        )
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


def _required(embedder: Embedder | None) -> Embedder:
    if embedder is None:
        raise ValueError("index.other_languages_model is set but no embedder was made for it")
    return embedder


def install_other(config: Config, engine: Engine, embedder: Embedder | None = None) -> None:
    """Serve the other-languages index beside ``engine`` (the split), or none when it is off:
    the current generation is loaded, and swapped in when ``engine`` has one already."""
    if not config.other_embedding_id:
        engine.other = None
        return
    store = IndexStore.load(other_index_path(config), config.other_embedding_id)
    if engine.other is not None:
        engine.other.swap(store)
        return
    embedder = embedder or make_other_embedder(config)
    engine.other = Engine(store, _required(embedder), config.ranking_settings())


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
    missing = [p for p in _index_paths(config) if not IndexStore.exists(p)]
    if missing:
        logger.info("No index in %s yet: building it from %s", missing[0], config.corpus.path)
        reindex_alone(config, lambda: embedder, progress, wait=True)
    try:
        engine = Engine(
            IndexStore.load(config.index.path, config.embedding_id),
            embedder,
            config.ranking_settings(),
        )
        install_other(config, engine)
    except IndexOutdatedError as exc:
        logger.warning("%s Rebuilding it from %s now.", exc, config.corpus.path)
        reindex_alone(config, lambda: embedder, progress, wait=True)
        engine = Engine(
            IndexStore.load(config.index.path, config.embedding_id),
            embedder,
            config.ranking_settings(),
        )
        install_other(config, engine)
    return engine


def _index_paths(config: Config) -> list[Path]:
    """The folders the configured engine serves from: the index, and the split's other one."""
    other = [other_index_path(config)] if config.other_embedding_id else []
    return [config.index.path, *other]
