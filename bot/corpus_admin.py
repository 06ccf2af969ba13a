"""Telegram commands that manage the corpus: /add, uploads, /docs, /remove (admins), /latest.

Adding or removing a document saves or deletes its file in corpus/ and then runs the same
single-flight incremental reindex as /reindex; the admin gets one message that shows progress
and ends with what was added or removed.
"""

from __future__ import annotations

import asyncio
import html
import logging
import weakref
from collections.abc import Callable
from pathlib import Path

from telegram import Message, Update
from telegram.constants import MessageLimit
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from index.build_report import BuildReport
from index.corpus_files import find_document, remove_document
from index.errors import StoryError
from index.extraction import UPLOAD_SUFFIXES, megabytes
from index.fetch import add_url
from index.ingest import add_upload
from index.listing import DocumentInfo, indexed_documents, latest_documents
from index.store import IndexStore

from .addressing import for_bot
from .admin import admin_only, follow_job
from .context import Context
from .flood import admit
from .i18n import ENGLISH, Translator, language_for, number, translator, translator_for
from .redact import describe_error
from .replies import edit, reply
from .services import Services

__all__ = [
    "add_command",
    "describe_document",
    "docs_command",
    "document_message",
    "latest_command",
    "register",
    "remove_command",
]

logger = logging.getLogger(__name__)

LATEST = 10  # stories listed by /latest


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the corpus handlers; call before the catch-all for non-text messages."""
    application.add_handler(CommandHandler("add", add_command))
    application.add_handler(CommandHandler("remove", remove_command))
    application.add_handler(CommandHandler("docs", docs_command))
    application.add_handler(CommandHandler("latest", latest_command))
    application.add_handler(
        MessageHandler(filters.Document.ALL & filters.UpdateType.MESSAGE, document_message)
    )


# -- pure helpers ---------------------------------------------------------------------------


def describe_document(info: DocumentInfo, tr: Translator = ENGLISH) -> str:
    """One line about a document (HTML): title, source · date, passages, id."""
    detail = " · ".join(p for p in (info.source, info.date) if p)
    line = f"<b>{html.escape(info.title)}</b>"
    if detail:
        line += f" — {html.escape(detail)}"
    line += "\n   " + tr.ngettext(
        "{count} passage, id <code>{id}</code>",
        "{count} passages, id <code>{id}</code>",
        info.passages,
    ).format(count=info.passages, id=html.escape(info.doc_id))
    if info.duplicate_of:
        line += "\n   ⚠️ " + tr.gettext("near-duplicate of <code>{id}</code>").format(
            id=html.escape(info.duplicate_of)
        )
    return line


def fit_lines(
    head: str,
    lines: list[str],
    limit: int = MessageLimit.MAX_TEXT_LENGTH,
    tr: Translator = ENGLISH,
) -> str:
    """``head`` and as many ``lines`` as fit in one message, saying how many were left out."""
    text = head
    for shown, line in enumerate(lines):
        if len(text) + len(line) + 60 > limit:
            return text + "\n" + tr.gettext("… and {count} more.").format(count=len(lines) - shown)
        text += "\n" + line
    return text


# The newest stories of each index being served (anyone may ask for them, so they are worked out
# once per index); a replaced index is dropped from here with its last reference.
_LATEST: weakref.WeakKeyDictionary[IndexStore, list[DocumentInfo]] = weakref.WeakKeyDictionary()


def _latest(store: IndexStore) -> list[DocumentInfo]:
    infos = _LATEST.get(store)
    if infos is None:
        infos = _LATEST[store] = latest_documents(indexed_documents(store), LATEST)
    return infos


def _info(store: IndexStore | None, doc_id: str) -> DocumentInfo | None:
    if store is None:
        return None
    return next((i for i in indexed_documents(store) if i.doc_id == doc_id), None)


# -- commands -------------------------------------------------------------------------------


async def add_command(update: Update, context: Context) -> None:
    """/add <url> (admins): fetch the story, save it into the corpus, reindex, report."""
    message = await admin_only(update, context, "add")
    if message is None:
        return
    svc = context.services
    args = context.args or []
    tr = translator_for(update, context)
    _ = tr.gettext
    if len(args) != 1:
        await reply(
            message,
            _(
                "Send one link: <code>/add https://example.org/news/story.html</code>\n"
                "To add a file, send it to me as a document (.txt, .md, .html or .pdf)."
            ),
        )
        return
    status = await reply(message, _("Fetching {url} …").format(url=html.escape(args[0])))
    try:
        doc_id, article = await add_url(
            svc.config.corpus.path, args[0], svc.config.fetch_settings()
        )
    except StoryError as exc:
        await edit(status, _("Nothing was added: {error}").format(error=html.escape(str(exc))))
        return
    extra = (
        "\n" + _("By {author}.").format(author=html.escape(article.author))
        if article.author
        else ""
    )
    await _reindex_and_report(
        context, svc, update, status, lambda store: _added_text(store, doc_id, extra, tr), tr
    )


async def document_message(update: Update, context: Context) -> None:
    """A file sent to the bot: admins' .txt/.md/.html/.pdf files are added; others refused."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    if not for_bot(message, context.bot):
        return
    svc = context.services
    user = update.effective_user
    tr = translator_for(update, context)
    _ = tr.gettext
    if not svc.is_admin(user.id if user else None):
        if await admit(update, context):
            await _refuse_file(message, user.id if user else None, tr)
        return
    document = message.document
    name = Path(document.file_name or "").name or "upload"
    limit = svc.config.upload_max_bytes
    if problem := _upload_problem(name, document.file_size, limit, tr):
        await reply(message, problem)
        return
    status = await reply(message, _("Reading {name} …").format(name=html.escape(name)))
    try:
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
        doc_id, _title = await asyncio.to_thread(
            add_upload, svc.config.corpus.path, name, data, limit
        )
    except StoryError as exc:
        await edit(status, _("Nothing was added: {error}").format(error=html.escape(str(exc))))
        return
    except TelegramError as exc:
        await edit(  # the error's text may hold the file's URL, and so the bot's token
            status,
            _("Nothing was added: the file could not be downloaded ({error}).").format(
                error=html.escape(describe_error(exc))
            ),
        )
        return
    await _reindex_and_report(
        context, svc, update, status, lambda store: _added_text(store, doc_id, "", tr), tr
    )


