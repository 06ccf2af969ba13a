"""What ``/healthz`` and the admin page report: can the bot answer now, and from which index."""

from __future__ import annotations

import time

from .services import Services

__all__ = ["health_report"]


def health_report(svc: Services) -> tuple[int, dict[str, object]]:
    """(HTTP status, report): 200 with the index version, passage count and model when the bot
    can answer; else 503 with the reason: the index is not loaded, or the state file cannot be
    written (updates wait meanwhile)."""
    running = svc.reindexer.running
    if svc.engine is None:
        return 503, {"status": "unavailable", "reason": svc.unavailable}
    if svc.storage:
        return 503, {"status": "degraded", "reason": svc.storage}
    manifest = svc.engine.store.manifest
    return 200, {
        "status": "ok",
        "index_version": manifest.version,
        "passages": manifest.passage_count,
        "documents": manifest.document_count,
        "model": manifest.model,
        "reindexing": running.id if running else None,
        "uptime_seconds": round(time.time() - svc.started, 1),
    }
