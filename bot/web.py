"""aiohttp routes on the bot's event loop: Telegram webhook, health, metrics, admin API."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from telegram import Update
from telegram.ext import Application

from index.errors import ReindexInProgressError

from .admin_page import AdminPage
from .context import BotApplication
from .health import health_report
from .services import Services

__all__ = ["SERVICES_KEY", "create_web_app"]

logger = logging.getLogger(__name__)

SERVICES_KEY = web.AppKey("services", Services)
APPLICATION_KEY = web.AppKey("application", Application)
ACCEPTING_KEY = web.AppKey("accepting", dict)
MAX_UPDATE_BYTES = 1024 * 1024


def _services(request: web.Request) -> Services:
    return request.app[SERVICES_KEY]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, indent=1))


async def healthz(request: web.Request) -> web.Response:
    """200 when the bot can answer, else 503 with the reason (``bot/health.py``)."""
    status, report = health_report(_services(request))
    return _json(report, status=status)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    body = _services(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _authorised(request: web.Request, expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


def _refuse(request: web.Request, what: str) -> web.Response:
    logger.warning("Refused %s %s from %s: %s", request.method, request.path, request.remote, what)
    return _json({"error": "unauthorized"}, status=401)


async def start_reindex(request: web.Request) -> web.Response:
    """POST /admin/reindex: start the single-flight reindex; 409 while one runs."""
    svc = _services(request)
    if not _authorised(request, svc.config.admin_token.get()):
        return _refuse(request, "missing or wrong admin token")
    try:
        job = svc.reindexer.start("admin API")
    except ReindexInProgressError as exc:
        running = svc.reindexer.running
        return _json({"error": str(exc), "job": running.as_dict() if running else None}, 409)
    return _json({"job": job.id, "status_url": f"/admin/reindex/{job.id}"}, status=202)


async def reindex_status(request: web.Request) -> web.Response:
    """GET /admin/reindex/{id}: a job's progress and, once done, its summary."""
    svc = _services(request)
    if not _authorised(request, svc.config.admin_token.get()):
        return _refuse(request, "missing or wrong admin token")
    job = svc.reindexer.jobs.get(request.match_info["job_id"])
    if job is None:
        return _json({"error": "no such job"}, status=404)
    return _json(job.as_dict())


async def telegram_webhook(request: web.Request) -> web.Response:
    """Telegram's POST: check the secret, queue the update, answer at once."""
    svc = _services(request)
    secret = svc.config.webhook_secret.get()
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        logger.warning("Refused a webhook post from %s: wrong or missing secret", request.remote)
        return web.Response(status=403, text="forbidden")
    if not request.app[ACCEPTING_KEY]["open"]:
        return web.Response(status=503, text="shutting down")  # Telegram will deliver it again
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return web.Response(status=413, text="too large")
    if svc.storage:  # it could not be stored: Telegram keeps it and posts it again later
        return web.Response(status=503, text="storage unavailable")
    try:
        data = await request.json()
        application = request.app[APPLICATION_KEY]
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("Ignored a webhook post that is not an update: %s", exc)
        return web.Response(status=400, text="not an update")
    await application.update_queue.put(update)
    return web.Response(status=200)


def create_web_app(
    application: BotApplication,
    services: Services,
    *,
    webhook: bool,
) -> web.Application:
    """The aiohttp application; ``webhook`` adds the route Telegram posts updates to."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[SERVICES_KEY] = services
    app[APPLICATION_KEY] = application
    app[ACCEPTING_KEY] = {"open": True}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/admin/reindex", start_reindex)
    app.router.add_get("/admin/reindex/{job_id}", reindex_status)
    AdminPage(services).register(app)
    if webhook:
        app.router.add_post(services.config.web.webhook_path, telegram_webhook)
    return app


def stop_accepting(app: web.Application) -> None:
    """From now on webhook posts get 503, so Telegram keeps them for the next start."""
    app[ACCEPTING_KEY]["open"] = False
