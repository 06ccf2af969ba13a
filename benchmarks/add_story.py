"""How long adding a story by link takes: fetch + extract + save, then the incremental reindex,
against a full rebuild of the same corpus, measured in the same run.

    .venv/bin/python benchmarks/add_story.py [--runs 5]

Uses the shipped corpus, the bundled model and a local news site on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.build import build_index  # noqa: E402
from index.corpus_files import remove_document  # noqa: E402
from index.embedder import Embedder  # noqa: E402
from index.fetch import add_url  # noqa: E402
from index.settings import BuildSettings, FetchSettings  # noqa: E402
from tests.corpus_site import news_site  # noqa: E402


def figures(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} min {min(values) * 1000:8.1f} ms  median "
        f"{statistics.median(values) * 1000:8.1f} ms  max {max(values) * 1000:8.1f} ms"
    )


async def main(runs: int) -> None:
    embedder = Embedder()
    embedder.encode_query("warm up")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        index = Path(tmp) / "index"
        build_index(corpus, index, embedder.name, lambda: embedder, BuildSettings())
        fetch, reindex, full, remove = [], [], [], []
        async with news_site() as root:
            for _ in range(runs):
                started = time.perf_counter()
                doc_id, _ = await add_url(corpus, f"{root}/lavrov.html", FetchSettings())
                fetch.append(time.perf_counter() - started)
                started = time.perf_counter()
                report = build_index(corpus, index, embedder.name, lambda: embedder)
                reindex.append(time.perf_counter() - started)
                assert report.added == [doc_id], report.summary()
                fresh = Path(tmp) / "fresh"
                started = time.perf_counter()
                build_index(corpus, fresh, embedder.name, lambda: embedder)
                full.append(time.perf_counter() - started)
                shutil.rmtree(fresh)
                remove_document(corpus, doc_id)
                started = time.perf_counter()
                build_index(corpus, index, embedder.name, lambda: embedder)
                remove.append(time.perf_counter() - started)
    print(f"{runs} runs; corpus: shipped stories + one added page")
    print(figures("fetch + extract + save (add_url)", fetch))
    print(figures("incremental reindex after add", reindex))
    print(figures("full rebuild of the same corpus", full))
    print(figures("reindex after remove", remove))
    ratio = statistics.median(full) / statistics.median(reindex)
    print(f"incremental vs full rebuild: {ratio:.2f}x faster (medians)")
    total = statistics.median(fetch) + statistics.median(reindex)
    print(f"add by link, end to end (median): {total:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
