"""The admin page (``GET /admin``): log in with the admin token, then see health, open gaps,
documents (add by URL, remove), feedback over time and the reindex with its live progress.

Every POST passes ``_checked`` first: not from another site, a live session, and the session's
CSRF token in the form. The corpus is changed with the same code as ``/add`` and ``/remove``
(``index/fetch.py``'s ``add_url`` with its address rules, ``index/corpus_files.py``), and the
reindex is the bot's single-flight job (``bot/jobs.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from index.corpus_files import find_document, remove_document
from index.errors import ReindexInProgressError, StoryError
from index.fetch import add_url
from index.listing import indexed_documents

from . import admin_html
from .admin_session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    AdminSession,
    LoginLimiter,
    SessionStore,
    cookie_options,
    cross_site_reason,
    is_https,
    token_matches,
)
from .health import health_report
from .jobs import ReindexJob
from .services import Services
from .svg_chart import daily_series, feedback_chart

__all__ = ["AdminPage"]

logger = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024  # the page's forms hold a token, a URL or a document id
FEEDBACK_DAYS = 30
GAP_DAYS = 7.0  # as /gaps shows them
LOGIN_FORM_SECONDS = 3600  # the login form's token (and cookie) lasts this long
REQUESTER = "admin page"


def security_headers(nonce: str) -> dict[str, str]:
    """A strict policy: nothing from outside, no inline code but the page's own (its nonce),
    no framing, no caching of admin pages."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",  # "no-referrer" makes Chromium post Origin: null
        "Cache-Control": "no-store",
    }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminPage:
    """The page's routes and its logins; one per web server."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.sessions = SessionStore(services.config.web.admin_session_minutes * 60)
        self.limiter = LoginLimiter()
        self._tasks: set[asyncio.Task[Any]] = set()  # reindexes queued behind a running one

    def register(self, app: web.Application) -> None:
        app.router.add_get("/admin", self.index)
        app.router.add_post("/admin/login", self.login)
        app.router.add_post("/admin/logout", self._checked(self.logout))
        app.router.add_post("/admin/documents/add", self._checked(self.add))
        app.router.add_post("/admin/documents/remove", self._checked(self.remove))
        app.router.add_post("/admin/start-reindex", self._checked(self.reindex))
        app.router.add_get("/admin/progress/{job_id}", self.progress)

    # -- responses and checks -----------------------------------------------------------

    def _secure(self, request: web.Request) -> bool:
        return is_https(
            request.scheme,
            request.headers.get("X-Forwarded-Proto", ""),
            self.services.config.web.trust_forwarded_proto,
        )

    def _html(self, render: Callable[[str], str], status: int = 200) -> web.Response:
        nonce = secrets.token_urlsafe(16)
        return web.Response(
            text=render(nonce),
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=security_headers(nonce),
        )

    def _refuse(self, request: web.Request, status: int, message: str) -> web.Response:
        logger.warning(
            "Refused %s %s from %s: %s", request.method, request.path, request.remote, message
        )
        return self._html(
            lambda nonce: admin_html.message_page("Refused", f"Refused: {message}", nonce), status
        )

    def _session(self, request: web.Request) -> AdminSession | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))

    async def _form(self, request: web.Request) -> dict[str, str] | None:
        """The posted form's text fields; None when the body is over MAX_FORM_BYTES."""
        if request.content_length is None or request.content_length > MAX_FORM_BYTES:
            return None
        data = await request.post()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    def _cross_site(self, request: web.Request) -> str:
        scheme = "https" if self._secure(request) else request.scheme
        return cross_site_reason(request.headers, scheme, request.host)

    def _checked(
        self, handler: Callable[[web.Request, AdminSession, dict[str, str]], Awaitable[Any]]
    ) -> Handler:
        """``handler`` behind the POST checks: same site, logged in, CSRF token; it answers
        with a notice (shown on the page it redirects to) or a response of its own."""

        async def checked(request: web.Request) -> web.StreamResponse:
            reason = self._cross_site(request)
            if reason:
                return self._refuse(request, 403, f"{reason}. Use the form on the admin page.")
            session = self._session(request)
            if session is None:
                return self._refuse(
                    request, 401, "you are not logged in, or your session expired. Log in again."
                )
            form = await self._form(request)
            if form is None:
                return self._refuse(request, 413, "the form is missing or too large.")
            given = form.get("csrf", "")
            if not given:
                return self._refuse(
                    request,
                    403,
                    "the form has no CSRF token. Reload the admin page and try again.",
                )
            if not token_matches(given, session.csrf):
                return self._refuse(
                    request,
                    403,
                    "the CSRF token does not match your session. Reload the admin page and "
                    "try again.",
                )
            outcome = await handler(request, session, form)
            if isinstance(outcome, web.StreamResponse):
                return outcome
            session.notice = str(outcome or "")
            raise web.HTTPSeeOther("/admin")

        return checked

    # -- login ----------------------------------------------------------------------------

    def _login_form(self, request: web.Request, message: str, status: int) -> web.Response:
        """The login form, with a fresh token that must come back with it and in its cookie."""
        token = secrets.token_urlsafe(32)
        configured = bool(self.services.config.admin_token.get())
        response = self._html(
            lambda nonce: admin_html.login_page(token, message, nonce, configured=configured),
            status,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            **cookie_options(self._secure(request), LOGIN_FORM_SECONDS),  # type: ignore[arg-type]
        )
        return response

    async def index(self, request: web.Request) -> web.StreamResponse:
        """GET /admin: the page, or the login form."""
        session = self._session(request)
        if session is None:
            expired = SESSION_COOKIE in request.cookies
            message = (
                "Your session has ended (it expired, or the bot restarted): log in again."
                if expired
                else ""
            )
            return self._login_form(request, message, 200)
        return await self._dashboard(session)

    async def login(self, request: web.Request) -> web.StreamResponse:
        """POST /admin/login: the token, checked in constant time, opens a session."""
        reason = self._cross_site(request)
        if reason:
            return self._refuse(request, 403, f"{reason}. Use the form on the admin page.")
        if self.limiter.blocked():
            return self._refuse(request, 429, "too many wrong tokens; wait a minute.")
        form = await self._form(request)
        if form is None:
            return self._refuse(request, 413, "the form is missing or too large.")
        given, cookie = form.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")
        if not given or not token_matches(given, cookie):
            return self._refuse(
                request,
                403,
                "the login form's CSRF token is missing or does not match its cookie. Reload "
                "the admin page and try again.",
            )
        if not token_matches(form.get("token", ""), self.services.config.admin_token.get()):
            self.limiter.failed()
            logger.warning("Wrong admin token on the admin page from %s", request.remote)
            return self._login_form(request, "Wrong admin token.", 401)
        session_id, _ = self.sessions.create()
        logger.info("Admin page login from %s", request.remote)
        response = web.HTTPSeeOther("/admin")
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            **cookie_options(self._secure(request), self.sessions.lifetime),  # type: ignore[arg-type]
        )
        response.del_cookie(LOGIN_COOKIE, path="/admin")
        raise response

    async def logout(
        self, request: web.Request, session: AdminSession, _form: dict[str, str]
    ) -> web.StreamResponse:
        """POST /admin/logout: end the session and drop its cookie."""
        self.sessions.end(session)
        response = web.HTTPSeeOther("/admin")
        response.del_cookie(SESSION_COOKIE, path="/admin")
        raise response

    # -- the page -------------------------------------------------------------------------

    def _latest_job(self) -> ReindexJob | None:
        jobs = self.services.reindexer.jobs.values()
        return self.services.reindexer.running or max(jobs, key=lambda j: j.started, default=None)

    def _feedback(self) -> str:
        today = dt.datetime.now(dt.UTC).date()
        first = today - dt.timedelta(days=FEEDBACK_DAYS - 1)
        since = dt.datetime.combine(first, dt.time(), dt.UTC).timestamp()
        days = daily_series(self.services.state.feedback_by_day(since), first, today)
        up, down = sum(d.up for d in days), sum(d.down for d in days)
        return admin_html.feedback_html(feedback_chart(days), up, down, FEEDBACK_DAYS)

    def _gaps(self) -> str:
        recorder, settings = self.services.gaps, self.services.config.gaps
        if recorder is None:
            return admin_html.gaps_html(None, [], GAP_DAYS, settings.top)
        asked = recorder.store.questions(time.time() - GAP_DAYS * 86400, open_only=False)
        closed = sorted(
            (q for q in asked if q.closed is not None), key=lambda q: -(q.closed or 0.0)
        )
        return admin_html.gaps_html(recorder.gaps(GAP_DAYS), closed, GAP_DAYS, settings.top)

    def _sections(self, session: AdminSession) -> str:
        """Everything the page shows (reads files and the state database: run in a thread)."""
        svc = self.services
        status, report = health_report(svc)
        infos = indexed_documents(svc.engine.store) if svc.engine is not None else []
        return "".join(
            (
                admin_html.header_html(session.csrf),
                admin_html.notice_html(session.notice),
                admin_html.health_html(status, report),
                admin_html.reindex_html(self._latest_job(), session.csrf),
                self._gaps(),
                admin_html.documents_html(infos, session.csrf),
                self._feedback(),
            )
        )

    async def _dashboard(self, session: AdminSession) -> web.Response:
        body = await asyncio.to_thread(self._sections, session)
        session.notice = ""
        return self._html(
            lambda nonce: admin_html.page("storybot admin", body, nonce, script=True)
        )

    async def progress(self, request: web.Request) -> web.Response:
        """GET /admin/progress/{id}: a job's progress as JSON, for the page's poller."""
        if self._session(request) is None:
            return web.json_response({"error": "not logged in"}, status=401)
        job = self.services.reindexer.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "no such job"}, status=404)
        return web.json_response(
            {**job.as_dict(), "text": job.progress_text()}, headers={"Cache-Control": "no-store"}
        )

    # -- actions (each returns the notice the page shows next) ----------------------------

    def _start_reindex(self) -> str:
        """Start the reindex, or queue one behind the job that runs."""
        reindexer = self.services.reindexer
        try:
            job = reindexer.start(REQUESTER)
        except ReindexInProgressError:
            task = asyncio.get_running_loop().create_task(reindexer.start_when_free(REQUESTER))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return "A reindex is running; another one starts when it ends."
        return f"Reindex job {job.id} started."

    async def reindex(
        self, _request: web.Request, _session: AdminSession, _form: dict[str, str]
    ) -> str:
        """POST /admin/start-reindex."""
        return self._start_reindex()

    async def add(
        self, _request: web.Request, _session: AdminSession, form: dict[str, str]
    ) -> str:
        """POST /admin/documents/add: fetch the page (the /add rules), save it, reindex."""
        url = form.get("url", "").strip()
        if not url or len(url) > admin_html.MAX_URL:
            return "Nothing was added: give the story's URL (http or https)."
        config = self.services.config
        try:
            doc_id, article = await add_url(config.corpus.path, url, config.fetch_settings())
        except StoryError as exc:
            return f"Nothing was added: {exc}"
        logger.info("Admin page added %s from %s", doc_id, url)
        return f"Added “{article.title}” as {doc_id}. {self._start_reindex()}"

    async def remove(
        self, _request: web.Request, _session: AdminSession, form: dict[str, str]
    ) -> str:
        """POST /admin/documents/remove: delete the document's file, reindex."""
        corpus = self.services.config.corpus.path
        try:
            doc_id = await asyncio.to_thread(find_document, corpus, form.get("document", ""))
            await asyncio.to_thread(remove_document, corpus, doc_id)
        except StoryError as exc:
            return f"Nothing was removed: {exc}"
        logger.info("Admin page removed %s", doc_id)
        return f"Removed {doc_id}. {self._start_reindex()}"