async def _refuse_file(message: Message, user_id: int | None, tr: Translator) -> None:
    """A file from someone who is not an admin: say what the bot does take."""
    logger.warning("Refused a file from non-admin user %s in chat %s", user_id, message.chat_id)
    await reply(
        message,
        tr.gettext(
            "Thanks, but only the bot's admins can add documents. I answer questions typed "
            "as text — for example: <i>What is the AES?</i>"
        ),
    )


def _upload_problem(name: str, size: int | None, limit: int, tr: Translator) -> str | None:
    """Why an uploaded file cannot be added before it is downloaded (its kind, its size), or
    None."""
    _ = tr.gettext
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        return _(
            "Nothing was added: I cannot add {kind} files. Send a .txt, .md, .html or .pdf file."
        ).format(kind=html.escape(suffix or _("extensionless")))
    if size and size > limit:
        return _("Nothing was added: {name} is {size}, over the {limit} limit.").format(
            name=html.escape(name), size=megabytes(size), limit=megabytes(limit)
        )
    return None


async def remove_command(update: Update, context: Context) -> None:
    """/remove <document> (admins): delete the file from the corpus and reindex."""
    message = await admin_only(update, context, "remove")
    if message is None:
        return
    svc = context.services
    reference = " ".join(context.args or [])
    corpus = svc.config.corpus.path
    try:
        doc_id = await asyncio.to_thread(find_document, corpus, reference)
        info = await asyncio.to_thread(_info, svc.engine.store if svc.engine else None, doc_id)
        await asyncio.to_thread(remove_document, corpus, doc_id)
    except StoryError as exc:
        await reply(message, html.escape(str(exc)))
        return
    title = info.title if info else doc_id
    tr = translator_for(update, context)
    _ = tr.gettext
    status = await reply(message, _("Removed {id}; reindexing …").format(id=html.escape(doc_id)))
    await _reindex_and_report(
        context,
        svc,
        update,
        status,
        lambda _store: _(
            "Removed <b>{title}</b> (<code>{id}</code>); its passages are no longer cited."
        ).format(title=html.escape(title), id=html.escape(doc_id)),
        tr,
    )


async def docs_command(update: Update, context: Context) -> None:
    """/docs (admins): every document with its date, passage count and id."""
    message = await admin_only(update, context, "docs")
    if message is None:
        return
    infos = await asyncio.to_thread(indexed_documents, context.services.ready_engine().store)
    language = language_for(update, context)
    tr = translator(language)
    head = tr.ngettext(
        "<b>{count} document</b> (/remove &lt;id&gt; takes one out)",
        "<b>{count} documents</b> (/remove &lt;id&gt; takes one out)",
        len(infos),
    ).format(count=number(len(infos), language))
    lines = [f"• {describe_document(i, tr)}" for i in infos]
    await reply(message, fit_lines(head, lines, tr=tr))


async def latest_command(update: Update, context: Context) -> None:
    """/latest: the newest stories, by publication date."""
    message = update.effective_message
    if message is None or not await admit(update, context):
        return
    infos = await asyncio.to_thread(_latest, context.services.ready_engine().store)
    tr = translator_for(update, context)
    _ = tr.gettext
    if not infos:
        await reply(message, _("None of the stories I know has a publication date."))
        return
    lines = []
    for info in infos:
        source = f" · {html.escape(info.source)}" if info.source else ""
        lines.append(f"• {html.escape(info.date)} — {html.escape(info.title)}{source}")
    await reply(message, fit_lines(_("<b>Latest stories</b>"), lines, tr=tr))


# -- reindex and report ---------------------------------------------------------------------


def _added_text(store: IndexStore | None, doc_id: str, extra: str, tr: Translator) -> str:
    _ = tr.gettext
    info = _info(store, doc_id)
    if info is None:
        return _(
            "Saved <code>{id}</code>, but it is not in the index: see the reindex report "
            "(/reindex tries again)."
        ).format(id=html.escape(doc_id))
    return _("Added {document}").format(document=describe_document(info, tr)) + extra


async def _reindex_and_report(
    context: Context,
    svc: Services,
    update: Update,
    status: Message | None,
    done_text: Callable[[IndexStore | None], str],
    tr: Translator,
) -> None:
    """Start the shared reindex (after one that is running), then report in ``status`` (in
    ``tr``'s language)."""
    user = update.effective_user
    job = await svc.reindexer.start_when_free(
        f"user {user.id}" if user else "unknown", user_id=user.id if user else None
    )

    async def outcome(report: BuildReport) -> str:
        store = svc.engine.store if svc.engine else None
        return f"{await asyncio.to_thread(done_text, store)}\n\n{html.escape(report.summary())}"

    context.application.create_task(follow_job(job, status, outcome=outcome, tr=tr), update=update)
