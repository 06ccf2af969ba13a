"""Quality of the scale paths on squad_v11_dev: the same questions (embedded once) against the
same passages stored exactly and in the compact/approximate forms.

    .venv/bin/python -m benchmarks.scale_quality /tmp/sq4 /tmp/sq4-hnsw /tmp/sq4-both --limit 7399

Each folder is an index of squad_v11_dev (``storybot eval --index DIR`` leaves one; the variants
are the same vectors rewritten with other thresholds by ``benchmarks/rewrite_index.py``, see
docs/performance.md). Prints
hybrid recall@1/@5, MRR@10 and how often the first answer sentence holds the answer, as
``storybot eval`` measures them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.query_vectors import query_vectors
from index.answer_composition import compose
from index.embedder import Embedder
from index.encoder import GivenVectors
from index.engine import Engine
from index.eval_data import load_questions
from index.eval_metrics import contains_answer, gold_rank
from index.store import IndexStore

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad_v11_dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("indexes", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()
    questions = load_questions(SQUAD / "questions.jsonl", args.limit)
    embedder = Embedder()
    vectors = query_vectors(embedder, [q.question for q in questions])
    print(f"{len(questions)} squad_v11_dev questions (an even sample)")
    print("| index | dense | sentences | R@1 | R@5 | MRR@10 | answer sentence |")
    print("|---|---|---|---|---|---|---|")
    for folder in args.indexes:
        store = IndexStore.load(folder, embedder.name)
        given = GivenVectors(embedder.name, [q.question for q in questions], vectors)
        engine = Engine(store, given)
        ranks, answered = [], 0
        for q in questions:
            found = engine.retrieve(q.question, 10)
            answer = compose(q.question, q.question, found, engine.settings)
            cited = answer.hits if answer.found else found.hits
            ranks.append(gold_rank((h.passage.doc_id for h in cited), q.passage_ids))
            if answer.found and answer.sentences:
                answered += contains_answer(answer.sentences[0].text, q.answers)
        r = np.array([x if x else 10**9 for x in ranks])
        print(
            f"| {folder} | {store.manifest.faiss_type} | {store.manifest.sentence_codec} "
            f"| {np.mean(r <= 1):.3f} | {np.mean(r <= 5):.3f} "
            f"| {np.mean([1 / x if x <= 10 else 0 for x in r]):.3f} "
            f"| {answered / len(questions):.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
