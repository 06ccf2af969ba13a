"""Incremental reindex of a 10,000-document corpus: no change, one changed document, one new one.

    .venv/bin/python -m benchmarks.reindex [--docs 10000] [--runs 3] [--keep DIR]

Writes a corpus of short .md documents (title front matter, one or two sentences of a
squad_v11_dev passage each) into a temporary folder, builds its index once with the real engine
path (``build_index`` with the embedder of a config using backend onnx / precision int8) and
prints how long that took. Then, ``--runs`` times: (a) reindexes with no change, (b) appends a
sentence to one document and reindexes, checking from the BuildReport that only that document's
passages were embedded, (c) adds one new document and reindexes. Prints min/median/max seconds
of each and where the time of each went (the build's stages, timed through its progress
callback: "before" = loading the previous index and hashing the files, "reading" = parsing and
chunking, "embedding", "writing" = BM25, FAISS and files).

The model is loaded once (as in the bot, which keeps it loaded) and its load time is printed
apart. ``--keep DIR`` keeps the corpus and index in DIR and reuses them on the next run, so the
initial build (minutes here) is paid once.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import load_config
from bot.runtime import make_embedder
from index.build import build_index
from index.build_report import BuildReport
from index.embedder import Embedder
from index.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "squad_v11_dev"
ONNX_CACHE = ROOT / "index" / "onnx"  # else one exported under the benchmark folder
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def make_corpus(folder: Path, count: int) -> None:
    """``count`` short .md documents: one sentence of a squad passage each (two when the first
    is short), spread evenly over the whole data set."""
    rows = [json.loads(line) for line in (DATA / "passages.jsonl").open(encoding="utf-8")]
    texts: list[tuple[str, str]] = []
    for row in rows:
        sentences = [s.strip() for s in _SENTENCE_END.split(row["text"]) if s.strip()]
        i = 0
        while i < len(sentences):
            body = sentences[i]
            i += 1
            if len(body.split()) < 15 and i < len(sentences):
                body += " " + sentences[i]
                i += 1
            texts.append((row["title"], body))
    if len(texts) < count:
        raise SystemExit(f"only {len(texts)} short texts in {DATA}; ask for fewer --docs")
    step = len(texts) / count
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        title, body = texts[int(n * step)]
        write_doc(folder, n, f"{title} ({n})", body)


def write_doc(folder: Path, n: int, title: str, body: str) -> Path:
    sub = folder / f"{n // 1000:02d}"
    sub.mkdir(exist_ok=True)
    path = sub / f"doc{n:05d}.md"
    path.write_text(f'---\ntitle: "{title}"\n---\n\n{body}\n', encoding="utf-8")
    return path


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SystemExit(f"unexpected reindex: {message}")


def stats(values: list[float]) -> str:
    return (
        f"min {min(values):6.2f}  median {statistics.median(values):6.2f}  max {max(values):6.2f}"
    )


class Phases:
    """Times the build's stages from its progress callback."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: dict[str, list[float]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        first_last = self.marks.setdefault(stage, [now, now])
        first_last[1] = now

    def split(self, end: float) -> dict[str, float]:
        order = [s for s in ("reading", "embedding", "writing") if s in self.marks]
        result: dict[str, float] = {}
        previous = self.start
        for stage in order:
            first = self.marks[stage][0]
            if not result:
                result["before"] = first - previous
            previous = first
            result[stage] = 0.0
        if not order:
            result["before"] = end - self.start
            return result
        for i, stage in enumerate(order):
            stop = self.marks[order[i + 1]][0] if i + 1 < len(order) else end
            result[stage] = stop - self.marks[stage][0]
        return result


