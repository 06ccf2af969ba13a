"""The indexed documents as ``/docs`` and ``storybot docs`` list them: titles, dates, passage
counts and near-duplicates, read from an index's manifest without reading its passages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .metadata import normalize_date

if TYPE_CHECKING:
    from .store import IndexStore

__all__ = ["DocumentInfo", "date_key", "indexed_documents", "latest_documents", "list_documents"]


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """One indexed document, as ``/docs`` and ``storybot docs`` list it."""

    doc_id: str
    title: str
    date: str
    source: str
    url: str
    passages: int
    duplicate_of: str = ""


def date_key(value: str) -> str:
    """A sortable form of a document's date ("" when it has none): ISO dates sort as text."""
    return normalize_date(value)


def list_documents(
    documents: dict[str, dict[str, str]], passage_doc_ids: Iterable[str] | None = None
) -> list[DocumentInfo]:
    """Every indexed document with its passage count, in corpus order: the count the build
    recorded (``passages``), or the one counted from ``passage_doc_ids`` when it is given."""
    counts: dict[str, int] = {}
    if passage_doc_ids is None:
        counts = {d: int(meta.get("passages", 0)) for d, meta in documents.items()}
    else:
        for doc_id in passage_doc_ids:
            counts[doc_id] = counts.get(doc_id, 0) + 1
    return [
        DocumentInfo(
            doc_id=doc_id,
            title=meta.get("title", doc_id),
            date=meta.get("date", ""),
            source=meta.get("source", ""),
            url=meta.get("url", ""),
            passages=counts.get(doc_id, 0),
            duplicate_of=meta.get("duplicate_of", ""),
        )
        for doc_id, meta in documents.items()
    ]


def indexed_documents(store: IndexStore) -> list[DocumentInfo]:
    """The documents of an index with their passage counts, without reading its passages (an
    index written before the build recorded the counts has its passages counted)."""
    documents = store.documents
    if all("passages" in meta for meta in documents.values()):
        return list_documents(documents)
    return list_documents(documents, (p.doc_id for p in store.passages))


def latest_documents(infos: list[DocumentInfo], limit: int) -> list[DocumentInfo]:
    """The newest dated documents first (undated ones are left out)."""
    dated = [d for d in infos if date_key(d.date)]
    return sorted(dated, key=lambda d: (date_key(d.date), d.doc_id), reverse=True)[:limit]
