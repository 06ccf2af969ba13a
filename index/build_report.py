"""What a reindex did: documents added, changed, removed, skipped, near-duplicates, and what was
embedded; for the command line, the bot's progress message and the admin API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["BuildReport", "ProgressFn"]

# (stage, done, total): stages are "reading", "embedding", "writing".
ProgressFn = Callable[[str, int, int], None]


@dataclass(slots=True)
class BuildReport:
    """What a reindex did, for the command line, the bot's progress message and the admin API."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (document, reason)
    kept_previous: list[str] = field(default_factory=list)  # unreadable now, old version kept
    duplicates: list[tuple[str, str, float]] = field(default_factory=list)  # (doc, copy of, sim)
    documents: int = 0
    passages: int = 0
    embedded: int = 0  # passages embedded in this run (the rest were reused)
    tokens: int = 0
    seconds: float = 0.0
    unchanged: bool = False  # nothing to do: the index was already up to date

    def summary(self) -> str:
        if self.unchanged:
            return (
                f"Index is up to date: {self.documents} documents, {self.passages} passages "
                f"({self.seconds:.1f} s)."
            )
        text = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed; "
            f"{self.documents} documents, {self.passages} passages "
            f"({self.embedded} embedded) in {self.seconds:.1f} s."
        )
        for doc, reason in self.skipped:
            text += f"\nSkipped {doc}: {reason}"
            if doc in self.kept_previous:
                text += " (its previous version stays indexed)"
        for doc, original, similarity in self.duplicates:
            text += (
                f"\nNear-duplicate: {doc} repeats {original} ({similarity:.0%} of its text); "
                "answers cite only one of them."
            )
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "skipped": [{"document": d, "reason": r} for d, r in self.skipped],
            "kept_previous": self.kept_previous,
            "duplicates": [
                {"document": d, "duplicate_of": o, "similarity": s} for d, o, s in self.duplicates
            ],
            "documents": self.documents,
            "passages": self.passages,
            "embedded": self.embedded,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "unchanged": self.unchanged,
        }