def timed_build(
    corpus: Path, folder: Path, model: str, load: Callable[[], Embedder], settings
) -> tuple[BuildReport, float, dict[str, float]]:
    phases = Phases()
    started = time.perf_counter()
    report = build_index(corpus, folder, model, load, settings, phases)
    end = time.perf_counter()
    return report, end - started, phases.split(end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep corpus and index here (and reuse them)")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="reindex-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    corpus, index_dir = base / "corpus", base / "index"
    onnx_cache = ONNX_CACHE if ONNX_CACHE.is_dir() else base / "onnx"
    config_path = base / "config.toml"
    config_path.write_text(
        f'[corpus]\npath = "{corpus}"\n\n[index]\npath = "{index_dir}"\n'
        f'backend = "onnx"\nprecision = "int8"\nonnx_cache = "{onnx_cache}"\n',
        encoding="utf-8",
    )
    config = load_config(config_path)
    settings = config.build_settings()
    model = config.embedding_id

    if not corpus.is_dir():
        t0 = time.perf_counter()
        make_corpus(corpus, args.docs)
        print(f"corpus: {args.docs} documents written in {time.perf_counter() - t0:.1f} s")
    files = sorted(corpus.rglob("*.md"))
    print(f"corpus: {len(files)} documents in {corpus}; model {model}")

    t0 = time.perf_counter()
    embedder = make_embedder(config)
    embedder.encode_query("warm up")
    print(f"model load: {time.perf_counter() - t0:.1f} s (once; kept loaded, as the bot does)")

    def load() -> Embedder:
        return embedder

    report, seconds, phases = timed_build(corpus, index_dir, model, load, settings)
    what = "initial build" if not report.unchanged else "index reused (--keep)"
    print(
        f"{what}: {seconds:.1f} s, {report.documents} documents, {report.passages} passages, "
        f"{report.embedded} embedded ({report.tokens} tokens)"
    )

    results: dict[str, list[float]] = {"no change": [], "one changed": [], "one added": []}
    where: dict[str, list[dict[str, float]]] = {k: [] for k in results}
    added: list[Path] = []
    for run in range(args.runs):
        report, seconds, phases = timed_build(corpus, index_dir, model, load, settings)
        check(report.unchanged and report.embedded == 0, report.summary())
        results["no change"].append(seconds)
        where["no change"].append(phases)

        target = files[(run * 997 + 123) % len(files)]
        doc_id = target.relative_to(corpus).as_posix()
        with target.open("a", encoding="utf-8") as handle:
            handle.write(f"An extra sentence was added in run {run} at {time.time():.3f}.\n")
        report, seconds, phases = timed_build(corpus, index_dir, model, load, settings)
        store = IndexStore.load(index_dir, model, verify=False)
        own = sum(1 for p in store.passages if p.doc_id == doc_id)
        check(report.changed == [doc_id], report.summary())
        check(not report.added and not report.removed, report.summary())
        check(report.embedded == own, f"{report.embedded} embedded, the document has {own}")
        results["one changed"].append(seconds)
        where["one changed"].append(phases)
        print(f"run {run + 1}: changed {doc_id}: {report.summary()}")

        new = write_doc(
            corpus,
            len(files) + 100 + run,
            f"Added document {run}",
            "This document was added by the reindex benchmark. It has two sentences.",
        )
        added.append(new)
        report, seconds, phases = timed_build(corpus, index_dir, model, load, settings)
        check(report.added == [new.relative_to(corpus).as_posix()], report.summary())
        results["one added"].append(seconds)
        where["one added"].append(phases)
        print(f"run {run + 1}: added {report.added[0]}: {report.summary()}")

    print(f"\nreindex of {len(files)} documents, seconds over {args.runs} runs:")
    for name, values in results.items():
        seen = {k for p in where[name] for k in p}
        stages = [k for k in ("before", "reading", "embedding", "writing") if k in seen]
        median_stages = ", ".join(
            f"{k} {statistics.median(p.get(k, 0.0) for p in where[name]):.2f}" for k in stages
        )
        print(f"  {name:12s} {stats(values)}   (median by stage: {median_stages})")

    for path in added:  # leave a kept corpus as it was made (the index catches up next time)
        path.unlink()
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
