"""The figures of ``storybot eval`` as text, JSON-ready dicts and a recall plot."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conversation_eval import TurnResult

__all__ = ["as_dict", "format_conversations", "format_eval", "format_gate", "plot_recall"]

logger = logging.getLogger(__name__)


def as_dict(item: TurnResult) -> dict[str, object]:
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}


def format_conversations(figures: dict[str, Any]) -> str:
    """The conversation figures as a table per part (all, fit, held_out, each corpus)."""
    lines = []
    for part, f in figures.items():
        lines.append(
            f"{part}: {f['sessions']} sessions, {f['turns']} turns, right {f['right']:.3f}"
        )
        for kind, k in f["kinds"].items():
            if k["turns"]:
                lines.append(
                    f"  {kind:<13} {k['turns']:>5} turns  right {k['right']:.3f}  "
                    f"alone {k['alone']:.3f}  rewrite {k['rewrite']:.3f}"
                )
        lines.append(
            f"  standalone mid-session {f['standalone_mid_session']:.3f} vs alone "
            f"{f['standalone_alone']:.3f}; follow-ups / rewrites {f['follow_up_vs_rewrite']:.3f}; "
            f"switches citing the earlier topic {f['switch_cites_earlier_topic']:.3f}"
        )
        lines.append(
            f"  unhedged answers right {f['unhedged_right']:.3f}; right answers hedged "
            f"{f['right_but_hedged']:.3f}; out of scope declined {f['out_of_scope_declined']:.3f}"
        )
    return "\n".join(lines)


def format_gate(gate: dict[str, Any]) -> list[str]:
    """The relevance gate's curve and the answer confidence's figures, as lines."""
    lines = [
        "",
        f"not-found gate ({gate['questions']} questions asked with and without "
        f"their article, {gate['everyday']} everyday questions):",
        f"{'threshold':>9} {'false not-found':>16} {'false answer':>13} {'everyday answered':>18}",
    ]
    for row in gate["curve"]:
        mark = "  <- hedge" if row["threshold"] == gate["hedge"]["threshold"] else ""
        lines.append(
            f"{row['threshold']:>9.2f} {row['false_not_found']:>16.3f} "
            f"{row['false_answer']:>13.3f} {row['false_answer_everyday']:>18.3f}{mark}"
        )
    conf = gate["confidence"]
    lines += ["", f"confidence (gate {conf['gate']}, decline {conf['decline']}):"]
    for part in ("all", "held_out"):
        f = conf[part]
        lines.append(
            f"  {part:<8} unhedged answers right {f['unhedged_right']:.3f}; right answers hedged "
            f"{f['right_hedged']:.3f}; out of scope declined {f['out_of_scope_declined']:.3f}; "
            f"answerable declined {f['answerable_declined']:.3f}"
        )
    lines.append(f"  everyday questions declined {conf['everyday_declined']:.3f}")
    lines.append("  held-out curve:   gate  unhedged right  right hedged")
    for row in conf["curve"]:
        mark = "  <- gate" if row["gate"] == conf["gate"] else ""
        lines.append(
            f"{'':>18}{row['gate']:>5.2f} {row['unhedged_right']:>15.3f} "
            f"{row['right_hedged']:>13.3f}{mark}"
        )
    return lines


def plot_recall(result: dict[str, Any], path: Path) -> None:
    """recall@k for k = 1..10, one line per method, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.error("--plot needs matplotlib (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for method, figures in result["methods"].items():
        curve = figures["recall_curve"]
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=method)
    ax.set_xlabel("k (passages returned)")
    ax.set_ylabel("recall@k")
    ax.set_xticks(range(1, 11))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"{Path(result['data']).name}: {result['questions']} questions")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_eval(result: dict[str, Any]) -> str:
    lines = [
        f"{result['data']}: {result['questions']} questions, {result['passages']} passages "
        f"({result['chunks']} chunks), model {result['model']}",
        f"indexing: {result['indexing_seconds']} s, {result['tokens_embedded']} tokens embedded "
        f"({result['tokens_per_second']} tokens/s)",
        "",
        f"{'method':<8} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'answer':>7} {'notfound':>8}",
    ]
    for method, f in result["methods"].items():
        answer = f"{f['answer_sentence_hit']:.3f}" if "answer_sentence_hit" in f else "-"
        nf = f"{f['not_found_rate']:.3f}" if "not_found_rate" in f else "-"
        lines.append(
            f"{method:<8} {f['recall@1']:>6.3f} {f['recall@5']:>6.3f} {f['recall@10']:>6.3f} "
            f"{f['mrr@10']:>7.3f} {f['latency_p50_ms']:>7.2f} {f['latency_p95_ms']:>7.2f} "
            f"{answer:>7} {nf:>8}"
        )
        if "phrase_coverage" in f:
            lines.append(
                f"{'':<8} answer phrase in bold for {f['phrase_coverage']:.3f} of answers: "
                f"EM {f['phrase_em']:.3f}, F1 {f['phrase_f1']:.3f}"
            )
        for point in f.get("phrase_curve", ()):
            m = point["margins"]
            margins = " / ".join("never" if m[k] is None else f"{m[k]:g}" for k in m)
            mark = "  <- shipped" if point["shipped"] else ""
            lines.append(
                f"{'':<10} margins {margins:<15} coverage {point['coverage']:.3f}  "
                f"EM {point['em']:.3f}  F1 {point['f1']:.3f}{mark}"
            )
    if "followups" in result:
        lines += [
            "",
            "follow-ups (second turn):  R@1 with / without context, answer with / "
            "without, context added",
        ]
        for kind, f in result["followups"].items():
            lines.append(
                f"{kind:<11} {f['pairs']:>4} pairs  R@1 {f['with_context_recall@1']:.3f} / "
                f"{f['without_context_recall@1']:.3f}  answer {f['with_context_answer']:.3f} / "
                f"{f['without_context_answer']:.3f}  added {f['context_added']:.3f}"
            )
    if "gate" in result:
        lines += format_gate(result["gate"])
    lines.append("")
    lines.append("answer = share of questions whose gold answer is in the first answer sentence;")
    lines.append("latency = dense: embed + FAISS; bm25: BM25 alone; hybrid: the whole engine.")
    return "\n".join(lines)
