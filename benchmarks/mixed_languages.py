"""English and French questions over a corpus in two languages: the shipped English story and
a story in French (evaluation/multilingual/french_story/), with the split on.

    .venv/bin/python -m benchmarks.mixed_languages [--config config.toml] [--index /tmp/mixed]
    .venv/bin/python -m benchmarks.mixed_languages --write-squad /tmp/squad-fr \
        [--squad ../shared/data/squad_v11_dev]

For each question: is its answer in the top 3 passages, is it answered, and is the reply's
first sentence the answer? Each English question is measured twice in one run: answered by
MiniLM alone (the engine's retrieval and answer, as before the corpus's languages were read),
and as ``Engine.ask`` answers it (``Engine.across_languages``: the multilingual model asked too
when the corpus holds other languages). The two are timed alternately, question by question,
with the query cache off; the ratio of their latencies is the cost on a mixed corpus.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.runtime import install_other, make_embedder, make_other_embedder, reindex
from index.answer_composition import compose
from index.engine import Engine
from index.eval_metrics import contains_answer
from index.passages import Answer, Hit
from index.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "evaluation" / "multilingual"

Row = dict[str, Any]


def _question_sets() -> dict[str, list[Row]]:
    """Set name -> questions, each with ``question`` and what counts as its answer."""
    french = [json.loads(line) for line in (SETS / "french_story_questions.jsonl").open()]
    story = [json.loads(line) for line in (SETS / "story_fr.jsonl").open()]
    return {
        "French story, English questions": [r for r in french if r["language"] == "en"],
        "French story, French questions": [r for r in french if r["language"] == "fr"],
        "English story, English questions": [{**r, "question": r["english"]} for r in story],
        "English story, French questions": story,
    }


def _english(row: Row) -> bool:
    return row.get("language") == "en" or ("english" in row and row["question"] == row["english"])


def _answers(row: Row, text: str) -> bool:
    if "answer_sentence" in row:
        return row["answer_sentence"] in text
    return contains_answer(text, row["answers"])


def _first(row: Row, answer: Answer) -> bool:
    return answer.found and _answers(row, answer.sentences[0].text)


def _top3(row: Row, hits: tuple[Hit, ...] | list[Hit]) -> bool:
    return any(_answers(row, h.passage.text) for h in hits[:3])


def _timed(call: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call(*args)
    return result, (time.perf_counter() - started) * 1000


def measure(engine: Engine, rows: list[Row]) -> dict[str, Any]:
    """Top 3 / answered / first sentence, MiniLM alone and as ``ask`` answers (English), or
    as ``ask`` answers (other languages); latencies of both."""
    counts = {"alone": [0, 0, 0], "ask": [0, 0, 0]}
    times: dict[str, list[float]] = {"alone": [], "ask": []}
    for row in rows:
        question = row["question"]
        own = engine.for_question(question)
        found, alone_ms = _timed(own.retrieve, question)
        alone, compose_ms = _timed(compose, question, question, found, own.settings)
        chosen = engine.across_languages(question, question, None, found)
        answer, ask_ms = _timed(engine.ask, question)
        times["alone"].append(alone_ms + compose_ms)
        times["ask"].append(ask_ms)
        for name, hits, reply in (
            ("alone", found.hits, alone),
            ("ask", chosen.hits if own is engine else found.hits, answer),
        ):
            counts[name][0] += _top3(row, hits)
            counts[name][1] += reply.found
            counts[name][2] += _first(row, reply)
    names = ("top3", "answered", "first")
    figures = {name: dict(zip(names, c, strict=True)) for name, c in counts.items()}
    return {
        "questions": len(rows),
        **figures,
        **{
            f"{name}_ms": {
                "p50": round(statistics.median(t), 2),
                "p95": round(sorted(t)[int(0.95 * (len(t) - 1))], 2),
                "mean": round(statistics.fmean(t), 2),
            }
            for name, t in times.items()
        },
    }


def write_squad(squad: Path, out: Path) -> None:
    """A data set for ``storybot eval``: squad's passages and the French story's sections (one
    passage line each, ``AES_Niamey#p000`` ...), and the story's English and French questions
    with the id of the section that holds their answer sentence."""
    out.mkdir(parents=True, exist_ok=True)
    (story,) = (SETS / "french_story").glob("*.md")
    _, front, body = story.read_text(encoding="utf-8").split("---", 2)
    title = next(line for line in front.splitlines() if line.startswith("title:"))
    title = json.loads(title.split(":", 1)[1])
    parts = body.split("\n## ")
    parts = [part.split("\n", 1)[1] if i else part for i, part in enumerate(parts)]
    sections = [" ".join(p.strip() for p in part.split("\n\n") if p.strip()) for part in parts]
    ids = [f"AES_Niamey#p{i:03d}" for i in range(len(sections))]
    with (out / "passages.jsonl").open("w", encoding="utf-8") as lines:
        lines.write((squad / "passages.jsonl").read_text(encoding="utf-8"))
        for pid, text in zip(ids, sections, strict=True):
            lines.write(
                json.dumps({"id": pid, "title": title, "text": text}, ensure_ascii=False) + "\n"
            )
    shutil.copy(squad / "questions.jsonl", out / "questions.jsonl")
    rows = [json.loads(line) for line in (SETS / "french_story_questions.jsonl").open()]
    for language in ("en", "fr"):
        with (out / f"french_story_{language}.jsonl").open("w", encoding="utf-8") as lines:
            for row in (r for r in rows if r["language"] == language):
                (pid,) = (
                    i for i, t in zip(ids, sections, strict=True) if row["answer_sentence"] in t
                )
                lines.write(json.dumps({**row, "passage_ids": [pid]}, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.toml")
    parser.add_argument("--index", type=Path)
    parser.add_argument("--write-squad", type=Path, help="write squad + the French story here")
    parser.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad_v11_dev")
    args = parser.parse_args()
    if args.write_squad:
        write_squad(args.squad, args.write_squad)
        return
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        for story in (SETS / "french_story").glob("*.md"):
            shutil.copy(story, corpus / story.name)
        folder = args.index or Path(scratch) / "index"
        config = load_config(args.config)
        config = dataclasses.replace(
            config,
            corpus=dataclasses.replace(config.corpus, path=corpus),
            index=dataclasses.replace(config.index, path=folder),
        )
        embedder = make_embedder(config, query_cache=0)
        other = make_other_embedder(config, query_cache=0)
        if other is None:
            raise SystemExit("index.other_languages_model is not set: nothing to compare")
        reindex(config, lambda: embedder, None, lambda: other)
        store = IndexStore.load(config.index.path, config.embedding_id)
        engine = Engine(store, embedder, config.ranking_settings())
        install_other(config, engine, other)
        print(f"corpus languages: {store.manifest.languages}; {len(store)} passages")
        for warm_up in ("Who is the Russian foreign minister?", "Qui est le ministre russe ?"):
            engine.ask(warm_up)  # loads the language model and both ONNX sessions
        for name, rows in _question_sets().items():
            print(json.dumps({"set": name, **measure(engine, rows)}))
        english = [r for rows in _question_sets().values() for r in rows if _english(r)]
        print(json.dumps({"set": "every English question", **measure(engine, english)}))


if __name__ == "__main__":
    main()
