"""The ONNX embedding backend: a sentence-transformers model exported once to ONNX, then run with
plain onnxruntime + ``tokenizers`` + numpy (no torch, no sentence-transformers when serving).

The export is cached in a folder (``index.onnx_cache``): one sub-folder per key, the key being a
hash of the model's files (name, size, modification time) and of the export settings (precision,
quantization, opset, format version). Exporting needs torch and sentence-transformers; it happens
once, at the first reindex or start with a new model or precision, and its vectors are checked
against the torch float32 model on probe sentences before the file is put in place (written to a
temporary name, then renamed: a crash never leaves a half-written model that looks complete).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar, cast

import numpy as np

from .encoder import unit_rows
from .errors import ModelLoadError

__all__ = [
    "EXPORT_VERSION",
    "MIN_PROBE_COSINE",
    "OnnxRunner",
    "export_key",
    "export_onnx",
    "length_batches",
    "quantize_int8",
    "write_export",
]

T = TypeVar("T")  # what an export's check compares the staged model with

logger = logging.getLogger(__name__)

# Bumped whenever the exported graph or the quantization recipe changes: old exports are ignored.
# 2: exported with eager attention (plain MatMul/Softmax, 1.3-1.4x faster in onnxruntime than
# the SDPA graph with its mask-handling nodes).
EXPORT_VERSION = 2
OPSET = 17
MODEL_FILE = "model.onnx"
# Lowest cosine with torch float32 accepted at export time, per precision (measured: float32
# gives 1.00000, the int8 recipe 0.993 on these probes; see docs/performance.md).
MIN_PROBE_COSINE = {"float32": 0.999, "int8": 0.97}

# Probe sentences the export is checked on: short and long, with punctuation and numbers, so that
# padding within a batch is exercised.
PROBES = (
    "When will the ministers visit Moscow?",
    "The foreign ministers of Mali, Burkina Faso and Niger will visit Moscow on April 3-4, "
    "the Russian foreign ministry said on Tuesday, after talks on security and trade.",
    "A short one.",
    "Super Bowl 50 was an American football game to determine the champion of the National "
    "Football League (NFL) for the 2015 season. The American Football Conference (AFC) champion "
    "Denver Broncos defeated the National Football Conference (NFC) champion Carolina Panthers "
    "24-10 to earn their third Super Bowl title.",
    "Which NFL team represented the AFC at Super Bowl 50?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
)


def _model_files(model_path: Path) -> list[Path]:
    return sorted(p for p in model_path.rglob("*") if p.is_file() and ".cache" not in p.parts)


def export_key(model_path: Path, precision: str) -> str:
    """The cache key of an export: the model's files (relative name, size, modification time)
    and the export settings. Changing the model or the recipe gives a new key."""
    digest = hashlib.sha256()
    settings = {"precision": precision, "opset": OPSET, "version": EXPORT_VERSION}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in _model_files(model_path):
        stat = path.stat()
        digest.update(
            f"{path.relative_to(model_path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:20]


def check_pooling(model_path: Path) -> None:
    """The ONNX backend reproduces Transformer -> mean pooling (-> Normalize); refuse others."""
    modules_file = model_path / "modules.json"
    try:
        modules = json.loads(modules_file.read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("models.Pooling"))
        pooling = json.loads((model_path / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise ModelLoadError(
            f"The ONNX backend needs a sentence-transformers model with a pooling module; "
            f'{model_path} has none readable ({exc}). Use index.backend = "torch".'
        ) from None
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"] or not set(kinds) <= {
        "Transformer",
        "Pooling",
        "Normalize",
    }:
        raise ModelLoadError(
            f"The ONNX backend supports Transformer + mean pooling (+ Normalize) models only; "
            f'{model_path} has modules {kinds} and pooling {modes}. Use index.backend = "torch".'
        )


def max_seq_length(model_path: Path) -> int:
    try:
        config = json.loads((model_path / "sentence_bert_config.json").read_text())
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 512


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Positions of the texts grouped in batches of similar length (longest first), so that
    little padding is computed."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), max(1, batch_size))]


def export_onnx(model_path: Path, cache_dir: Path, precision: str) -> Path:
    """The path of the exported (and, for ``int8``, quantized) model, exporting it if the cache
    lacks it. Needs torch and sentence-transformers only when it exports."""
    check_pooling(model_path)
    folder = cache_dir / export_key(model_path, precision)
    target = folder / MODEL_FILE
    if target.is_file():
        return target
    logger.info("Exporting %s to ONNX (%s) in %s", model_path, precision, folder)

    def check(staged: Path, reference: np.ndarray) -> dict[str, object]:
        runner = OnnxRunner(
            model_path / "tokenizer.json",
            staged,
            max_seq_length(model_path),
            threads=0,
            per_item=precision == "int8",
        )
        vectors = unit_rows(runner.encode(list(PROBES), 4))
        cosine = float((vectors * reference).sum(axis=1).min())
        if cosine < MIN_PROBE_COSINE[precision]:
            raise ModelLoadError(
                f"The ONNX export of {model_path} ({precision}) does not match the torch model: "
                f"cosine {cosine:.4f} < {MIN_PROBE_COSINE[precision]} on the probe sentences."
            )
        logger.info("ONNX export ready (probe cosine with torch float32 >= %.5f)", cosine)
        return {"model": str(model_path), "precision": precision, "probe_cosine_min": cosine}

    write_export(target, precision, lambda fp32: _export_float32(model_path, fp32), check)
    return target


def write_export(
    target: Path,
    precision: str,
    export_float32: Callable[[Path], T],
    check: Callable[[Path, T], dict[str, object]],
) -> None:
    """Export a model to ``target`` without ever leaving half a file there: ``export_float32``
    writes the float32 graph to a file beside it (and returns what ``check`` compares with),
    which is quantized for ``int8``; ``check`` reads the staged model and returns the metadata
    written to ``export.json`` (or raises); only then is the model moved into place."""
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    fp32 = tmp.with_suffix(".fp32.onnx")
    try:
        reference = export_float32(fp32)
        if precision == "int8":
            quantize_int8(fp32, tmp)
        else:
            fp32.replace(tmp)
        meta = check(tmp, reference)
        (folder / "export.json").write_text(json.dumps(meta, indent=1))
        tmp.replace(target)
    finally:
        for leftover in (tmp, fp32):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _export_float32(model_path: Path, target: Path) -> np.ndarray:
    """Export the transformer with mean pooling to ``target``; returns the torch float32
    vectors of the probe sentences (the reference the export is checked against)."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise ModelLoadError(f"Exporting to ONNX needs torch: {exc}") from None

    reference_model = SentenceTransformer(str(model_path), device="cpu").eval()
    reference = reference_model.encode(
        list(PROBES), convert_to_numpy=True, normalize_embeddings=True
    )
    # Eager attention exports as plain MatMul/Softmax, which onnxruntime runs faster than the
    # default SDPA path's graph (NaN checks and mask reshaping around every attention).
    st = SentenceTransformer(
        str(model_path), device="cpu", model_kwargs={"attn_implementation": "eager"}
    ).eval()
    transformer = cast(torch.nn.Module, st[0].auto_model).eval()
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in st.tokenizer.model_input_names:
        names.append("token_type_ids")

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kwargs = dict(zip(names, inputs, strict=True))
            hidden = self.transformer(**kwargs).last_hidden_state
            mask = kwargs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    # A padded batch of two different lengths, so that no shape or mask is traced as constant.
    sample = st.tokenizer(
        ["a short one", "a somewhat longer sentence than the other"],
        padding=True,
        return_tensors="pt",
    )
    inputs = tuple(sample[n] for n in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
    # The exporter's tracer warns about every data-dependent branch of the model; the export is
    # checked against torch on the probe sentences instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            MeanPooled(),
            inputs,
            str(target),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return np.asarray(reference, dtype=np.float32)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weight matrix multiplications (see
    docs/performance.md for the recipe's measurements)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
        )


# onnxruntime 1.32's fused SkipLayerNormalization kernel took 0.34 ms a call on a 148 x 384
# tensor where the unfused Add + LayerNormalization take a fraction of that: without the
# fusion, one session embeds 12-17 % more tokens per second (docs/performance.md).
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


def worker_count(threads: int) -> int:
    """How many workers to run: ``threads``, or every core this process may use when it is 0
    (the ONNX runs, and the bot's answering threads)."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class OnnxRunner:
    """One single-threaded onnxruntime session, run by up to ``workers`` threads at once, and
    the model's fast tokenizer. Mean-pooled vectors, not yet normalised (the Embedder
    normalises).

    Several one-thread runs on different texts at once embed 1.5-2x more tokens per second on
    two cores than one run whose two threads split each matrix product (measured in
    docs/performance.md); concurrent questions in the bot run at once too. The runs
    share the session (onnxruntime's ``run`` is thread-safe), so its weights are in memory and
    in the processor's caches once: with a session per worker, a question alternated between
    two copies of the weights."""

    def __init__(
        self,
        tokenizer_file: Path,
        onnx_file: Path,
        max_tokens: int,
        threads: int = 0,
        per_item: bool = False,
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelLoadError(
                f'index.backend = "onnx" needs onnxruntime and tokenizers: {exc}'
            ) from None
        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.workers = worker_count(threads)
        self.session = ort.InferenceSession(
            str(onnx_file),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=DISABLED_OPTIMIZERS,
        )
        # At most ``workers`` runs at once: more would only share the cores.
        self._slots = threading.BoundedSemaphore(self.workers)
        self.pool = (
            ThreadPoolExecutor(self.workers, thread_name_prefix="onnx")
            if self.workers > 1
            else None
        )
        # Dynamic int8 quantization scales activations by the whole batch (padding included):
        # one text per run makes a text's vector independent of the texts embedded with it.
        self.per_item = per_item
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, special tokens included, at most ``max_tokens``."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def count_tokens(self, texts: Sequence[str]) -> int:
        return sum(len(ids) for ids in self.tokenize(texts))

    def _run(self, tokens: Sequence[list[int]], rows: np.ndarray) -> np.ndarray:
        width = len(tokens[rows[0]])
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for j, row in enumerate(rows):
            n = len(tokens[row])
            ids[j, :n], mask[j, :n] = tokens[row], 1
        # One segment: token types are all 0 (for the models whose graph takes them).
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._slots:
            (vectors,) = self.session.run(None, {k: feed[k] for k in self.inputs})
        return vectors

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.run_tokens(self.tokenize(texts), batch_size)

    def run_tokens(self, tokens: Sequence[list[int]], batch_size: int) -> np.ndarray:
        """Token id lists to their mean-pooled vectors, batched by length."""
        out = np.zeros((len(tokens), self.dimension), dtype=np.float32)
        size = 1 if self.per_item else batch_size
        batches = length_batches([len(t) for t in tokens], size)
        if self.pool is None or len(batches) == 1:
            for rows in batches:
                out[rows] = self._run(tokens, rows)
            return out
        # Longest first, so the workers finish together; onnxruntime releases the GIL.
        for rows, vectors in zip(
            batches, self.pool.map(lambda r: self._run(tokens, r), batches), strict=True
        ):
            out[rows] = vectors
        return out
