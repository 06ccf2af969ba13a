"""The story's questions, in French and in English, asked of the configured model on the shipped
corpus: is a gold answer in the top 3 passages retrieved, and in the reply's first sentence?

    .venv/bin/python -m benchmarks.story_questions [--config e5.toml] [--index /tmp/story-e5]

With the config's ``index.other_languages_model`` (the split), that model indexes the corpus
too (in the ``other`` folder of the index) and answers the questions in other languages.

Reads evaluation/multilingual/story_fr.jsonl (each line keeps its English original). The index
of ``corpus/`` is built in ``--index`` (a temporary folder by default) with the config's model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from bot.config import load_config
from bot.runtime import make_embedder, make_other_embedder
from index.build import build_index
from index.engine import Engine
from index.eval_metrics import contains_answer
from index.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "evaluation" / "multilingual" / "story_fr.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.toml")
    parser.add_argument("--index", type=Path)
    args = parser.parse_args()
    config = load_config(args.config)
    embedder = make_embedder(config)
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.index or Path(scratch) / "index"
        build_index(ROOT / "corpus", folder, embedder.name, lambda: embedder, config.build)
        engine = Engine(IndexStore.load(folder, embedder.name), embedder, config.retrieval)
        other = make_other_embedder(config)
        if other is not None:
            plain = dataclasses.replace(config.build, query_prefix="", passage_prefix="")
            build_index(ROOT / "corpus", folder / "other", other.name, lambda: other, plain)
            store = IndexStore.load(folder / "other", other.name)
            engine.other = Engine(store, other, config.retrieval)
        print(f"{embedder.name}: {len(rows)} story questions")
        print("| language | answer in top 3 passages | answered | answer in first sentence |")
        print("|---|---|---|---|")
        for language, key in (("fr", "question"), ("en", "english")):
            top3 = answered = first = 0
            for row in rows:
                found = engine.for_question(row[key]).retrieve(row[key], 3)
                top3 += any(contains_answer(h.passage.text, row["answers"]) for h in found.hits)
                answer = engine.ask(row[key])
                answered += answer.found
                first += bool(
                    answer.found and contains_answer(answer.sentences[0].text, row["answers"])
                )
                if language == "fr" and not any(
                    contains_answer(h.passage.text, row["answers"]) for h in found.hits
                ):
                    print(f"  missed: {row[key]}")
            n = len(rows)
            print(f"| {language} | {top3}/{n} | {answered}/{n} | {first}/{n} |")


if __name__ == "__main__":
    main()
