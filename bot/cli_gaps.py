"""``storybot gaps``: the gap report in the terminal (``--since DAYS``, ``--json``), and the
grouping measured on labelled questions (``--evaluate FILE``)."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from pathlib import Path

import numpy as np

from index.embedder import Embedder

from .config import Config
from .gap_evaluation import (
    GroupingScore,
    best_threshold,
    load_labelled,
    score_grouping,
    split_topics,
)
from .gap_recorder import GapRecorder
from .runtime import make_embedder

__all__ = ["add_commands", "cmd_gaps"]

THRESHOLDS = [round(0.30 + 0.02 * i, 2) for i in range(31)]  # 0.30 .. 0.90
MAX_DAYS = 36500.0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``gaps`` on the ``storybot`` parser."""
    gaps = sub.add_parser(
        "gaps", help="questions the bot could not answer well, grouped into gaps"
    )
    gaps.add_argument(
        "--since", type=float, default=7.0, metavar="DAYS", help="the last DAYS days (7)"
    )
    gaps.add_argument("--json", action="store_true", help="as one JSON object")
    gaps.add_argument(
        "--evaluate",
        type=Path,
        metavar="FILE",
        help="measure the grouping on labelled questions (evaluation/gaps/questions.jsonl)",
    )
    gaps.set_defaults(func=cmd_gaps, log_default=logging.WARNING)


def cmd_gaps(args: argparse.Namespace, config: Config) -> int:
    if args.evaluate is not None:
        return _evaluate(args.evaluate, config)
    if not 0 < args.since <= MAX_DAYS:
        print(f"--since must be a number of days above 0, not {args.since}.", file=sys.stderr)
        return 2
    load = functools.cache(lambda: make_embedder(config, query_cache=0))
    recorder = GapRecorder.open(config, load)
    try:
        gaps = recorder.gaps(args.since)
        counts = recorder.counts()
    finally:
        recorder.close()
    if args.json:
        report = {
            "days": args.since,
            "threshold": config.gaps.threshold,
            "open_questions": counts["open"],
            "closed_questions": counts["closed"],
            "gaps": [g.as_dict() for g in gaps],
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    shown = sum(g.count for g in gaps)
    print(
        f"{shown} open question(s) in {len(gaps)} gap(s) over the last {args.since:g} days "
        f"({counts['open']} open and {counts['closed']} closed held in all)."
    )
    for rank, gap in enumerate(gaps, start=1):
        nearest = f"  nearest: {gap.nearest}" if gap.nearest else ""
        print(f"\n{rank}. {gap.count} question(s){nearest}")
        for example in gap.examples:
            print(f"   - {example}")
    return 0


def _evaluate(path: Path, config: Config) -> int:
    try:
        questions = load_labelled(path)
    except (OSError, ValueError) as exc:
        print(f"Cannot read {path}: {exc}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    embedder: Embedder = make_embedder(config, query_cache=0)
    vectors = np.stack(
        [embedder.encode_query(q.question) for q in tqdm(questions, desc="encoding", leave=False)]
    )
    fit_topics, test_topics = split_topics(questions)
    halves = {}
    for name, topics in (("fit", fit_topics), ("test", test_topics)):
        rows = [i for i, q in enumerate(questions) if q.topic in topics]
        subset = [questions[i] for i in rows]
        halves[name] = [score_grouping(subset, vectors[rows], t) for t in THRESHOLDS]
    print(
        f"{len(questions)} questions in {len(fit_topics) + len(test_topics)} topics "
        f"({config.embedding_id}); fit on {len(fit_topics)} topics, reported on "
        f"{len(test_topics)}.\n"
    )
    print("threshold | fit: precision recall ARI groups | test: precision recall ARI groups")
    for fit, test in zip(halves["fit"], halves["test"], strict=True):
        print(f"{fit.threshold:9.3f} | {_row(fit)} | {_row(test)}")
    best = best_threshold(halves["fit"])
    test = next(s for s in halves["test"] if s.threshold == best.threshold)
    shipped = config.gaps.threshold
    print(
        f"\nBest on the fit half: {best.threshold:.3f} (ARI {best.ari:.3f}); on the test half "
        f"there: precision {test.precision:.3f}, recall {test.recall:.3f}, ARI {test.ari:.3f}."
    )
    at_shipped = [score_grouping(questions, vectors, shipped)]
    whole = at_shipped[0]
    print(
        f"Shipped gaps.threshold = {shipped:.3f}, all topics: precision {whole.precision:.3f}, "
        f"recall {whole.recall:.3f}, ARI {whole.ari:.3f}, {whole.groups} groups."
    )
    return 0


def _row(score: GroupingScore) -> str:
    return f"{score.precision:.3f} {score.recall:.3f} {score.ari:.3f} {score.groups:4d}"
