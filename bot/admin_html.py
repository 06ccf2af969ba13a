"""The admin page's HTML, as small pure functions: every outside text (titles, questions, URLs,
errors) goes through ``html.escape``, and every list and text is cut to a bounded size. Every
fixed text is written with the page's translator (``bot/i18n.py``'s catalogues)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from index.listing import DocumentInfo

from .gaps import Gap, GapQuestion
from .i18n import N_, Translator
from .jobs import ReindexJob

__all__ = [
    "add_form",
    "documents_html",
    "feedback_html",
    "gaps_html",
    "health_html",
    "language_switch",
    "login_page",
    "message_page",
    "page",
    "reindex_html",
    "security_headers",
]

MAX_DOCUMENTS = 500  # rows listed; the rest are counted
MAX_TEXT = 200  # characters of a title, question or message shown
MAX_URL = 2048  # characters of a URL accepted in the form
# The switch's languages, each named in itself (not translated).
SWITCH = (("en", "English"), ("fr", "Français"))

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:0 16px;color:#222}
header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ccc}
section{margin:20px 0}h2{font-size:18px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 6px;
border-bottom:1px solid #eee;vertical-align:top}th{font-weight:600}
.notice{background:#fff7d6;border:1px solid #e0c860;padding:8px}
.error{background:#fde8e8;border:1px solid #d66;padding:8px}
.ok{color:#2e7d32}.bad{color:#c62828}.muted{color:#777}
input[type=url],input[type=password]{width:420px;max-width:100%}
progress{width:320px}form.inline{display:inline}button[aria-pressed=true]{font-weight:600}
"""

