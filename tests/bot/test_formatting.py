"""Pure formatting: answers to terminal text and to Telegram HTML that Telegram accepts."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.formatting import (
    SOURCES_PAGE,
    answer_to_dict,
    citation_label,
    format_documents_page,
    format_html,
    format_passage_html,
    format_sources_html,
    format_text,
    shorten,
    source_language_note,
)
from index.passages import Answer, AnswerSentence, Hit, Passage
from tests.botapi.formatting import parse_html


def _passage(
    text: str = "The ministers will meet Sergei Lavrov.",
    *,
    title: str = "Story",
    section: str = "Visit",
    pid: str = "p1",
    position: int = 1,
    url: str = "",
) -> Passage:
    return Passage(
        passage_id=pid,
        doc_id="story.md",
        title=title,
        section=section,
        position=position,
        sentences=(text,),
        source="Amnewsworld",
        date="2025-04-01",
        url=url,
        count=4,
    )


def _answer(*passages: Passage, question: str = "Who?") -> Answer:
    hits = tuple(Hit(p, 1.0 - i / 10) for i, p in enumerate(passages))
    sentences = (AnswerSentence(passages[0].sentences[0], passages[0], 0.9),)
    return Answer(question, question, True, sentences, hits)


def test_citation_label_has_title_section_position_source_date() -> None:
    label = citation_label(_passage())
    assert label == "Story — Visit · part 2 of 4 · Amnewsworld · 2025-04-01"


def test_plain_text_leads_with_the_answer_then_numbered_sources() -> None:
    text = format_text(_answer(_passage(), _passage("Other text.", pid="p2")))
    lines = text.splitlines()
    assert lines[0] == "The ministers will meet Sergei Lavrov. [1]"
    assert "Sources:" in lines
    assert any(line.startswith("[2] Story") for line in lines)


def test_not_found_says_so_and_names_known_stories() -> None:
    answer = Answer("Capital of Australia?", "q", False, nearest_titles=("Sahel <visit>",))
    text = format_text(answer)
    assert text.startswith("I could not find an answer")
    assert "Sahel <visit>" in text
    html_text = format_html(answer)
    assert "Sahel &lt;visit&gt;" in html_text
    parse_html(html_text)


def test_html_escapes_corpus_text_and_links() -> None:
    hostile = _passage(
        "3 < 5 && <script>alert('x')</script> <b>unclosed",
        title="A & B <i>",
        url="https://example.org/a?x=1&y=<2>",
    )
    text = format_html(_answer(hostile))
    plain, entities = parse_html(text)  # raises if Telegram would refuse it
    assert "<script>alert('x')</script>" in plain
    assert any(e["type"] == "text_link" for e in entities)


def test_json_form_has_the_documented_fields() -> None:
    data = answer_to_dict(_answer(_passage()))
    assert set(data) >= {"question", "found", "answer", "citations"}
    assert set(data["citations"][0]) >= {"document", "title", "passage_id", "text", "score"}


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=3000
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_text, min_size=1, max_size=8), _text, st.integers(200, 4096))
def test_html_reply_always_parses_and_fits(texts: list[str], title: str, limit: int) -> None:
    passages = [_passage(t, title=title, pid=f"p{i}") for i, t in enumerate(texts)]
    text = format_html(_answer(*passages), limit=limit)
    assert len(text) <= limit
    parse_html(text)


@settings(max_examples=40, deadline=None)
@given(_text, st.lists(_text, min_size=1, max_size=12))
def test_passage_and_sources_messages_parse_and_fit(text: str, more: list[str]) -> None:
    full = format_passage_html(_passage(text * 3), 2)
    assert len(full) <= 4096
    parse_html(full)
    sources = format_sources_html([_passage(t, pid=f"m{i}") for i, t in enumerate(more)], 4)
    assert len(sources) <= 4096
    parse_html(sources)


@given(st.text(max_size=500), st.integers(2, 400))
def test_shorten_never_exceeds_the_limit(text: str, limit: int) -> None:
    result = shorten(text, limit)
    assert len(result) <= limit
    if len(" ".join(text.split())) <= limit:
        assert result == " ".join(text.split())


def test_documents_are_listed_a_page_at_a_time() -> None:
    documents = [(f"Story {i}", f"2024-04-0{i % 9 + 1}", "Wire") for i in range(45)]
    first = format_documents_page(documents[:SOURCES_PAGE], 45, 1)
    assert first.startswith(f"<b>Documents 1–{SOURCES_PAGE} of 45</b>")
    assert first.count("• Story") == SOURCES_PAGE and first.endswith("Next: /sources 2")
    last = format_documents_page(documents[2 * SOURCES_PAGE :], 45, 3)
    assert last.startswith(f"<b>Documents {2 * SOURCES_PAGE + 1}–45 of 45</b>")
    assert "Next" not in last
    assert format_documents_page(documents[:1], 1, 1).startswith("<b>1 document</b>")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_text, _text, _text), min_size=1, max_size=SOURCES_PAGE))
def test_a_page_of_documents_parses_and_fits(documents: list[tuple[str, str, str]]) -> None:
    page = format_documents_page([(t * 20, d, s * 10) for t, d, s in documents], 10**6, 7)
    assert len(page) <= 4096
    parse_html(page)


_any = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6000)
_hostile = st.one_of(
    _any, st.builds(lambda c, n: c * n, st.sampled_from("&\"'<> a"), st.integers(0, 9000))
)


def _hostile_passage(text: str, title: str, section: str, source: str, url: str) -> Passage:
    return Passage(
        passage_id="h1",
        doc_id="hostile.md",
        title=title,
        section=section,
        position=0,
        sentences=(text,),
        source=source,
        date=source[:50],
        url=url,
        count=3,
    )


def _assert_sendable(message: str, limit: int = 4096) -> None:
    """What Telegram would accept: at most ``limit`` characters, valid HTML, not empty."""
    assert 0 < len(message) <= limit
    assert parse_html(message)[0].strip()


@settings(max_examples=80, deadline=2000)
@given(
    _hostile, _hostile, _hostile, _hostile, st.one_of(_hostile, _hostile.map("https://x/".__add__))
)
def test_every_message_about_a_hostile_passage_is_sendable(
    text: str, title: str, section: str, source: str, url: str
) -> None:
    passage = _hostile_passage(text or "x", title, section, source, url)
    _assert_sendable(format_passage_html(passage, 1))
    _assert_sendable(format_sources_html([passage, passage], 2))
    _assert_sendable(format_html(_answer(passage, passage)))


@settings(max_examples=60, deadline=2000)
@given(st.lists(st.tuples(_hostile, _hostile, _hostile), min_size=1, max_size=SOURCES_PAGE))
def test_pages_and_not_found_replies_fit_after_escaping(
    documents: list[tuple[str, str, str]],
) -> None:
    """Escaping makes "'" six characters: found by fuzzing, a page of such titles was 4,097."""
    _assert_sendable(format_documents_page(documents, 10**6, 3))
    titles = tuple(t for t, _, _ in documents)
    _assert_sendable(format_html(Answer("q", "q", False, nearest_titles=titles)))


def test_a_passage_with_a_huge_citation_header_is_shown_and_does_not_hang() -> None:
    """A 5,000-character title once left no room for the text, and the shrinking never ended."""
    passage = _hostile_passage(
        "The ministers will meet Sergei Lavrov.",
        "T" * 5000,
        "S" * 5000,
        "W" * 5000,
        "https://example.com/" + "a" * 4100,
    )
    message = format_passage_html(passage, 1)
    _assert_sendable(message)
    assert "The ministers will meet Sergei Lavrov." in message
    sources = format_sources_html([passage])
    _assert_sendable(sources)
    assert "Sergei Lavrov" in sources


def test_the_last_resort_reply_fits_after_escaping() -> None:
    """Escaping expands '&' five-fold: the cut must be made on the escaped text."""
    passage = _passage("&" * 9000)
    message = format_html(_answer(passage))
    _assert_sendable(message)
    assert "&amp;" in message


def test_the_answer_phrase_is_bold_in_telegram_and_first_in_the_terminal() -> None:
    passage = _passage("The ministers visit Moscow on April 3-4 & meet Lavrov.")
    text = passage.sentences[0]
    start = text.index("April 3-4")
    answer = dataclasses.replace(_answer(passage), phrase=(start, start + len("April 3-4")))
    html_text = format_html(answer)
    assert "on <b>April 3-4</b> &amp; meet" in html_text
    _assert_sendable(html_text)
    assert format_text(answer).splitlines()[0] == "» April 3-4"
    assert answer_to_dict(answer)["phrase"] == "April 3-4"


@settings(max_examples=60, deadline=None)
@given(_hostile, st.integers(0, 9000), st.integers(0, 9000))
def test_any_phrase_bounds_give_a_sendable_reply(text: str, start: int, end: int) -> None:
    answer = dataclasses.replace(_answer(_passage(text or "x")), phrase=(start, end))
    _assert_sendable(format_html(answer))


@pytest.mark.parametrize(
    ("languages", "reply", "note"),
    [
        (["en", "en"], "fr", "Sources en anglais."),
        (["en"], "fr", "Source en anglais."),
        (["en", "fr", "en"], "fr", "Sources [1], [3] en anglais."),
        (["en", "es"], "fr", "Source [1] en anglais ; source [2] en espagnol."),
        (["fr", None], "en", "Source [1] in French."),
        (["en", None], "en", ""),
        ([None], "fr", ""),
        ([], "fr", ""),
    ],
)
def test_source_language_note(languages: list[str | None], reply: str, note: str) -> None:
    assert source_language_note(languages, reply) == note


def test_a_french_reply_quotes_the_english_sentence_and_says_so() -> None:
    passage = _passage()
    answer = dataclasses.replace(_answer(passage), sure=False)
    html_text = format_html(answer, language="fr", passage_languages={"p1": "en"})
    lines = html_text.split("\n")
    assert lines[0].startswith("<i>Je ne suis pas sûr que cela réponde à votre question")
    assert lines[1].startswith("The ministers will meet Sergei Lavrov.")
    assert "<i>Source en anglais.</i>" in lines
    assert "partie 2 sur 4" in html_text
    assert "anglais" not in format_html(answer, passage_languages={"p1": "en"})
    not_found = dataclasses.replace(answer, found=False, hits=(), sentences=())
    assert format_html(not_found, language="fr").startswith("Je n&#x27;ai pas trouvé de réponse")
    assert format_text(not_found, language="fr").startswith("Je n'ai pas trouvé de réponse")


def test_a_french_documents_page_groups_thousands_as_french_does() -> None:
    documents = [(f"Title {i}", "2025-01-01", "Source") for i in range(SOURCES_PAGE)]
    page = format_documents_page(documents, 12_345, 2, language="fr")
    assert page.startswith("<b>Documents 21 à 40 sur 12\u202f345</b>")
    assert page.endswith("Suite : /sources 3")
