"""Passage-level evaluation on a question-answering set (passages.jsonl + questions.jsonl).

BM25 alone, dense alone and the hybrid engine are measured in one run, on one index, so that
their figures (and latencies) compare fairly.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .answer_composition import compose
from .build import index_documents
from .build_report import BuildReport
from .embedder import Embedder
from .engine import Engine
from .eval_data import EvalQuestion, FollowUp, load_passages, load_questions
from .eval_metrics import (
    MethodResult,
    contains_answer,
    gold_rank,
    normalize_answer,
    recall_at,
    token_f1,
)
from .gate_eval import evaluate_gate
from .keyword import tokenize
from .passages import Document
from .settings import BuildSettings, RankingSettings
from .store import IndexStore

__all__ = ["METHODS", "evaluate", "evaluate_followups", "evaluate_gate", "open_dataset_engine"]

METHODS = ("bm25", "dense", "hybrid")


def evaluate(
    data_dir: Path,
    embedder: Embedder,
    build: BuildSettings,
    ranking: RankingSettings,
    questions_file: Path | None = None,
    limit: int = 0,
    index_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    followups: Sequence[FollowUp] = (),
    story_engine: Engine | None = None,
    everyday: Sequence[str] | None = None,
    other: Embedder | None = None,
) -> dict[str, object]:
    """Index the data set's passages and measure.

    With ``other`` (the split), a second index of the passages is built by that model in the
    ``other`` folder, and questions in another language than English are asked of it.

    The index goes in a temporary folder, or in ``index_dir``: there an index left by an earlier
    run is reused, so only passages it lacks are embedded (the reported indexing time and tokens
    are then those of this run's work).
    """
    documents = load_passages(data_dir)
    questions = load_questions(questions_file or data_dir / "questions.jsonl", limit)
    with tempfile.TemporaryDirectory(prefix="storybot-eval-") as tmp:
        folder = index_dir or Path(tmp)
        started = time.perf_counter()
        store, report = _dataset_store(documents, folder, embedder, build, progress)
        indexing_seconds = time.perf_counter() - started
        engine = Engine(store, embedder, ranking)
        other_seconds = _add_other(engine, documents, folder, other, build, progress)
        results = {m: MethodResult() for m in METHODS}
        for i, q in enumerate(questions):
            _measure(engine, q, results)
            if progress:
                progress("questions", i + 1, len(questions))
        engines = {"squad": engine}
        if story_engine is not None:
            engines["story"] = story_engine
        follow = evaluate_followups(followups, engines) if followups else None
        gate = evaluate_gate(engine, questions, everyday) if everyday is not None else None
    return {
        "data": str(data_dir),
        "questions": len(questions),
        "passages": len(documents),
        "chunks": report.passages,
        "indexing_seconds": round(indexing_seconds, 2),
        "tokens_embedded": report.tokens,
        "tokens_per_second": round(report.tokens / max(indexing_seconds, 1e-9), 1),
        "model": embedder.name,
        **(
            {"other_model": other.name, "other_indexing_seconds": round(other_seconds, 2)}
            if other is not None
            else {}
        ),
        "methods": {m: r.figures() for m, r in results.items()},
        **({"followups": follow} if follow else {}),
        **({"gate": gate} if gate else {}),
    }


def _add_other(
    engine: Engine,
    documents: Sequence[Document],
    folder: Path,
    other: Embedder | None,
    build: BuildSettings,
    progress: Callable[[str, int, int], None] | None,
) -> float:
    """The split: the passages indexed by ``other`` in ``folder``/other become ``engine``'s
    engine for other languages; returns the seconds it took (0 without ``other``)."""
    if other is None:
        return 0.0
    started = time.perf_counter()
    store, _ = _dataset_store(documents, folder / "other", other, build, progress)
    engine.other = Engine(store, other, engine.settings)
    return time.perf_counter() - started


def _dataset_store(
    documents: Sequence[Document],
    folder: Path,
    embedder: Embedder,
    build: BuildSettings,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[IndexStore, BuildReport]:
    """The data set's passages indexed by ``embedder`` in ``folder``: an index already there,
    built with the same settings, is brought up to date rather than rebuilt."""
    previous = None
    if IndexStore.exists(folder):
        previous = IndexStore.load(folder, embedder.name)
        if previous.manifest.settings_fingerprint != build.fingerprint(embedder.name):
            previous = None
    report = index_documents(
        documents, folder, embedder.name, lambda: embedder, build, progress, previous=previous
    )
    return IndexStore.load(folder, embedder.name), report


def _measure(engine: Engine, q: EvalQuestion, results: dict[str, MethodResult]) -> None:
    engine = engine.for_question(q.question)
    store = engine.store
    passages = store.passages

    t0 = time.perf_counter()
    vector = engine.embedder.encode_query(q.question)
    dense = engine.dense_rows(vector, 30)
    t1 = time.perf_counter()
    keyword, _ = engine.keyword_rows(tokenize(q.question), 30)
    t2 = time.perf_counter()
    found = engine.retrieve(q.question, 10)
    found = engine.across_languages(q.question, q.question, 10, found)
    answer = compose(q.question, q.question, found, engine.settings, read=engine.read)
    t3 = time.perf_counter()

    results["dense"].ranks.append(gold_rank((passages[r].doc_id for r in dense), q.passage_ids))
    results["dense"].latencies.append((t1 - t0) * 1000)
    results["bm25"].ranks.append(gold_rank((passages[r].doc_id for r in keyword), q.passage_ids))
    results["bm25"].latencies.append((t2 - t1) * 1000)
    hybrid = results["hybrid"]
    cited = answer.hits if answer.found else found.hits  # what the reply cites first
    hybrid.ranks.append(gold_rank((h.passage.doc_id for h in cited), q.passage_ids))
    hybrid.latencies.append((t3 - t2) * 1000)
    if not answer.found:
        hybrid.not_found += 1
        hybrid.not_found_first += hybrid.ranks[-1] == 1
    elif answer.sentences and contains_answer(answer.sentences[0].text, q.answers):
        hybrid.answer_hits += 1
    if answer.found and answer.sentences:
        hybrid.curve.add(q.question, answer.sentences[0].text, q.answers, _phrase_match)
    if answer.phrase_text and q.answers:
        hybrid.phrases += 1
        hybrid.phrase_em += max(
            float(normalize_answer(answer.phrase_text) == normalize_answer(g)) for g in q.answers
        )
        hybrid.phrase_f1 += max(token_f1(answer.phrase_text, g) for g in q.answers)


def _phrase_match(phrase: str, gold: str) -> tuple[float, float]:
    return float(normalize_answer(phrase) == normalize_answer(gold)), token_f1(phrase, gold)


def evaluate_followups(
    items: Sequence[FollowUp], engines: dict[str, Engine]
) -> dict[str, dict[str, float]]:
    """Second-turn accuracy with the first turn as context and without it.

    For follow-ups, "with context" should beat "without"; for stand-alone second turns the
    context must change nothing (``merged`` counts the times it was wrongly added).
    """
    from .followup import Turn

    figures: dict[str, dict[str, float]] = {}
    for kind in ("follow_up", "standalone"):
        chosen = [
            i for i in items if i.standalone == (kind == "standalone") and i.corpus in engines
        ]
        with_ctx = MethodResult()
        without = MethodResult()
        merged = 0
        for item in chosen:
            engine = engines[item.corpus]
            first = engine.ask(item.turns[0])
            history = [Turn(item.turns[0], first.query)]
            for result, hist in ((with_ctx, history), (without, [])):
                answer = engine.ask(item.turns[1], hist, k=10)
                result.ranks.append(
                    gold_rank((h.passage.doc_id for h in answer.hits), item.passage_ids)
                )
                if not answer.found:
                    result.not_found += 1
                elif answer.sentences and contains_answer(answer.sentences[0].text, item.answers):
                    result.answer_hits += 1
                if hist and answer.query != item.turns[1].strip():
                    merged += 1
        figures[kind] = {
            "pairs": len(chosen),
            "with_context_recall@1": recall_at(with_ctx.ranks, 1),
            "without_context_recall@1": recall_at(without.ranks, 1),
            "with_context_answer": with_ctx.answer_hits / max(len(chosen), 1),
            "without_context_answer": without.answer_hits / max(len(chosen), 1),
            "context_added": merged / max(len(chosen), 1),
        }
    return figures


def open_dataset_engine(
    data_dir: Path,
    embedder: Embedder,
    build: BuildSettings,
    ranking: RankingSettings,
    folder: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> Engine:
    """An engine on the data set's passages, indexed in ``folder`` (an index already there,
    built with the same settings, is brought up to date rather than rebuilt)."""
    store, _ = _dataset_store(load_passages(data_dir), folder, embedder, build, progress)
    return Engine(store, embedder, ranking)
