"""The admin page's HTML, as small pure functions: every outside text (titles, questions, URLs,
errors) goes through ``html.escape``, and every list and text is cut to a bounded size."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from index.listing import DocumentInfo

from .gaps import Gap, GapQuestion
from .jobs import ReindexJob

__all__ = [
    "add_form",
    "documents_html",
    "feedback_html",
    "gaps_html",
    "health_html",
    "login_page",
    "message_page",
    "page",
    "reindex_html",
]

MAX_DOCUMENTS = 500  # rows listed; the rest are counted
MAX_TEXT = 200  # characters of a title, question or message shown
MAX_URL = 2048  # characters of a URL accepted in the form

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
progress{width:320px}form.inline{display:inline}
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


def page(title: str, body: str, nonce: str, *, script: bool = False) -> str:
    """A whole page: the style and (with ``script``) the progress poller carry the nonce."""
    js = f'<script nonce="{nonce}">{_PROGRESS_SCRIPT}</script>' if script else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body>{body}{js}</body></html>"
    )


def login_page(csrf: str, message: str, nonce: str, *, configured: bool) -> str:
    """The login form (the admin token, STORYBOT_ADMIN_TOKEN), with a message above it."""
    shown = f'<p class="error" id="message">{cut(message)}</p>' if message else ""
    if not configured:
        form = (
            "<p>No admin token is set, so nobody can log in: set STORYBOT_ADMIN_TOKEN and "
            "restart the bot.</p>"
        )
    else:
        form = (
            '<form method="post" action="/admin/login">'
            f"{csrf_field(csrf)}"
            '<label>Admin token <input type="password" name="token" id="token" '
            'autocomplete="current-password" required maxlength="512"></label> '
            '<button type="submit" id="login">Log in</button></form>'
        )
    return page("storybot admin: log in", f"<h1>storybot admin</h1>{shown}{form}", nonce)


def message_page(title: str, message: str, nonce: str) -> str:
    """A refusal or error, with the way back."""
    body = (
        f'<h1>{html.escape(title)}</h1><p class="error" id="message">{cut(message, 500)}</p>'
        '<p><a href="/admin">Back to the admin page</a></p>'
    )
    return page(f"storybot admin: {title}", body, nonce)


def header_html(csrf: str) -> str:
    return (
        "<header><h1>storybot admin</h1>"
        f'<form method="post" action="/admin/logout" class="inline">{csrf_field(csrf)}'
        '<button type="submit" id="logout">Log out</button></form></header>'
    )


def notice_html(notice: str) -> str:
    return f'<p class="notice" id="notice">{cut(notice, 600)}</p>' if notice else ""


def health_html(status: int, report: dict[str, object]) -> str:
    """What /healthz says, as a small table."""
    state = str(report.get("status", "?"))
    css = "ok" if status == 200 else "bad"
    rows = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{cut('—' if value is None else str(value))}"
        "</td></tr>"
        for key, value in report.items()
        if key != "status"
    )
    return (
        f'<section id="health"><h2>Health: <span class="{css}">{html.escape(state)}</span>'
        f"</h2><table>{rows}</table></section>"
    )


def reindex_html(job: ReindexJob | None, csrf: str) -> str:
    """The reindex button and the latest job: a progress bar while it runs (the script
    polls it), its outcome once done."""
    button = (
        f'<form method="post" action="/admin/start-reindex">{csrf_field(csrf)}'
        '<button type="submit" id="reindex">Reindex now</button></form>'
    )
    if job is None:
        return f'<section id="reindex-section"><h2>Reindex</h2>{button}</section>'
    value = f' value="{job.done}" max="{job.total}"' if job.total else ""
    bar = f'<progress id="job-bar"{value}></progress> ' if job.state == "running" else ""
    status = (
        f'<div id="job" data-job="{html.escape(job.id)}" data-state="{html.escape(job.state)}">'
        f"<p>Job {html.escape(job.id)} ({html.escape(job.requested_by)}, "
        f'{when(job.started)}): <b id="job-state">{html.escape(job.state)}</b></p>'
        f'{bar}<span id="job-text">{cut(job.progress_text(), 1000)}</span></div>'
    )
    return f'<section id="reindex-section"><h2>Reindex</h2>{button}{status}</section>'


def add_form(csrf: str) -> str:
    return (
        f'<form method="post" action="/admin/documents/add">{csrf_field(csrf)}'
        f'<label>Add a story by URL <input type="url" name="url" id="add-url" required '
        f'maxlength="{MAX_URL}" placeholder="https://example.org/news/story.html"></label> '
        '<button type="submit" id="add">Add</button></form>'
    )


def _document_row(info: DocumentInfo, csrf: str) -> str:
    title = cut(info.title)
    if info.url.startswith(("http://", "https://")):
        title = f'<a href="{html.escape(info.url[:MAX_URL])}" rel="noreferrer">{title}</a>'
    remove = (
        f'<form method="post" action="/admin/documents/remove" class="inline">'
        f'{csrf_field(csrf)}<input type="hidden" name="document" '
        f'value="{html.escape(info.doc_id)}"><button type="submit">Remove</button></form>'
    )
    return (
        f'<tr data-doc="{html.escape(info.doc_id)}"><td>{title}</td>'
        f"<td>{cut(info.source, 60)}</td><td>{cut(info.date, 40)}</td>"
        f"<td>{info.passages}</td><td><code>{cut(info.doc_id, 80)}</code></td>"
        f"<td>{remove}</td></tr>"
    )


def documents_html(infos: Sequence[DocumentInfo], csrf: str) -> str:
    """The indexed documents (title, source, date, passages, id) with remove buttons, and the
    add-by-URL form."""
    rows = "".join(_document_row(info, csrf) for info in infos[:MAX_DOCUMENTS])
    more = (
        f'<p class="muted">… and {len(infos) - MAX_DOCUMENTS} more.</p>'
        if len(infos) > MAX_DOCUMENTS
        else ""
    )
    return (
        f'<section id="documents"><h2>Documents ({len(infos)})</h2>{add_form(csrf)}'
        "<table><tr><th>Title</th><th>Source</th><th>Date</th><th>Passages</th><th>Id</th>"
        f"<th></th></tr>{rows}</table>{more}</section>"
    )


def feedback_html(svg: str, up: int, down: int, days: int) -> str:
    """The chart (``bot/svg_chart.py``) and its totals."""
    return (
        f'<section id="feedback"><h2>Feedback, last {days} days</h2>'
        f'<p>Helpful: <b id="helpful">{up}</b> · not helpful: '
        f'<b id="not-helpful">{down}</b></p>{svg}</section>'
    )


def _gap_row(gap: Gap) -> str:
    examples = "".join(f"<li>{cut(example)}</li>" for example in gap.examples)
    nearest = cut(gap.nearest) if gap.nearest else '<span class="muted">none</span>'
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
    open_gaps: Sequence[Gap] | None, closed: Sequence[GapQuestion], days: float, top: int
) -> str:
    """The open gaps of the last ``days`` days (the ``top`` most asked, with their examples
    and nearest document), then the questions a new document has answered since; ``None``:
    the gap report is off."""
    head = f'<section id="gaps"><h2>Open gaps, last {days:g} days</h2>'
    if open_gaps is None:
        return f'{head}<p class="muted">The gap report is not running.</p></section>'
    if open_gaps:
        rows = "".join(_gap_row(gap) for gap in open_gaps[:top])
        more = len(open_gaps) - top
        listed = (
            "<table><tr><th>Asked</th><th>Examples</th><th>Nearest document</th>"
            f"<th>Last asked</th></tr>{rows}</table>"
            + (f'<p class="muted">… and {more} more.</p>' if more > 0 else "")
        )
    else:
        listed = '<p id="no-gaps">No open gaps.</p>'
    closed_part = ""
    if closed:
        rows = "".join(_closed_row(q) for q in closed[:top])
        closed_part = (
            '<h3>Answered since</h3><table id="closed-gaps"><tr><th>Question</th>'
            f"<th>Answered by</th><th>When</th></tr>{rows}</table>"
        )
    return f"{head}{listed}{closed_part}</section>"
