"""``storybot eval``: retrieval measured on a data set, follow-ups and whole conversations."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_progress import Progress
from .config import Config
from .eval_report import as_dict, format_conversations, format_eval, format_gate, plot_recall

if TYPE_CHECKING:
    from index.engine import Engine

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``eval`` on the ``storybot`` parser."""
    ev = sub.add_parser("eval", help="measure retrieval on a data set (passages+questions)")
    ev.add_argument("data_dir")
    ev.add_argument("--questions", help="another questions.jsonl against the same passages")
    ev.add_argument("--limit", type=int, default=0, help="evaluate an even sample of N questions")
    ev.add_argument("--json", action="store_true", help="the figures as one JSON object")
    ev.add_argument("--plot", help="write a PNG of recall@k for each method to this file")
    ev.add_argument("--index", help="keep the data set's index in this folder and reuse it")
    ev.add_argument(
        "--gate",
        action="store_true",
        help="also measure the not-found gate: each question with its article hidden, "
        "and everyday questions",
    )
    ev.add_argument(
        "--everyday",
        default="evaluation/everyday.txt",
        help="everyday questions the corpus cannot answer (one per line)",
    )
    ev.add_argument(
        "--followups",
        help="two-turn conversations (JSON lines) to measure "
        "follow-up handling on, against the data set and the configured corpus",
    )
    ev.add_argument(
        "--conversations",
        help="chat sessions (a JSON-lines file, or a folder of them) to play through the bot's "
        "conversation rules, on the data set and the configured corpus",
    )
    ev.add_argument(
        "--turns", action="store_true", help="with --json and --conversations: every turn too"
    )
    ev.set_defaults(func=cmd_eval, log_default=logging.WARNING)


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    from index.eval_data import load_followups
    from index.evaluate import evaluate

    from .runtime import make_embedder, make_other_embedder, open_engine

    if args.conversations:
        return _eval_conversations(args, config)
    progress = Progress()
    embedder = make_embedder(config, query_cache=0)  # latency of real embedding
    followups = load_followups(Path(args.followups)) if args.followups else []
    story = open_engine(config, embedder) if any(f.corpus == "story" for f in followups) else None
    try:
        result = evaluate(
            Path(args.data_dir),
            embedder,
            config.build_settings(),
            config.ranking_settings(),
            questions_file=Path(args.questions) if args.questions else None,
            limit=args.limit,
            index_dir=Path(args.index) if args.index else None,
            progress=progress,
            followups=followups,
            story_engine=story,
            everyday=_lines(Path(args.everyday)) if args.gate else None,
            other=make_other_embedder(config, query_cache=0),
        )
    finally:
        progress.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_eval(result))
    if args.plot:
        plot_recall(result, Path(args.plot))
    return 0


def _eval_conversations(args: argparse.Namespace, config: Config) -> int:
    """``storybot eval DATA --conversations FILE``: play the sessions, print the figures."""
    import tempfile

    from index.evaluate import open_dataset_engine

    from .conversation_eval import load_sessions, play_sessions, report
    from .runtime import make_embedder, open_engine

    sessions = load_sessions(Path(args.conversations))
    embedder = make_embedder(config)
    engines = {}
    progress = Progress()
    with tempfile.TemporaryDirectory(prefix="storybot-eval-") as tmp:
        try:
            if any(s.corpus == "story" for s in sessions):
                engines["story"] = open_engine(config, embedder)
            if any(s.corpus == "squad" for s in sessions):
                engines["squad"] = open_dataset_engine(
                    Path(args.data_dir),
                    embedder,
                    config.build_settings(),
                    config.ranking_settings(),
                    Path(args.index) if args.index else Path(tmp),
                    progress,
                )
            total = sum(len(s.turns) for s in sessions)
            results = play_sessions(
                sessions, engines, config.retrieval.top_k, lambda n: progress("turns", n, total)
            )
            gate = _squad_gate(args, engines.get("squad"))
        finally:
            progress.close()
    figures = report(results)
    if args.json:
        turns = [as_dict(r) for r in results]
        out: dict[str, object] = {"figures": figures, "turns": turns} if args.turns else figures
        print(json.dumps({**out, "gate": gate} if gate else out, indent=2))
    else:
        print(format_conversations(figures))
        if gate:
            print("\n".join(format_gate(gate)))
    return 0


def _squad_gate(args: argparse.Namespace, engine: Engine | None) -> dict[str, object] | None:
    """With ``--gate``, the gate's and the confidence's figures on the data set's questions."""
    from index.eval_data import load_questions
    from index.gate_eval import evaluate_gate

    if not args.gate or engine is None:
        return None
    data = Path(args.data_dir)
    questions = load_questions(
        Path(args.questions) if args.questions else data / "questions.jsonl", args.limit
    )
    return evaluate_gate(engine, questions, _lines(Path(args.everyday)))


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
