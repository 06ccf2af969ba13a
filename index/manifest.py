"""The manifest of an index generation (manifest.json): the model, counts, fingerprints, codecs,
the format version, and the size and checksum of every file, which loading checks."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import IndexOutdatedError, IndexUnavailableError

__all__ = [
    "FORMAT_VERSION",
    "REBUILD",
    "Manifest",
    "damaged",
    "file_entries",
    "read_manifest",
    "verify_files",
]

FORMAT_VERSION = 4
REBUILD = "Run `storybot reindex` to rebuild it."
CHECKSUM_LIMIT = 32 * 1024 * 1024  # files above this are checked by size only, to start fast


@dataclass(frozen=True, slots=True)
class Manifest:
    model: str
    dimension: int
    passage_count: int
    sentence_count: int
    document_count: int
    corpus_fingerprint: str
    settings_fingerprint: str
    built_at: float
    faiss_type: str
    files: dict[str, dict[str, Any]]
    format_version: int = FORMAT_VERSION
    sentence_codec: str = "int8"  # or "pq" (product-quantised codes, above sentence_pq_above)
    passage_block: int = 16  # passages per compressed block of passages.zst
    # The languages the documents are written in (index/language.py), sorted; None in an index
    # written before they were recorded (the next build records them, reusing every vector).
    languages: list[str] | None = None

    @property
    def version(self) -> str:
        """A short id of this build, shown in /healthz and /stats."""
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(self.built_at))}"

    def write(self, folder: Path) -> None:
        (folder / "manifest.json").write_text(json.dumps(asdict(self), indent=1))


def damaged(folder: Path, what: str) -> IndexUnavailableError:
    """The error for an index that cannot be read: what is wrong, and how to mend it."""
    return IndexUnavailableError(f"The index in {folder} is damaged: {what}. {REBUILD}")


def read_manifest(gen: Path) -> Manifest:
    """The manifest of the generation ``gen``. IndexOutdatedError for an older format;
    ValueError, TypeError or OSError when it is missing or unreadable."""
    try:
        raw = json.loads((gen / "manifest.json").read_text())
    except FileNotFoundError:
        raise ValueError("manifest.json is missing") from None
    version = raw.get("format_version")
    if isinstance(version, int) and version < FORMAT_VERSION:
        raise IndexOutdatedError(
            f"The index in {gen.parent} was written by an older storybot (index format "
            f"{version}; this one reads format {FORMAT_VERSION}). {REBUILD}"
        )
    if version != FORMAT_VERSION:
        raise ValueError(f"format version {version} is not supported")
    return Manifest(**raw)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(folder: Path) -> dict[str, dict[str, Any]]:
    """Size of every file under ``folder``, and its sha256 up to ``CHECKSUM_LIMIT`` bytes."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            size = path.stat().st_size
            entry: dict[str, Any] = {"size": size}
            if size <= CHECKSUM_LIMIT:
                entry["sha256"] = sha256(path)
            files[path.relative_to(folder).as_posix()] = entry
    return files


def verify_files(gen: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is there, with its size and checksum."""
    for rel, entry in manifest.files.items():
        path = gen / rel
        if not path.is_file():
            raise damaged(gen.parent, f"{rel} is missing")
        if path.stat().st_size != entry["size"] or (
            "sha256" in entry and sha256(path) != entry["sha256"]
        ):
            raise damaged(gen.parent, f"{rel} has changed since it was built")
