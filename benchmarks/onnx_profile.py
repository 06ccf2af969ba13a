"""Where the ONNX int8 embedders spend their time: onnxruntime's own profiler over one
single-threaded session, MiniLM and multilingual-e5-small on the same squad_v11_dev passages.

    .venv/bin/python -m benchmarks.onnx_profile [--passages 40] [--onnx-cache index/onnx]
        [--e5-graph OLD/model.onnx]

Each passage (title-prefixed, as an index embeds it; e5 with its ``passage: `` prefix) is run
alone, as the int8 path runs it. Prints, per model, the passages, their tokens, the kernels'
total time and each operator type's share of it (after onnxruntime's graph fusions), so the
shares compare across models even when the machine's load changes the absolute times.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from index.build_vectors import embedding_text
from index.chunking import chunk_document
from index.e5_onnx import E5OnnxRunner, export_e5_onnx
from index.embedder import resolve_model_path
from index.eval_data import load_passages
from index.models import BUNDLED_MODEL, E5_MODEL, E5_PREFIXES
from index.onnx_backend import (
    DISABLED_OPTIMIZERS,
    MODEL_FILE,
    OnnxRunner,
    export_onnx,
    max_seq_length,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "squad_v11_dev"


def loaded(model: str, cache: Path) -> tuple[OnnxRunner, str, Path]:
    """The model's int8 runner (exported into ``cache`` if missing), its passage prefix and its
    graph's file."""
    if model == E5_MODEL:
        folder = export_e5_onnx(cache, "int8")
        return E5OnnxRunner(folder, 1, per_item=True), E5_PREFIXES[1], folder / MODEL_FILE
    path = resolve_model_path(model)
    graph = export_onnx(path, cache, "int8")
    runner = OnnxRunner(path / "tokenizer.json", graph, max_seq_length(path), 1, per_item=True)
    return runner, "", graph


def profile(
    model: str, texts: list[str], cache: Path, scratch: Path, other_graph: Path | None = None
) -> None:
    """Run ``texts`` one at a time through ``model``'s int8 graph (or ``other_graph``, another
    export of it) with profiling on; print the operator types' shares."""
    import onnxruntime as ort

    runner, prefix, graph = loaded(model, cache)
    graph = other_graph or graph
    tokens = runner.tokenize([prefix + t for t in texts])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_profiling = True
    options.profile_file_prefix = str(scratch / model.replace("/", "_").replace(":", "_"))
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(graph),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=DISABLED_OPTIMIZERS,
    )
    names = [i.name for i in session.get_inputs()]
    started = time.perf_counter()
    for ids in tokens:
        row = np.asarray([ids], np.int64)
        feed = {"input_ids": row, "attention_mask": np.ones_like(row)}
        feed["token_type_ids"] = np.zeros_like(row)
        session.run(None, {k: feed[k] for k in names})
    elapsed = time.perf_counter() - started
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(by_op.values())
    count = sum(map(len, tokens))
    print(
        f"\n{model} ({graph.parent.name}/{graph.name}): {len(texts)} passages, "
        f"{count:,} tokens ({count / len(texts):.0f} a passage), {elapsed:.2f} s "
        f"({len(texts) / elapsed:.1f} passages/s on one thread), "
        f"kernels {total / 1e6:.2f} s"
    )
    print("| operator | share of kernel time |")
    print("|---|---|")
    for op, micros in by_op.most_common(10):
        print(f"| {op} | {100 * micros / total:.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=40)
    parser.add_argument("--onnx-cache", type=Path, default=ROOT / "index" / "onnx")
    parser.add_argument(
        "--e5-graph", type=Path, help="also profile this int8 e5 graph (an older export, say)"
    )
    args = parser.parse_args()
    documents = load_passages(DATA)
    chosen = documents[:: max(1, len(documents) // args.passages)][: args.passages]
    texts = [embedding_text(chunk_document(d, 220, 1, 40)[0]) for d in chosen]
    with tempfile.TemporaryDirectory() as scratch:
        for model in (BUNDLED_MODEL, E5_MODEL):
            profile(model, texts, args.onnx_cache, Path(scratch))
        if args.e5_graph is not None:
            profile(E5_MODEL, texts, args.onnx_cache, Path(scratch), args.e5_graph)


if __name__ == "__main__":
    main()
