"""The reader's model made runnable: the bundled all-MiniLM-L6-v2 with the shipped weight delta
(``index/reader/reader_delta.npz``, written by ``benchmarks/train_reader.py``) merged into it,
exported once to ONNX in the ONNX cache, like the embedder (``onnx_backend``).

The delta holds, for each adapted top layer, low-rank factors ``a`` (rank x in) and ``b``
(out x rank) of every weight matrix (the merged weight is ``W + alpha / rank * b @ a``), the
layers' biases and layer norms, and the three heads. Exporting needs torch and transformers;
the export is checked against the torch model on probe pairs before it is put in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelLoadError
from .onnx_backend import OPSET, write_export

__all__ = ["DELTA_FILE", "READER_EXPORT_VERSION", "export_reader"]

logger = logging.getLogger(__name__)

DELTA_FILE = Path(__file__).resolve().parent / "reader" / "reader_delta.npz"
READER_EXPORT_VERSION = 1
# Largest difference accepted between the export's and torch's "here" probabilities on the
# probe pairs, per precision.
MAX_PROBE_DIFFERENCE = {"float32": 1e-3, "int8": 0.1}
# The transformers names of the delta's matrices, layer norms included.
_PARTS = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attn_out": "attention.output.dense",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
    "ln1": "attention.output.LayerNorm",
    "ln2": "output.LayerNorm",
}
PROBES = (
    ("When will the ministers visit Moscow?", "The ministers will visit Moscow on April 3-4."),
    (
        "Which NFL team represented the AFC at Super Bowl 50?",
        "The AFC champion Denver Broncos defeated the NFC champion Carolina Panthers 24-10.",
    ),
    ("Who wrote it?", "Photosynthesis converts light energy into chemical energy."),
)


def _key(base: Path, delta: Path, precision: str) -> str:
    digest = hashlib.sha256()
    settings = {"precision": precision, "opset": OPSET, "version": READER_EXPORT_VERSION}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(hashlib.sha256(delta.read_bytes()).digest())
    weights = base / "model.safetensors"
    digest.update(f"{weights.stat().st_size}\0{weights.stat().st_mtime_ns}".encode())
    return "reader-" + digest.hexdigest()[:20]


def export_reader(base: Path, cache_dir: Path, precision: str, delta: Path = DELTA_FILE) -> Path:
    """The path of the exported reader (``float32`` or ``int8``), exporting it if the cache
    lacks it."""
    if not delta.is_file():
        raise ModelLoadError(f"The reader's weights are missing: {delta}")
    folder = cache_dir / _key(base, delta, precision)
    target = folder / "reader.onnx"
    if target.is_file():
        return target
    logger.info("Exporting the reader to ONNX (%s) in %s", precision, folder)

    def check(staged: Path, reference: np.ndarray) -> dict[str, object]:
        difference = _probe_difference(base, staged, reference)
        if difference > MAX_PROBE_DIFFERENCE[precision]:
            raise ModelLoadError(
                f"The reader's ONNX export ({precision}) does not match the torch model: "
                f"{difference:.4f} > {MAX_PROBE_DIFFERENCE[precision]} on the probe pairs."
            )
        return {"delta": str(delta), "precision": precision, "probe_difference": difference}

    write_export(target, precision, lambda fp32: _export_float32(base, delta, fp32), check)
    return target


def _probe_difference(base: Path, onnx_file: Path, reference: np.ndarray) -> float:
    from .reader import Reader

    reader = Reader(onnx_file, base / "tokenizer.json")
    here = np.array([reader.read(q, [s])[0].here for q, s in PROBES])
    return float(np.abs(here - reference).max())


def merged_model(base: Path, delta: Path) -> Any:
    """The torch model: base + delta, with the heads; outputs start logits, end logits and
    the "answer is here" logit."""
    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(str(base), attn_implementation="eager").eval()
    arrays = np.load(delta)
    meta = json.loads(bytes(arrays["meta"]).decode())
    scale = float(meta["alpha"]) / int(meta["rank"])
    frozen = int(meta["frozen"])

    def tensor(name: str) -> torch.Tensor:
        return torch.from_numpy(arrays[name].astype(np.float32))

    with torch.no_grad():
        for i, layer in enumerate(bert.encoder.layer[frozen:]):
            for short, path in _PARTS.items():
                module = layer.get_submodule(path)
                prefix = f"layers.{i}.{short}"
                if short.startswith("ln"):
                    module.weight.copy_(tensor(f"{prefix}.weight"))
                else:
                    module.weight += scale * tensor(f"{prefix}.b") @ tensor(f"{prefix}.a")
                module.bias.copy_(tensor(f"{prefix}.bias"))
    span, here = torch.nn.Linear(384, 2), torch.nn.Linear(384, 1)
    with torch.no_grad():
        for head, name in ((span, "span"), (here, "here")):
            head.weight.copy_(tensor(f"{name}.weight"))
            head.bias.copy_(tensor(f"{name}.bias"))

    class ReaderModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert, self.span, self.here = bert, span, here

        def forward(
            self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            hidden = self.bert(
                input_ids=ids, attention_mask=mask, token_type_ids=types
            ).last_hidden_state
            logits = self.span(hidden)
            return logits[..., 0], logits[..., 1], self.here(hidden[:, 0]).squeeze(-1)

    return ReaderModel().eval()


def _export_float32(base: Path, delta: Path, target: Path) -> np.ndarray:
    """Export base + delta to ``target``; returns torch's "here" probabilities of the probes."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - dependencies
        raise ModelLoadError(f"Exporting the reader needs torch: {exc}") from None
    from .reader import load_tokenizer, pair_input

    model = merged_model(base, delta)
    tokenizer = load_tokenizer(base / "tokenizer.json")
    pairs = []
    for question, sentence in PROBES:
        q = tokenizer.encode(question, add_special_tokens=False)
        s = tokenizer.encode(sentence, add_special_tokens=False)
        pairs.append(pair_input(q.ids, s.ids, s.offsets))
    width = max(len(p.ids) for p in pairs)
    ids = torch.zeros((len(pairs), width), dtype=torch.int64)
    types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
    for row, p in enumerate(pairs):
        n = len(p.ids)
        ids[row, :n], types[row, :n], mask[row, :n] = (
            torch.tensor(p.ids),
            torch.tensor(p.types),
            1,
        )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes |= {"start": {0: "batch", 1: "tokens"}, "end": {0: "batch", 1: "tokens"}}
    axes |= {"here": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = torch.sigmoid(model(ids, mask, types)[2]).numpy()
        torch.onnx.export(
            model,
            (ids, mask, types),
            str(target),
            input_names=names,
            output_names=["start", "end", "here"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return np.asarray(reference, dtype=np.float64)
