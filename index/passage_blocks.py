"""The passages of a generation as zstd blocks: ``passage_block`` (16) passages a frame, each
passage a JSON array, compressed with a dictionary trained on the corpus, and read back a block
at a time through a memory map.

Files of a generation: ``passages.zst`` (the frames; a passage's row is its FAISS id),
``passage_blocks.npy`` (the byte offset of each frame) and ``passages.dict`` (the dictionary,
empty when there were too few passages to train one).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import mmap
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import zstandard

from .passages import Passage

__all__ = ["PASSAGE_BLOCK", "ZSTD_LEVEL", "PassageList", "reuse_dictionary", "write_passages"]

_FIELDS = [f.name for f in dataclasses.fields(Passage)]
PASSAGE_BLOCK = 16
ZSTD_LEVEL = 6  # 3.3x on squad passages with a trained dictionary, ~35 MB/s to compress
_DICTIONARY_BYTES = 65536


def _passage_record(passage: Passage) -> list[Any]:
    return [
        list(v) if f == "sentences" else v for f, v in zip(_FIELDS, _values(passage), strict=True)
    ]


def _values(passage: Passage) -> tuple[Any, ...]:
    return tuple(getattr(passage, f) for f in _FIELDS)


def _passage_from_record(line: bytes) -> Passage:
    record = dict(zip(_FIELDS, json.loads(line), strict=True))
    record["sentences"] = tuple(record["sentences"])
    return Passage(**record)


def reuse_dictionary(previous_passages: int, passages: int) -> bool:
    """Whether a reindex compresses with the previous generation's dictionary rather than
    training one (about a second at 10,000 passages): while the corpus has not doubled."""
    return previous_passages >= 64 * PASSAGE_BLOCK and passages <= 2 * previous_passages


def write_passages(
    folder: Path,
    passages: Sequence[Passage],
    block: int = PASSAGE_BLOCK,
    dictionary: bytes | None = None,
) -> None:
    """passages.zst (zstd frames of ``block`` JSON lines each), passage_blocks.npy (their byte
    offsets) and passages.dict (the dictionary they are compressed with: ``dictionary``, or one
    trained on these passages; empty when there are too few to train one)."""
    blocks = [
        b"\n".join(
            json.dumps(_passage_record(p), ensure_ascii=False).encode("utf-8")
            for p in passages[start : start + block]
        )
        for start in range(0, len(passages), block)
    ]
    if dictionary is None and len(blocks) >= 64:
        sample: list[bytes | bytearray | memoryview[int]] = [
            *blocks[:: max(1, len(blocks) // 4096)]
        ]
        try:
            dictionary = zstandard.train_dictionary(
                _DICTIONARY_BYTES, sample, level=ZSTD_LEVEL
            ).as_bytes()
        except zstandard.ZstdError:  # too little or too uniform text: no dictionary
            dictionary = b""
    dictionary = dictionary or b""
    compressor = zstandard.ZstdCompressor(
        level=ZSTD_LEVEL,
        dict_data=zstandard.ZstdCompressionDict(dictionary) if dictionary else None,
        write_content_size=True,
    )
    offsets = np.zeros(len(blocks) + 1, dtype=np.int64)
    with (folder / "passages.zst").open("wb") as handle:
        for i, data in enumerate(blocks):
            frame = compressor.compress(data)
            handle.write(frame)
            offsets[i + 1] = offsets[i] + len(frame)
    np.save(folder / "passage_blocks.npy", offsets)
    (folder / "passages.dict").write_bytes(dictionary)


class PassageList(Sequence[Passage]):
    """The passages of a generation, decompressed on demand from passages.zst through a memory
    map, a block of passages at a time (recent blocks and passages are cached): nothing is read
    at start-up."""

    def __init__(
        self, path: Path, block_offsets: np.ndarray, count: int, block: int, dictionary: bytes
    ) -> None:
        self._offsets = block_offsets
        self._count = count
        self._block = block
        self._dict = zstandard.ZstdCompressionDict(dictionary) if dictionary else None
        self._local = threading.local()  # a zstd decompressor is not shared between threads
        self._map: mmap.mmap | None = None
        # Caches per instance, so a replaced generation is not kept alive by a shared one.
        self._get = functools.lru_cache(maxsize=8192)(self._read)
        self._lines = functools.lru_cache(maxsize=256)(self._decompress)
        if count and int(block_offsets[-1]) > 0:
            with path.open("rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if len(block_offsets) != -(-count // block) + 1 or (
            count and (self._map is None or len(self._map) != int(block_offsets[-1]))
        ):
            raise ValueError("passages.zst does not match passage_blocks.npy")

    def __len__(self) -> int:
        return self._count

    def _frame(self, number: int) -> bytes:
        assert self._map is not None
        return self._map[int(self._offsets[number]) : int(self._offsets[number + 1])]

    def _decompress(self, number: int) -> list[bytes]:
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = self._local.decompressor = zstandard.ZstdDecompressor(
                dict_data=self._dict
            )
        return decompressor.decompress(self._frame(number)).split(b"\n")

    def _all_lines(self) -> Iterator[bytes]:
        """Every passage's record, in order (each block decompressed once, uncached)."""
        if self._map is None:
            return
        decompressor = zstandard.ZstdDecompressor(dict_data=self._dict)
        for number in range(len(self._offsets) - 1):
            yield from decompressor.decompress(self._frame(number)).split(b"\n")

    def _read(self, row: int) -> Passage:
        return _passage_from_record(self._lines(row // self._block)[row % self._block])

    @overload
    def __getitem__(self, row: int) -> Passage: ...

    @overload
    def __getitem__(self, row: slice) -> list[Passage]: ...

    def __getitem__(self, row: int | slice) -> Passage | list[Passage]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self._get(row)

    def __iter__(self) -> Iterator[Passage]:
        return map(_passage_from_record, self._all_lines())

    @classmethod
    def open(cls, folder: Path, count: int, block: int) -> PassageList:
        """The passages of the generation in ``folder`` (``count`` of them, ``block`` a frame)."""
        return cls(
            folder / "passages.zst",
            np.load(folder / "passage_blocks.npy"),
            count,
            block,
            (folder / "passages.dict").read_bytes(),
        )

    def by_id(self) -> Mapping[str, Passage]:
        """Passages by id; only the ids are scanned (now), a passage is read when asked for."""
        return _PassagesById(self, self.row_by_id())

    def row_by_id(self) -> dict[str, int]:
        """Each passage id's row (every block is decompressed once, on first use)."""
        decoder = json.JSONDecoder()
        rows = {}
        for row, line in enumerate(self._all_lines()):
            # the record starts with the id
            passage_id, _ = decoder.raw_decode(line.decode("utf-8"), 1)
            rows[passage_id] = row
        return rows


class _PassagesById(Mapping[str, Passage]):
    def __init__(self, passages: PassageList, rows: dict[str, int]) -> None:
        self._passages = passages
        self._rows = rows

    def __getitem__(self, passage_id: str) -> Passage:
        return self._passages[self._rows[passage_id]]

    def __contains__(self, passage_id: object) -> bool:
        return passage_id in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)
