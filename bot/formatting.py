"""Pure formatting: an Answer to plain text (terminal), Telegram HTML, or a JSON-ready dict.

The fixed texts are in the reply's ``language`` (bot/i18n.py); what is quoted from the corpus
stays in its own language, and a note says which when it differs from the reply's.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from telegram.constants import MessageLimit

from index.metadata import normalize_date
from index.passages import Answer, Hit, Passage

from .i18n import DEFAULT_LANGUAGE, ENGLISH, N_, Translator, language_name, number, translator

__all__ = [
    "answer_to_dict",
    "citation_label",
    "date_note",
    "format_html",
    "format_passage_html",
    "format_sources_html",
    "format_text",
    "shorten",
    "source_language_note",
]

MAX_MESSAGE = MessageLimit.MAX_TEXT_LENGTH  # 4096
SNIPPET_CHARS = 320
# Bounds on a citation's parts, whatever a document's metadata holds: a citation header stays
# well under a message, so there is always room for the text it cites.
TITLE_CHARS = 200
DETAIL_CHARS = 80  # section, source and date, each
LABEL_HTML_CHARS = 600  # a citation label, escaped ("'" becomes six characters)
LINK_CHARS = 1500  # a URL longer than this, escaped, is not linked (it would crowd out the text)
NOT_FOUND = N_("I could not find an answer to that in the stories I know.")
UNSURE = N_("I am not sure this answers your question, but it is the closest I found:")
KNOWN_STORIES = N_("The stories I know about include:")


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis if cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


def escaped_within(text: str, limit: int) -> str:
    """``text`` shortened (at a word boundary) and HTML-escaped so that the escaped form is at
    most ``limit`` characters. Escaping can make text up to 6 times longer, so the cut is made on
    the escaped length; every step shortens, so the loop always ends."""
    if limit <= 0:
        return ""
    chars = len(text)
    escaped = html.escape(shorten(text, chars))
    while len(escaped) > limit and chars > 0:
        chars = min(chars - 1, chars * limit // len(escaped))
        escaped = html.escape(shorten(text, chars))
    return escaped if len(escaped) <= limit else ""


def _snippet(hit: Hit, answer: Answer, limit: int = SNIPPET_CHARS) -> str:
    """The passage, centred on the answer sentence it holds when it is too long to show whole."""
    sentences = hit.passage.sentences
    chosen = {s.text for s in answer.sentences if s.passage.passage_id == hit.passage.passage_id}
    start = next((i for i, s in enumerate(sentences) if s in chosen), 0)
    text = " ".join(sentences[start:])
    prefix = "… " if start else ""
    return prefix + shorten(text, limit - len(prefix))


def citation_label(passage: Passage, tr: Translator = ENGLISH) -> str:
    """Where a passage comes from: title — section · part n of m · source · date, each part
    shortened to a bound, so that a label is never longer than a few hundred characters."""
    parts = [shorten(passage.title, TITLE_CHARS)]
    detail = []
    if passage.section:
        detail.append(shorten(passage.section, DETAIL_CHARS))
    if passage.count > 1:
        detail.append(
            tr.gettext("part {n} of {count}").format(n=passage.position + 1, count=passage.count)
        )
    if passage.source:
        detail.append(shorten(passage.source, DETAIL_CHARS))
    if passage.date:
        detail.append(shorten(passage.date, DETAIL_CHARS))
    if detail:
        parts.append(" · ".join(detail))
    return " — ".join(parts)


def date_note(hits: Sequence[Hit], tr: Translator = ENGLISH) -> str:
    """A line saying that the cited stories were published on different dates ("" if not)."""
    dates = sorted({d for h in hits if (d := normalize_date(h.passage.date))})
    if len(dates) < 2:
        return ""
    return tr.gettext(
        "Note: these sources are from different dates ({first} to {last}); check which is the "
        "latest."
    ).format(first=dates[0], last=dates[-1])


def source_language_note(languages: Sequence[str | None], language: str) -> str:
    """A line saying which cited sources are in another language than the reply ("" when none
    is): "Source in English." when every one is; else "Sources [1], [3] in English." The
    languages are the sources', in citation order (None: not known)."""
    tr = translator(language)
    groups: dict[str, list[int]] = {}
    for number_, source in enumerate(languages, start=1):
        if source and source != language:
            groups.setdefault(source, []).append(number_)
    if not groups:
        return ""
    if len(groups) == 1 and len(next(iter(groups.values()))) == len(languages):
        ((source, numbers),) = groups.items()
        return tr.ngettext("Source in {language}.", "Sources in {language}.", len(numbers)).format(
            language=language_name(source, tr)
        )
    parts = [
        tr.ngettext(
            "source {numbers} in {language}", "sources {numbers} in {language}", len(ns)
        ).format(numbers=", ".join(f"[{n}]" for n in ns), language=language_name(source, tr))
        for source, ns in groups.items()
    ]
    # Translators: between "source [1] in English" and "source [2] in Spanish"
    text = tr.gettext("; ").join(parts)
    return text[:1].upper() + text[1:] + "."


