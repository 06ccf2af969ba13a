"""The corpus commands: ``storybot reindex``, ``add``, ``docs`` and ``remove``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import StoryError

from .cli_progress import Progress, reindex_with_progress
from .config import Config

if TYPE_CHECKING:
    from index.listing import DocumentInfo

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the corpus commands on the ``storybot`` parser."""
    reindex = sub.add_parser("reindex", help="bring the index up to date with corpus/")
    reindex.set_defaults(func=cmd_reindex, log_default=logging.WARNING)

    add = sub.add_parser("add", help="add a story (a web page's URL or a .txt/.md/.html/.pdf)")
    add.add_argument("target", help="http(s) URL of the story, or a file")
    add.set_defaults(func=cmd_add, log_default=logging.WARNING)

    docs = sub.add_parser("docs", help="list the indexed documents (dates, passages, ids)")
    docs.add_argument("--latest", type=int, default=0, help="only the N newest, newest first")
    docs.add_argument("--json", action="store_true", help="as a JSON list")
    docs.set_defaults(func=cmd_docs, log_default=logging.WARNING)

    remove = sub.add_parser("remove", help="remove a document from the corpus and reindex")
    remove.add_argument("document", help="its id (as `storybot docs` shows) or file name")
    remove.set_defaults(func=cmd_remove, log_default=logging.WARNING)


def cmd_reindex(args: argparse.Namespace, config: Config) -> int:
    from .runtime import make_embedder, reindex_alone

    progress = Progress()
    try:
        report = reindex_alone(config, lambda: make_embedder(config), progress)
    finally:
        progress.close()
    print(report.summary())
    return 0


def _document_line(info: DocumentInfo) -> str:
    detail = " · ".join(p for p in (info.source, info.date or "no date") if p)
    line = f"{info.doc_id}\n    {info.title} — {detail}; {info.passages} passages"
    if info.duplicate_of:
        line += f"\n    near-duplicate of {info.duplicate_of}"
    return line


def _index_infos(config: Config) -> list[DocumentInfo]:
    from index.listing import indexed_documents
    from index.store import IndexStore

    store = IndexStore.load(config.index.path, config.embedding_id, verify=False)
    return indexed_documents(store)


def cmd_add(args: argparse.Namespace, config: Config) -> int:
    """storybot add URL|FILE: save the story into the corpus, reindex, say what was added."""
    import asyncio

    from index.extraction import megabytes
    from index.fetch import add_url
    from index.ingest import add_upload

    target = args.target
    path = Path(target).expanduser()
    if "://" not in target and path.is_file():
        limit = config.upload_max_bytes
        if path.stat().st_size > limit:  # refused before reading it all into memory
            raise StoryError(f"{path.name} is over the {megabytes(limit)} limit.")
        data = path.read_bytes()
        doc_id, _ = add_upload(config.corpus.path, path.name, data, config.upload_max_bytes)
    elif "://" not in target and not target.lower().startswith(("www.", "http")):
        raise StoryError(f"{target!r} is neither a file nor a web address (http:// or https://).")
    else:
        doc_id, _ = asyncio.run(add_url(config.corpus.path, target, config.fetch_settings()))
    print(f"Saved {config.corpus.path / doc_id}", file=sys.stderr)
    summary = reindex_with_progress(config)
    info = next((i for i in _index_infos(config) if i.doc_id == doc_id), None)
    print("Added " + (_document_line(info) if info else doc_id + " (not indexed: see below)"))
    print(summary)
    return 0


def cmd_docs(args: argparse.Namespace, config: Config) -> int:
    """storybot docs: the indexed documents, with dates, passage counts and ids."""
    from index.listing import latest_documents

    infos = _index_infos(config)
    if args.latest:
        infos = latest_documents(infos, args.latest)
    if args.json:
        import dataclasses

        print(json.dumps([dataclasses.asdict(i) for i in infos], ensure_ascii=False, indent=1))
        return 0
    for info in infos:
        print(_document_line(info))
    print(f"{len(infos)} documents")
    return 0


def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    """storybot remove DOC: delete the document's file from the corpus, then reindex."""
    from index.corpus_files import find_document, remove_document

    corpus = config.corpus.path
    doc_id = find_document(corpus, args.document)
    remove_document(corpus, doc_id)
    print(f"Removed {doc_id}")
    print(reindex_with_progress(config))
    return 0
