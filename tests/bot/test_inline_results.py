"""The inline articles (bot/inline_results.py): what Telegram accepts, whatever the corpus
holds."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.i18n import translator
from bot.inline_results import (
    DESCRIPTION_CHARS,
    TITLE_CHARS,
    answer_results,
    hint_result,
    not_found_result,
    try_again_result,
)
from index.engine import Engine
from index.passages import Answer, Passage
from tests.botapi import format_text

pytestmark = pytest.mark.slow


def _with_source(passage: Passage, title: str, url: str) -> Passage:
    return dataclasses.replace(passage, title=title, url=url)


def _relabel(answer: Answer, title: str, url: str) -> Answer:
    """The answer with every cited passage given ``title`` and ``url``."""
    new = {h.passage.passage_id: _with_source(h.passage, title, url) for h in answer.hits}
    for s in answer.sentences:
        new.setdefault(s.passage.passage_id, _with_source(s.passage, title, url))
    return dataclasses.replace(
        answer,
        hits=tuple(dataclasses.replace(h, passage=new[h.passage.passage_id]) for h in answer.hits),
        sentences=tuple(
            dataclasses.replace(s, passage=new[s.passage.passage_id]) for s in answer.sentences
        ),
    )


def _check(results: list, count: int) -> None:  # type: ignore[type-arg]
    """What Telegram checks (tests/botapi/inline_mode.py), and the bounds the bot keeps."""
    assert 1 <= len(results) <= count
    ids = [r.id for r in results]
    assert len(set(ids)) == len(ids) and all(0 < len(i.encode()) <= 64 for i in ids)
    for result in results:
        assert 0 < len(result.title) <= TITLE_CHARS
        assert len(result.description or "") <= DESCRIPTION_CHARS
        content = result.input_message_content
        plain, _ = format_text(content.message_text, content.parse_mode)  # valid HTML
        assert 0 < len(plain) <= 4096


@pytest.fixture(scope="module")
def answer(story_engine: Engine) -> Answer:
    found = story_engine.ask("Who will the ministers meet in Moscow?")
    assert found.found
    return found


def test_each_article_cites_and_links_its_source(answer: Answer) -> None:
    linked = _relabel(answer, "Ministers go to Moscow", "https://news.example/moscow")
    results = answer_results(linked, top_k=3, count=3, language="en")
    _check(results, 3)
    for result in results:
        content = result.input_message_content
        _, entities = format_text(content.message_text, content.parse_mode)
        assert {"type": "text_link", "url": "https://news.example/moscow"}.items() <= next(
            e for e in entities if e["type"] == "text_link"
        ).items()
        assert "[1]" in content.message_text
    sources = {s.passage.passage_id for s in answer.sentences}
    assert len(results) == min(3, 1 + (len(sources) if len(sources) > 1 else 0))


@given(
    title=st.text(min_size=1, max_size=3000),
    url=st.text(max_size=3000).map(lambda t: "https://x.example/" + t),
)
def test_hostile_titles_and_urls_stay_within_telegrams_limits(
    answer: Answer, title: str, url: str
) -> None:
    _check(answer_results(_relabel(answer, title, url), top_k=3, count=3, language="fr"), 3)


def test_fixed_results_in_both_languages() -> None:
    for language in ("en", "fr"):
        tr = translator(language)
        _check([hint_result(tr, "storybot"), try_again_result(tr)], 2)
        nothing = Answer(question="q", query="q", found=False)
        _check([not_found_result(nothing, ["<b>A</b> & title"], language)], 1)
    assert hint_result(translator("fr"), "storybot").title == "Tapez une question"
