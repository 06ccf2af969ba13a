"""The admin page (``GET /admin``): log in with the admin token, then see health, open gaps,
documents (add by URL, remove), feedback over time and the reindex with its live progress.

Every POST passes ``_checked`` first: not from another site, a live session, and the session's
CSRF token in the form; what its buttons do is ``bot/admin_actions.py``. Every fixed text is
in the page's language (``bot/admin_language.py``): the admin's EN/FR choice, else the
browser's.
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

from index.listing import indexed_documents

from . import admin_html
from .admin_actions import PageActions
from .admin_language import (
    LANGUAGE_COOKIE,
    LANGUAGE_COOKIE_SECONDS,
    chosen_language,
    page_language,
)
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
from .i18n import ENGLISH, LANGUAGES, Translator, translator
from .jobs import ReindexJob
from .services import Services
from .svg_chart import daily_series, feedback_chart

__all__ = ["AdminPage"]

logger = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024  # the page's forms hold a token, a URL or a document id
FEEDBACK_DAYS = 30
GAP_DAYS = 7.0  # as /gaps shows them
LOGIN_FORM_SECONDS = 3600  # the login form's token (and cookie) lasts this long


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Reason = Callable[[Translator], str]  # a refusal's reason, written in a given language


def _form_too_large(tr: Translator) -> str:
    return tr.gettext("the form is missing or too large.")


def _reload(tr: Translator, reason: str) -> str:
    return tr.gettext("{reason} Reload the admin page and try again.").format(reason=reason)


def _login_csrf(tr: Translator) -> str:
    return _reload(
        tr, tr.gettext("the login form's CSRF token is missing or does not match its cookie.")
    )


def _logged_out(tr: Translator) -> str:
    return tr.gettext("you are not logged in, or your session expired. Log in again.")


def _session_csrf(tr: Translator) -> str:
    return _reload(tr, tr.gettext("the CSRF token does not match your session."))


class AdminPage:
    """The page's routes and its logins; one per web server."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.sessions = SessionStore(services.config.web.admin_session_minutes * 60)
        self.limiter = LoginLimiter()
        self.actions = PageActions(services)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/admin", self.index)
        app.router.add_post("/admin/login", self.login)
        app.router.add_post("/admin/logout", self._checked(self.logout))
        app.router.add_post("/admin/language", self.switch_language)
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

    @staticmethod
    def language(request: web.Request) -> str:
        """The page's language for ``request``: the switch's cookie, else Accept-Language."""
        return page_language(
            chosen_language(request.cookies), request.headers.get("Accept-Language", "")
        )

    def _tr(self, request: web.Request) -> Translator:
        return translator(self.language(request))

    def _html(self, render: Callable[[str], str], status: int = 200) -> web.Response:
        nonce = secrets.token_urlsafe(16)
        return web.Response(
            text=render(nonce),
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=admin_html.security_headers(nonce),
        )

    def _refuse(self, request: web.Request, status: int, reason: Reason) -> web.Response:
        """A page that says why ``request`` is refused, in its language (logged in English)."""
        logger.warning(
            "Refused %s %s from %s: %s",
            request.method,
            request.path,
            request.remote,
            reason(ENGLISH),
        )
        language = self.language(request)
        tr = translator(language)
        title = tr.gettext("Refused")
        message = tr.gettext("Refused: {reason}").format(reason=reason(tr))
        return self._html(
            lambda nonce: admin_html.message_page(title, message, nonce, tr, language), status
        )

    def _session(self, request: web.Request) -> AdminSession | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))

    async def _form(self, request: web.Request) -> dict[str, str] | None:
        """The posted form's text fields; None when the body is over MAX_FORM_BYTES."""
        if request.content_length is None or request.content_length > MAX_FORM_BYTES:
            return None
        data = await request.post()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    def _cross_site(self, request: web.Request) -> Reason | None:
        """Why ``request`` comes from another site; None when it does not."""
        scheme = "https" if self._secure(request) else request.scheme
        if not cross_site_reason(request.headers, scheme, request.host):
            return None
        return lambda tr: tr.gettext("{reason}. Use the form on the admin page.").format(
            reason=cross_site_reason(request.headers, scheme, request.host, tr)
        )

    def _checked(
        self, handler: Callable[[web.Request, AdminSession, dict[str, str]], Awaitable[Any]]
    ) -> Handler:
        """``handler`` behind the POST checks: same site, logged in, CSRF token; it answers
        with a notice (shown on the page it redirects to) or a response of its own."""

        async def checked(request: web.Request) -> web.StreamResponse:
            cross_site = self._cross_site(request)
            if cross_site:
                return self._refuse(request, 403, cross_site)
            session = self._session(request)
            if session is None:
                return self._refuse(request, 401, _logged_out)
            form = await self._form(request)
            if form is None:
                return self._refuse(request, 413, _form_too_large)
            given = form.get("csrf", "")
            if not given:
                return self._refuse(
                    request, 403, lambda tr: _reload(tr, tr.gettext("the form has no CSRF token."))
                )
            if not token_matches(given, session.csrf):
                return self._refuse(request, 403, _session_csrf)
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
        language = self.language(request)
        tr = translator(language)
        response = self._html(
            lambda nonce: admin_html.login_page(
                token, message, nonce, tr, configured=configured, language=language
            ),
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
                self._tr(request).gettext(
                    "Your session has ended (it expired, or the bot restarted): log in again."
                )
                if expired
                else ""
            )
            return self._login_form(request, message, 200)
        return await self._dashboard(session, self.language(request))

    async def login(self, request: web.Request) -> web.StreamResponse:
        """POST /admin/login: the token, checked in constant time, opens a session."""
        cross_site = self._cross_site(request)
        if cross_site:
            return self._refuse(request, 403, cross_site)
        if self.limiter.blocked():
            return self._refuse(
                request, 429, lambda tr: tr.gettext("too many wrong tokens; wait a minute.")
            )
        form = await self._form(request)
        if form is None:
            return self._refuse(request, 413, _form_too_large)
        given, cookie = form.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")
        if not given or not token_matches(given, cookie):
            return self._refuse(request, 403, _login_csrf)
        if not token_matches(form.get("token", ""), self.services.config.admin_token.get()):
            self.limiter.failed()
            logger.warning("Wrong admin token on the admin page from %s", request.remote)
            wrong = self._tr(request).gettext("Wrong admin token.")
            return self._login_form(request, wrong, 401)
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

    async def switch_language(self, request: web.Request) -> web.StreamResponse:
        """POST /admin/language: keep the admin's EN/FR choice in a cookie, back to the page.
        Checked like every POST: same site, and the CSRF token of the page's form (the
        session's, or before login the login form's, which must match its cookie)."""
        cross_site = self._cross_site(request)
        if cross_site:
            return self._refuse(request, 403, cross_site)
        form = await self._form(request)
        if form is None:
            return self._refuse(request, 413, _form_too_large)
        session = self._session(request)
        expected = session.csrf if session else request.cookies.get(LOGIN_COOKIE, "")
        if not token_matches(form.get("csrf", ""), expected):
            return self._refuse(request, 403, _login_csrf if session is None else _session_csrf)
        language = form.get("lang", "")
        if language not in LANGUAGES:
            return self._refuse(
                request,
                400,
                lambda tr: tr.gettext("the page is written in English (en) or French (fr) only."),
            )
        response = web.HTTPSeeOther("/admin")
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            **cookie_options(self._secure(request), LANGUAGE_COOKIE_SECONDS),  # type: ignore[arg-type]
        )
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

    def _feedback(self, tr: Translator) -> str:
        today = dt.datetime.now(dt.UTC).date()
        first = today - dt.timedelta(days=FEEDBACK_DAYS - 1)
        since = dt.datetime.combine(first, dt.time(), dt.UTC).timestamp()
        days = daily_series(self.services.state.feedback_by_day(since), first, today)
        up, down = sum(d.up for d in days), sum(d.down for d in days)
        chart = feedback_chart(days, tr=tr)
        return admin_html.feedback_html(chart, up, down, FEEDBACK_DAYS, tr)

    def _gaps(self, tr: Translator) -> str:
        recorder, settings = self.services.gaps, self.services.config.gaps
        if recorder is None:
            return admin_html.gaps_html(None, [], GAP_DAYS, settings.top, tr)
        asked = recorder.store.questions(time.time() - GAP_DAYS * 86400, open_only=False)
        closed = sorted(
            (q for q in asked if q.closed is not None), key=lambda q: -(q.closed or 0.0)
        )
        return admin_html.gaps_html(recorder.gaps(GAP_DAYS), closed, GAP_DAYS, settings.top, tr)

    def _sections(self, session: AdminSession, language: str) -> str:
        """Everything the page shows (reads files and the state database: run in a thread)."""
        svc, tr = self.services, translator(language)
        status, report = health_report(svc)
        infos = indexed_documents(svc.engine.store) if svc.engine is not None else []
        return "".join(
            (
                admin_html.header_html(session.csrf, language, tr),
                admin_html.notice_html(session.notice),
                admin_html.health_html(status, report, tr),
                admin_html.reindex_html(self._latest_job(), session.csrf, tr),
                self._gaps(tr),
                admin_html.documents_html(infos, session.csrf, tr),
                self._feedback(tr),
            )
        )

    async def _dashboard(self, session: AdminSession, language: str) -> web.Response:
        body = await asyncio.to_thread(self._sections, session, language)
        session.notice = ""
        title = translator(language).gettext("storybot admin")
        return self._html(
            lambda nonce: admin_html.page(title, body, nonce, language=language, script=True)
        )

    async def progress(self, request: web.Request) -> web.Response:
        """GET /admin/progress/{id}: a job's progress as JSON, for the page's poller."""
        tr = self._tr(request)
        if self._session(request) is None:
            return web.json_response({"error": tr.gettext("not logged in")}, status=401)
        job = self.services.reindexer.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": tr.gettext("no such job")}, status=404)
        return web.json_response(
            {**job.as_dict(), "text": job.progress_text(tr)}, headers={"Cache-Control": "no-store"}
        )

    # -- actions (each returns the notice the page shows next: bot/admin_actions.py) ---------

    async def reindex(
        self, request: web.Request, _session: AdminSession, _form: dict[str, str]
    ) -> str:
        """POST /admin/start-reindex."""
        return self.actions.start_reindex(self._tr(request))

    async def add(self, request: web.Request, _session: AdminSession, form: dict[str, str]) -> str:
        """POST /admin/documents/add: fetch the page (the /add rules), save it, reindex."""
        return await self.actions.add(form.get("url", ""), self._tr(request))

    async def remove(
        self, request: web.Request, _session: AdminSession, form: dict[str, str]
    ) -> str:
        """POST /admin/documents/remove: delete the document's file, reindex."""
        return await self.actions.remove(form.get("document", ""), self._tr(request))
