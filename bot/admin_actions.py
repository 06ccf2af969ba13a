"""What the admin page's buttons do: add a story by URL, remove a document, reindex. Each
returns the notice the page shows next, in the page's language (the reasons ``index/`` gives
for a refusal stay in English).

The corpus is changed with the same code as ``/add`` and ``/remove`` (``index/fetch.py``'s
``add_url`` with its address rules, ``index/corpus_files.py``), and the reindex is the bot's
single-flight job (``bot/jobs.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from index.corpus_files import find_document, remove_document
from index.errors import ReindexInProgressError, StoryError
from index.fetch import add_url

from .admin_html import MAX_URL
from .i18n import Translator
from .services import Services

__all__ = ["REQUESTER", "PageActions"]

logger = logging.getLogger(__name__)

REQUESTER = "admin page"


class PageActions:
    """The page's changes to the corpus and the index; one per admin page."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._tasks: set[asyncio.Task[Any]] = set()  # reindexes queued behind a running one

    def start_reindex(self, tr: Translator) -> str:
        """Start the reindex, or queue one behind the job that runs."""
        reindexer = self.services.reindexer
        try:
            job = reindexer.start(REQUESTER)
        except ReindexInProgressError:
            task = asyncio.get_running_loop().create_task(reindexer.start_when_free(REQUESTER))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return tr.gettext("A reindex is running; another one starts when it ends.")
        return tr.gettext("Reindex job {id} started.").format(id=job.id)

    async def add(self, url: str, tr: Translator) -> str:
        """Fetch the page at ``url`` (the /add rules), save it, reindex."""
        url = url.strip()
        if not url or len(url) > MAX_URL:
            return tr.gettext("Nothing was added: give the story's URL (http or https).")
        config = self.services.config
        try:
            doc_id, article = await add_url(config.corpus.path, url, config.fetch_settings())
        except StoryError as exc:
            return tr.gettext("Nothing was added: {error}").format(error=exc)
        logger.info("Admin page added %s from %s", doc_id, url)
        added = tr.gettext("Added “{title}” as {id}.").format(title=article.title, id=doc_id)
        return f"{added} {self.start_reindex(tr)}"

    async def remove(self, document: str, tr: Translator) -> str:
        """Delete the document's file, reindex."""
        corpus = self.services.config.corpus.path
        try:
            doc_id = await asyncio.to_thread(find_document, corpus, document)
            await asyncio.to_thread(remove_document, corpus, doc_id)
        except StoryError as exc:
            return tr.gettext("Nothing was removed: {error}").format(error=exc)
        logger.info("Admin page removed %s", doc_id)
        removed = tr.gettext("Removed {id}.").format(id=doc_id)
        return f"{removed} {self.start_reindex(tr)}"
