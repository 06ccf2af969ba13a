"""The engine on the real model and real FAISS: questions about the shipped story."""

from __future__ import annotations

import numpy as np
import pytest

from index.embedder import Embedder
from index.encoder import GivenVectors
from index.engine import Engine
from index.followup import Turn
from index.keyword import tokenize
from index.lexical_features import lexical_features, merge_lexical
from index.terms import bigram_pairs

pytestmark = pytest.mark.slow

# (question, a phrase of the sentence that answers it)
STORY_QUESTIONS = [
    ("When will the ministers visit Moscow?", "April 3-4"),
    ("Who will the ministers meet in Moscow?", "Sergei Lavrov"),
    ("What is the AES?", "Confederation of Sahel States"),
    ("How big is the joint military force?", "5,000-strong"),
    ("When was the AES formed?", "in 2024"),
    ("Through which group has Russia supplied military aid?", "Wagner Group"),
    ("Who chairs the AES Year 1 Roadmap?", "chaired by Mali"),
    ("Why are the three countries turning to Moscow?", "political and military backing"),
    ("Which sectors besides defense have seen more collaboration?", "energy and mining"),
    ("What did the AES call the visit?", "crucial step"),
]


@pytest.mark.parametrize(("question", "phrase"), STORY_QUESTIONS)
def test_story_question_is_answered_by_the_right_sentence(
    story_engine: Engine, question: str, phrase: str
) -> None:
    answer = story_engine.ask(question)
    assert answer.found
    assert phrase in answer.sentences[0].text
    assert phrase in answer.hits[0].passage.text
    assert answer.sentences[0].passage.doc_id == "000_1517f336e036ffe5.md"
    assert answer.sentences[0].passage.source == "Amnewsworld"


@pytest.mark.parametrize("question", ["what does AES stand for", "what's the AES?"])
def test_a_definition_asked_as_in_a_chat_finds_the_defining_sentence(
    story_engine: Engine, question: str
) -> None:
    answer = story_engine.ask(question)
    assert answer.found
    assert "Confederation of Sahel States (AES)" in answer.sentences[0].text


@pytest.mark.parametrize(
    ("question", "phrase", "rank"),
    [
        ("Whom are the envoys scheduled to sit down with in the Russian capital?", "Lavrov", 1),
        ("How large is the new combined army?", "5,000-strong", 1),
        ("Which top Kremlin diplomat is the delegation going to talk with?", "Lavrov", 3),
    ],
)
def test_paraphrase_without_shared_keywords_finds_the_passage(
    story_engine: Engine, question: str, phrase: str, rank: int
) -> None:
    found = story_engine.retrieve(question, 3)
    assert any(phrase in h.passage.text for h in found.hits[:rank])


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "How do I bake sourdough bread?",
        "Who won the football world cup in 2018?",
        "What is the boiling point of water in Fahrenheit?",
    ],
)
def test_unrelated_question_is_not_found(story_engine: Engine, question: str) -> None:
    answer = story_engine.ask(question)
    assert not answer.found, answer.relevance
    assert not answer.sentences
    assert answer.nearest_titles  # the bot says what it does know about


def test_follow_up_is_answered_in_context(story_engine: Engine) -> None:
    first = story_engine.ask("What is the AES?")
    follow = story_engine.ask("When was it formed?", [Turn(first.question, first.query)])
    assert follow.found
    assert "2024" in follow.sentences[0].text
    alone = story_engine.ask(
        "Who will the ministers meet in Moscow?", [Turn(first.question, first.query)]
    )
    assert alone.query == "Who will the ministers meet in Moscow?"  # not polluted


def test_a_standalone_question_mid_conversation_is_not_merged(story_engine: Engine) -> None:
    history = [
        Turn(
            "Who are the ministers meeting in Moscow?", "Who are the ministers meeting in Moscow?"
        )
    ]
    answer = story_engine.ask("What is the AES?", history)
    assert answer.query == "What is the AES?"
    assert "Confederation of Sahel States" in answer.sentences[0].text