def _citation_numbers(answer: Answer) -> dict[str, int]:
    """Citation number of each passage: the order the snippets are listed in."""
    return {hit.passage.passage_id: i for i, hit in enumerate(answer.hits, start=1)}


def format_text(answer: Answer, language: str = DEFAULT_LANGUAGE) -> str:
    """Plain text for the terminal: the answer sentences first, then numbered sources."""
    tr = translator(language)
    _ = tr.gettext
    if not answer.found:
        text = _(NOT_FOUND)
        if answer.nearest_titles:
            text += f"\n{_(KNOWN_STORIES)}\n" + "\n".join(
                f"  - {t}" for t in answer.nearest_titles
            )
        return text
    numbers = _citation_numbers(answer)
    lines = [] if answer.sure else [_(UNSURE)]
    if answer.phrase_text:
        lines.append(f"» {answer.phrase_text}")
    lines += [f"{s.text} [{numbers.get(s.passage.passage_id, '?')}]" for s in answer.sentences]
    if note := date_note(answer.hits, tr):
        lines.append(note)
    lines.append("")
    lines.append(_("Sources:"))
    for i, hit in enumerate(answer.hits, start=1):
        lines.append(f"[{i}] {citation_label(hit.passage, tr)}")
        if hit.passage.url:
            lines.append(f"    {hit.passage.url}")
        lines.append(f'    "{_snippet(hit, answer)}"')
    return "\n".join(lines)


def _html_citation(passage: Passage, number: int, tr: Translator = ENGLISH) -> str:
    """ "[n] title — details", linked to the source; at most about 2,200 characters."""
    label = escaped_within(citation_label(passage, tr), LABEL_HTML_CHARS)
    href = html.escape(passage.url, quote=True)
    if passage.url.startswith(("http://", "https://")) and len(href) <= LINK_CHARS:
        label = f'<a href="{href}">{label}</a>'
    return f"<b>[{number}]</b> {label}"