# Polls the job's progress and reloads the page once it has finished (the nonce lets the
# Content-Security-Policy run it; no other script runs).
_PROGRESS_SCRIPT = """
(function () {
  var box = document.getElementById("job");
  if (!box || box.dataset.state !== "running") { return; }
  var bar = document.getElementById("job-bar"), text = document.getElementById("job-text");
  function poll() {
    fetch("/admin/progress/" + encodeURIComponent(box.dataset.job),
          {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (job) {
          text.textContent = job.text;
          if (job.total) { bar.max = job.total; bar.value = job.done; }
          if (job.state !== "running") { window.location.replace("/admin"); return; }
        }
        setTimeout(poll, 500);
      }, function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 300);
})();
"""


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


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` escaped, cut to ``limit`` characters (with an ellipsis)."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return html.escape(text)


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'


def text(message: str, **values: object) -> str:
    """A translated fixed text, escaped, with ``values`` (already HTML) put in."""
    return html.escape(message).format(**values)


def page(title: str, body: str, nonce: str, *, language: str = "en", script: bool = False) -> str:
    """A whole page in ``language``: the style and (with ``script``) the progress poller carry
    the nonce."""
    js = f'<script nonce="{nonce}">{_PROGRESS_SCRIPT}</script>' if script else ""
    return (
        f'<!DOCTYPE html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body>{body}{js}</body></html>"
    )


def language_switch(csrf: str, language: str, tr: Translator) -> str:
    """The EN/FR switch: a POST (with the form's CSRF token) that keeps the choice in a cookie;
    the page's own language is pressed."""
    label = text(tr.gettext("Language:"))
    buttons = "".join(
        f'<button type="submit" name="lang" value="{code}" id="lang-{code}" lang="{code}" '
        f'aria-pressed="{"true" if code == language else "false"}">{name}</button>'
        for code, name in SWITCH
    )
    return (
        f'<form method="post" action="/admin/language" class="inline" id="language">'
        f"{csrf_field(csrf)}{label} {buttons}</form>"
    )


def login_page(
    csrf: str, message: str, nonce: str, tr: Translator, *, configured: bool, language: str
) -> str:
    """The login form (the admin token, STORYBOT_ADMIN_TOKEN), with a message above it and the
    language switch."""
    _ = tr.gettext
    shown = f'<p class="error" id="message">{cut(message)}</p>' if message else ""
    if not configured:
        form = "<p>{}</p>".format(
            text(
                _(
                    "No admin token is set, so nobody can log in: set STORYBOT_ADMIN_TOKEN and "
                    "restart the bot."
                )
            )
        )
    else:
        token, button = text(_("Admin token")), text(_("Log in"))
        form = (
            '<form method="post" action="/admin/login">'
            f"{csrf_field(csrf)}"
            f'<label>{token} <input type="password" name="token" id="token" '
            'autocomplete="current-password" required maxlength="512"></label> '
            f'<button type="submit" id="login">{button}</button></form>'
        )
    heading = text(_("storybot admin"))
    body = f"<header><h1>{heading}</h1>{language_switch(csrf, language, tr)}</header>{shown}{form}"
    return page(tr.gettext("storybot admin: log in"), body, nonce, language=language)


def message_page(title: str, message: str, nonce: str, tr: Translator, language: str) -> str:
    """A refusal or error (``title`` and ``message`` already in ``tr``'s language), with the
    way back."""
    _ = tr.gettext
    back = text(_("Back to the admin page"))
    body = (
        f'<h1>{html.escape(title)}</h1><p class="error" id="message">{cut(message, 500)}</p>'
        f'<p><a href="/admin">{back}</a></p>'
    )
    heading = tr.gettext("storybot admin: {title}").format(title=title)
    return page(heading, body, nonce, language=language)


def header_html(csrf: str, language: str, tr: Translator) -> str:
    _ = tr.gettext
    heading, logout = text(_("storybot admin")), text(_("Log out"))
    return (
        f"<header><h1>{heading}</h1>{language_switch(csrf, language, tr)}"
        f'<form method="post" action="/admin/logout" class="inline">{csrf_field(csrf)}'
        f'<button type="submit" id="logout">{logout}</button></form></header>'
    )


def notice_html(notice: str) -> str:
    return f'<p class="notice" id="notice">{cut(notice, 600)}</p>' if notice else ""


# What /healthz reports (bot/health.py), named for the page; other keys are shown as they are.
_HEALTH_LABELS = {
    "reason": N_("Reason"),
    "index_version": N_("Index version"),
    "passages": N_("Passages"),
    "documents": N_("Documents"),
    "model": N_("Model"),
    "reindexing": N_("Reindex running"),
    "uptime_seconds": N_("Uptime (seconds)"),
}
_HEALTH_STATES = {"ok": N_("ok"), "degraded": N_("degraded"), "unavailable": N_("unavailable")}
_JOB_STATES = {"running": N_("running"), "done": N_("done"), "failed": N_("failed")}


def _label(labels: dict[str, str], key: str, tr: Translator) -> str:
    return html.escape(tr.gettext(labels[key]) if key in labels else key)


def health_html(status: int, report: dict[str, object], tr: Translator) -> str:
    """What /healthz says, as a small table."""
    _ = tr.gettext
    state = _label(_HEALTH_STATES, str(report.get("status", "?")), tr)
    css = "ok" if status == 200 else "bad"
    rows = "".join(
        f"<tr><th>{_label(_HEALTH_LABELS, str(key), tr)}</th>"
        f"<td>{cut('—' if value is None else str(value))}</td></tr>"
        for key, value in report.items()
        if key != "status"
    )
    heading = text(_("Health: {state}"), state=f'<span class="{css}">{state}</span>')
    return f'<section id="health"><h2>{heading}</h2><table>{rows}</table></section>'


def reindex_html(job: ReindexJob | None, csrf: str, tr: Translator) -> str:
    """The reindex button and the latest job: a progress bar while it runs (the script
    polls it), its outcome once done."""
    _ = tr.gettext
    heading, label = text(_("Reindex")), text(_("Reindex now"))
    head = f'<section id="reindex-section"><h2>{heading}</h2>'
    button = (
        f'<form method="post" action="/admin/start-reindex">{csrf_field(csrf)}'
        f'<button type="submit" id="reindex">{label}</button></form>'
    )
    if job is None:
        return f"{head}{button}</section>"
    value = f' value="{job.done}" max="{job.total}"' if job.total else ""
    bar = f'<progress id="job-bar"{value}></progress> ' if job.state == "running" else ""
    line = text(
        _("Job {id} ({requested_by}, {started}): {state}"),
        id=html.escape(job.id),
        requested_by=html.escape(job.requested_by),
        started=when(job.started),
        state=f'<b id="job-state">{_label(_JOB_STATES, job.state, tr)}</b>',
    )
    status = (
        f'<div id="job" data-job="{html.escape(job.id)}" data-state="{html.escape(job.state)}">'
        f'<p>{line}</p>{bar}<span id="job-text">{cut(job.progress_text(tr), 1000)}</span></div>'
    )
    return f"{head}{button}{status}</section>"


def add_form(csrf: str, tr: Translator) -> str:
    _ = tr.gettext
    label, button = text(_("Add a story by URL")), text(_("Add"))
    return (
        f'<form method="post" action="/admin/documents/add">{csrf_field(csrf)}'
        f'<label>{label} <input type="url" name="url" id="add-url" '
        f'required maxlength="{MAX_URL}" placeholder="https://example.org/news/story.html">'
        f'</label> <button type="submit" id="add">{button}</button></form>'
    )


def _document_row(info: DocumentInfo, csrf: str, remove_label: str) -> str:
    title = cut(info.title)
    if info.url.startswith(("http://", "https://")):
        title = f'<a href="{html.escape(info.url[:MAX_URL])}" rel="noreferrer">{title}</a>'
    remove = (
        f'<form method="post" action="/admin/documents/remove" class="inline">'
        f'{csrf_field(csrf)}<input type="hidden" name="document" '
        f'value="{html.escape(info.doc_id)}"><button type="submit">{remove_label}</button></form>'
    )
    return (
        f'<tr data-doc="{html.escape(info.doc_id)}"><td>{title}</td>'
        f"<td>{cut(info.source, 60)}</td><td>{cut(info.date, 40)}</td>"
        f"<td>{info.passages}</td><td><code>{cut(info.doc_id, 80)}</code></td>"
        f"<td>{remove}</td></tr>"
    )


def more_html(count: int, tr: Translator) -> str:
    """ "… and 3 more." under a cut list (nothing when nothing was cut)."""
    if count <= 0:
        return ""
    more = tr.gettext("… and {count} more.")
    return f'<p class="muted">{html.escape(more.format(count=count))}</p>'


def _header_row(*names: str) -> str:
    """A table's header row of (translated) column names."""
    return "<tr>{}</tr>".format("".join(f"<th>{text(name)}</th>" for name in names))


def documents_html(infos: Sequence[DocumentInfo], csrf: str, tr: Translator) -> str:
    """The indexed documents (title, source, date, passages, id) with remove buttons, and the
    add-by-URL form."""
    _ = tr.gettext
    remove = text(_("Remove"))
    rows = "".join(_document_row(info, csrf, remove) for info in infos[:MAX_DOCUMENTS])
    header = _header_row(_("Title"), _("Source"), _("Date"), _("Passages"), _("Id"), "")
    heading = text(_("Documents ({count})"), count=len(infos))
    return (
        f'<section id="documents"><h2>{heading}</h2>'
        f"{add_form(csrf, tr)}<table>{header}{rows}</table>"
        f"{more_html(len(infos) - MAX_DOCUMENTS, tr)}</section>"
    )


def feedback_html(svg: str, up: int, down: int, days: int, tr: Translator) -> str:
    """The chart (``bot/svg_chart.py``) and its totals."""
    _ = tr.gettext
    heading = text(_("Feedback, last {days} days"), days=days)
    totals = text(
        _("Helpful: {up} · not helpful: {down}"),
        up=f'<b id="helpful">{up}</b>',
        down=f'<b id="not-helpful">{down}</b>',
    )
    return f'<section id="feedback"><h2>{heading}</h2><p>{totals}</p>{svg}</section>'


def _gap_row(gap: Gap, tr: Translator) -> str:
    examples = "".join(f"<li>{cut(example)}</li>" for example in gap.examples)
    none = text(tr.gettext("none"))
    nearest = cut(gap.nearest) if gap.nearest else f'<span class="muted">{none}</span>'
    return (
        f'<tr class="gap"><td>{gap.count}</td><td><ul>{examples}</ul></td>'
        f"<td>{nearest}</td><td>{when(gap.last)}</td></tr>"
    )


def _closed_row(question: GapQuestion) -> str:
    return (
        f'<tr class="closed-gap"><td>{cut(question.question)}</td>'
        f"<td>{cut(question.closed_by)}</td><td>{when(question.closed)}</td></tr>"
    )


def gaps_html(
    open_gaps: Sequence[Gap] | None,
    closed: Sequence[GapQuestion],
    days: float,
    top: int,
    tr: Translator,
) -> str:
    """The open gaps of the last ``days`` days (the ``top`` most asked, with their examples
    and nearest document), then the questions a new document has answered since; ``None``:
    the gap report is off."""
    _ = tr.gettext
    heading = text(_("Open gaps, last {days} days"), days=f"{days:g}")
    head = f'<section id="gaps"><h2>{heading}</h2>'
    if open_gaps is None:
        off = text(_("The gap report is not running."))
        return f'{head}<p class="muted">{off}</p></section>'
    if open_gaps:
        rows = "".join(_gap_row(gap, tr) for gap in open_gaps[:top])
        header = _header_row(_("Asked"), _("Examples"), _("Nearest document"), _("Last asked"))
        listed = f"<table>{header}{rows}</table>{more_html(len(open_gaps) - top, tr)}"
    else:
        nothing = text(_("No open gaps."))
        listed = f'<p id="no-gaps">{nothing}</p>'
    closed_part = ""
    if closed:
        rows = "".join(_closed_row(q) for q in closed[:top])
        header = _header_row(_("Question"), _("Answered by"), _("When"))
        answered = text(_("Answered since"))
        closed_part = f'<h3>{answered}</h3><table id="closed-gaps">{header}{rows}</table>'
    return f"{head}{listed}{closed_part}</section>"
