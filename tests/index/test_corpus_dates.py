"""Near-duplicate documents at index time and dates in ranking and replies, on a real index."""

from __future__ import annotations

import dataclasses

import pytest

from bot.formatting import format_html, format_text
from index.build import build_index
from index.duplicates import overlap, shingles
from index.embedder import Embedder
from index.engine import Engine
from index.settings import BuildSettings, RankingSettings
from index.store import IndexStore
from tests.corpus_site import LAVROV, LAVROV_MORE

pytestmark = pytest.mark.slow

OLD = (
    "The port authority of Saint-Louis said the old harbour would reopen to cargo ships in "
    "March, after two years of dredging and repairs to the northern quay. Fishermen have used "
    "the southern jetty in the meantime, and grain has been landed at Dakar instead."
)
NEW = (
    "The old harbour of Saint-Louis reopened to cargo ships in April, the port authority said, "
    "a month later than planned because the northern quay needed more repairs. The first ship "
    "to dock was a grain carrier; fishermen are moving back from the southern jetty."
)


def _md(title: str, date: str, source: str, body: str) -> str:
    return f"---\ntitle: {title}\nsource: {source}\ndate: {date}\n---\n\n{body}\n"


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple:  # type: ignore[type-arg]
    corpus = tmp_path_factory.mktemp("dated-corpus")
    (corpus / "wire-a.md").write_text(
        _md("Sahel ministers meet Lavrov", "2025-04-04", "Wire A", f"{LAVROV}\n\n{LAVROV_MORE}")
    )
    (corpus / "wire-b.md").write_text(
        _md(
            "Lavrov receives Sahel ministers",
            "2025-04-05",
            "Outlet B",
            f"By our staff. {LAVROV}\n\n{LAVROV_MORE} Reporting by B.",
        )
    )
    (corpus / "harbour-old.md").write_text(
        _md("Harbour to reopen in March", "2025-01-10", "Port Gazette", OLD)
    )
    (corpus / "harbour-new.md").write_text(_md("Harbour reopened", "2025-04-01", "Coast FM", NEW))
    folder = tmp_path_factory.mktemp("dated-index")
    report = build_index(corpus, folder, embedder.name, lambda: embedder, BuildSettings())
    return report, IndexStore.load(folder, embedder.name)


def test_near_duplicates_are_reported_at_index_time(dated_index: tuple) -> None:  # type: ignore[type-arg]
    report, store = dated_index
    assert [(d, o) for d, o, _ in report.duplicates] == [("wire-b.md", "wire-a.md")]
    assert "Near-duplicate: wire-b.md repeats wire-a.md" in report.summary()
    assert store.documents["wire-b.md"]["duplicate_of"] == "wire-a.md"
    assert "duplicate_of" not in store.documents["harbour-new.md"]
    assert report.as_dict()["duplicates"][0]["duplicate_of"] == "wire-a.md"


def test_citations_never_list_the_same_text_twice(
    dated_index: tuple,  # type: ignore[type-arg]
    embedder: Embedder,
) -> None:
    _, store = dated_index
    engine = Engine(store, embedder, RankingSettings(top_k=5))
    answer = engine.ask("Who did the Sahel foreign ministers meet in Moscow?")
    assert answer.found and "Lavrov" in answer.sentences[0].text
    docs = [h.passage.doc_id for h in answer.hits]
    assert not {"wire-a.md", "wire-b.md"} <= set(docs), docs
    grams = [shingles(h.passage.text) for h in answer.hits]
    for i, a in enumerate(grams):
        for b in grams[i + 1 :]:
            assert overlap(a, b) < 0.8


def test_newer_story_first_when_relevance_is_close_and_reply_says_dates_differ(
    dated_index: tuple,  # type: ignore[type-arg]
    embedder: Embedder,
) -> None:
    _, store = dated_index
    # The older story reads closer to this question (it is the one about the dredging).
    question = "When would the old harbour of Saint-Louis reopen after the dredging?"
    plain = Engine(store, embedder, RankingSettings(date_margin=0.0)).retrieve(question, 2)
    by_score = [h.passage.doc_id for h in plain.hits]
    assert by_score == ["harbour-old.md", "harbour-new.md"]
    gap = plain.hits[0].score - plain.hits[1].score
    assert gap > 0, plain.hits
    # Close (within the margin): the newer story's passage goes first.
    settings = RankingSettings(date_margin=gap + 0.01)
    dated = Engine(store, embedder, settings).retrieve(question, 2)
    assert [h.passage.doc_id for h in dated.hits] == ["harbour-new.md", "harbour-old.md"]
    # Far apart: a margin smaller than the gap keeps the order of relevance.
    narrow = Engine(store, embedder, dataclasses.replace(settings, date_margin=gap / 2))
    assert [h.passage.doc_id for h in narrow.retrieve(question, 2).hits] == by_score

    # A reply citing both stories says that their dates differ, and shows each date.
    answer = Engine(store, embedder).ask(
        "When did the old harbour of Saint-Louis reopen to cargo ships?", k=2
    )
    assert answer.found
    assert [h.passage.doc_id for h in answer.hits] == ["harbour-new.md", "harbour-old.md"]
    text = format_text(answer)
    assert "different dates (2025-01-10 to 2025-04-01)" in text
    assert "2025-04-01" in text and "2025-01-10" in text  # each citation shows its date
    assert "different dates (2025-01-10 to 2025-04-01)" in format_html(answer)
    one = Engine(store, embedder).ask(question, k=1)
    assert "different dates" not in format_text(one)


def test_shipped_corpus_reply_has_no_date_note(story_engine: Engine) -> None:
    answer = story_engine.ask("Who will the ministers meet in Moscow?")
    assert "different dates" not in format_text(answer)