def format_html(
    answer: Answer,
    max_hits: int | None = None,
    limit: int = MAX_MESSAGE,
    known_titles: Sequence[str] = (),
    language: str = DEFAULT_LANGUAGE,
    passage_languages: Mapping[str, str | None] | None = None,
) -> str:
    """Telegram HTML: everything from the corpus and the user escaped, never over ``limit``.
    The fixed texts are in ``language``; when the cited passages are in another (their
    language by passage id in ``passage_languages``), a note says so.

    Snippets are dropped from the end, then shortened, until the message fits; the answer
    sentences themselves are shortened only as a last resort.
    """
    tr = translator(language)
    _ = tr.gettext
    if not answer.found:
        titles = answer.nearest_titles or tuple(known_titles)
        text = html.escape(_(NOT_FOUND))
        if titles:
            text += f"\n\n{html.escape(_(KNOWN_STORIES))}\n" + "\n".join(
                f"• {escaped_within(shorten(t, 200), 600)}" for t in titles[:5]
            )
        return text
    numbers = _citation_numbers(answer)
    hits = list(answer.hits[:max_hits] if max_hits else answer.hits)
    snippet_chars = SNIPPET_CHARS
    sentence_chars = 1500
    while True:
        head = "\n".join(
            f"{_sentence_html(s.text, sentence_chars, answer.phrase if i == 0 else None)} "
            f"<i>[{numbers.get(s.passage.passage_id, '?')}]</i>"
            for i, s in enumerate(answer.sentences)
        )
        blocks = [head if answer.sure else f"<i>{html.escape(_(UNSURE))}</i>\n{head}"]
        notes = [
            date_note(hits, tr),
            source_language_note(
                [(passage_languages or {}).get(h.passage.passage_id) for h in hits], language
            ),
        ]
        blocks += [f"<i>{html.escape(note)}</i>" for note in notes if note]
        for i, hit in enumerate(hits, start=1):
            blocks.append(
                f"{_html_citation(hit.passage, i, tr)}\n"
                f"<blockquote>{html.escape(_snippet(hit, answer, snippet_chars))}</blockquote>"
            )
        text = "\n\n".join(blocks)
        if len(text) <= limit:
            return text
        if len(hits) > 1:
            hits.pop()
        elif snippet_chars > 80:
            snippet_chars //= 2
        else:
            sentence_chars = max(sentence_chars // 2, 40)
            if sentence_chars == 40 and len(text) > limit:
                return escaped_within(" ".join(s.text for s in answer.sentences), limit)


def _sentence_html(text: str, limit: int, phrase: tuple[int, int] | None) -> str:
    """An answer sentence, escaped, with the phrase that answers the question in bold (when
    the sentence is shown whole; a shortened one is shown plain)."""
    if phrase is None or len(text) > limit or not 0 <= phrase[0] < phrase[1] <= len(text):
        return html.escape(shorten(text, limit))
    start, end = phrase
    return (
        f"{html.escape(text[:start])}<b>{html.escape(text[start:end])}</b>"
        f"{html.escape(text[end:])}"
    )


def format_passage_html(
    passage: Passage, number: int, limit: int = MAX_MESSAGE, language: str = DEFAULT_LANGUAGE
) -> str:
    """A whole passage, as shown when someone asks for the full text behind a citation."""
    header = _html_citation(passage, number, translator(language))
    return f"{header}\n\n{escaped_within(passage.text, limit - len(header) - 2)}"


def format_sources_html(
    passages: Sequence[Passage],
    start: int = 1,
    limit: int = MAX_MESSAGE,
    language: str = DEFAULT_LANGUAGE,
) -> str:
    """More sources: numbered citations with short snippets, as many as fit in one message."""
    tr = translator(language)
    blocks: list[str] = []
    size = 0
    for n, passage in enumerate(passages, start=start):
        header = _html_citation(passage, n, tr)
        room = SNIPPET_CHARS * 6 if blocks else limit - len(header) - 30
        snippet = escaped_within(shorten(passage.text, SNIPPET_CHARS), room)
        block = f"{header}\n<blockquote>{snippet}</blockquote>"
        if size + len(block) + 2 > limit:
            break
        blocks.append(block)
        size += len(block) + 2
    return "\n\n".join(blocks)


def answer_to_dict(answer: Answer) -> dict[str, object]:
    """The JSON form printed by ``storybot ask --json`` and ``storybot chat --json``."""
    return {
        "question": answer.question,
        "query": answer.query,
        "found": answer.found,
        "sure": answer.found and answer.sure,
        "relevance": round(answer.relevance, 4),
        "answer": " ".join(s.text for s in answer.sentences),
        "phrase": answer.phrase_text,
        "citations": [
            {
                "document": hit.passage.doc_id,
                "title": hit.passage.title,
                "section": hit.passage.section,
                "passage_id": hit.passage.passage_id,
                "position": hit.passage.position,
                "date": hit.passage.date,
                "url": hit.passage.url,
                "text": hit.passage.text,
                "score": round(hit.score, 4),
            }
            for hit in answer.hits
        ],
        "nearest": list(answer.nearest_titles),
    }


SOURCES_PAGE = 20  # documents a /sources page lists


def format_documents_page(
    documents: Sequence[tuple[str, str, str]],
    total: int,
    page: int,
    per_page: int = SOURCES_PAGE,
    language: str = DEFAULT_LANGUAGE,
) -> str:
    """One page of /sources: (title, date, source) of the page's documents, and how to get
    the next page. Titles and details are shortened so that a page always fits a message."""
    tr = translator(language)
    first = (page - 1) * per_page + 1
    last = first + len(documents) - 1
    heading = (
        tr.ngettext("<b>{count} document</b>", "<b>{count} documents</b>", total).format(
            count=number(total, language)
        )
        if first == 1 and last == total
        else tr.gettext("<b>Documents {first}–{last} of {total}</b>").format(
            first=number(first, language),
            last=number(last, language),
            total=number(total, language),
        )
    )
    lines = [heading]
    # Each line's share of the message, measured escaped ("'" becomes six characters).
    room = (MAX_MESSAGE - 200) // max(len(documents), 1) - 8
    for title, date, source in documents:
        detail = " · ".join(p for p in (shorten(source, 60), shorten(date, 40)) if p)
        detail_html = escaped_within(detail, room // 3)
        lines.append(
            f"• {escaped_within(shorten(title, 120), room - len(detail_html))}"
            + (f" — {detail_html}" if detail_html else "")
        )
    if last < total:
        lines += ["", tr.gettext("Next: /sources {page}").format(page=page + 1)]
    return "\n".join(lines)