def test_a_follow_up_goes_on_in_the_passage_its_previous_answer_cited(
    story_engine: Engine,
) -> None:
    """A follow-up's answer sentence is sought first where the previous answer was found:
    "to talk about?" after "who will they meet" (asked after another question) is answered
    from the passage the meeting's answer cited."""
    meeting = story_engine.ask("Who will the ministers meet in Moscow?")
    cited = meeting.hits[0].passage.passage_id
    assert "Lavrov" in meeting.sentences[0].text
    first = Turn("since when does the AES exist?", "since when does the AES exist?")

    def follow(cited: str) -> str:
        previous = Turn("who will they meet", f"{first.query} who will they meet", cited)
        answer = story_engine.ask("to talk about?", [first, previous])
        assert answer.found
        return answer.sentences[0].text

    assert "defense, security, and economic development" in follow(cited)
    # a passage that is not among the candidates changes nothing
    assert follow("no-such-passage") == follow("")


def test_a_follow_up_answers_what_is_asked_now(story_engine: Engine) -> None:
    """The passage comes from the conversation, the sentence from the new question: "and
    when?" after "who are they meeting?" must not repeat the meeting's sentence."""
    first = story_engine.ask("Who are the ministers meeting in Moscow?")
    assert "Lavrov" in first.sentences[0].text
    follow = story_engine.ask("and when?", [Turn(first.question, first.query)])
    assert "April 3-4" in follow.sentences[0].text


def test_hits_are_distinct_passages_best_first(story_engine: Engine) -> None:
    answer = story_engine.ask("Russia military aid Sahel")
    ids = [h.passage.passage_id for h in answer.hits]
    assert len(ids) == len(set(ids))
    scores = [h.score for h in answer.hits]
    assert scores == sorted(scores, reverse=True)


def test_keyword_features_merge_from_any_split(story_engine: Engine) -> None:
    """The BM25 candidates' features are computed beside the embedding, the dense-only
    candidates' after it: merged, they equal the features computed all at once."""
    store = story_engine.store
    tokens = tokenize("When was the AES joint force of the Sahel states formed?")
    pairs = bigram_pairs("the joint force of the Sahel states")
    rows = list(np.random.default_rng(7).permutation(len(store)).tolist())
    whole = lexical_features(store, rows, tokens, pairs)
    assert whole.keyword.max() > 0 and whole.bigram.max() > 0 and whole.sentence_bm25.max() > 0
    for cut in (0, 1, len(rows) // 2, len(rows)):
        first, second = rows[cut:][::-1], rows[:cut]
        merged = merge_lexical(
            rows,
            lexical_features(store, first, tokens, pairs),
            lexical_features(store, second, tokens, pairs),
        )
        for name in ("keyword", "bigram", "sentence_bm25", "counts"):
            assert np.array_equal(getattr(merged, name), getattr(whole, name)), (cut, name)


def test_the_same_answer_whether_keywords_run_beside_the_embedding(
    story_engine: Engine, embedder: Embedder
) -> None:
    """Embedded here, the question's keyword side runs on another thread (two cores or more);
    with its vector given, everything runs in turn: the same retrieval either way."""
    assert embedder.cached_query("Which force is planned?") is None  # no cache: embedded here
    engine = story_engine
    for question in ("Who chairs the AES roadmap for its first year?", "Which force is planned?"):
        beside = engine.retrieve(question)
        given = GivenVectors(embedder.name, [question], [beside.query_vector])
        in_turn = Engine(engine.store, given).retrieve(question)
        assert beside.rows == in_turn.rows and beside.rows
        assert beside.relevance == in_turn.relevance
        assert np.array_equal(beside.sentence_bm25, in_turn.sentence_bm25)
        assert np.array_equal(beside.query_vector, embedder.encode_query(question))
