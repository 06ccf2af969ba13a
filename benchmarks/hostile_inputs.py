"""Worst cases of the bounds on hostile input: time and peak memory, one case per process.

    cd /tmp && /work/main/.venv/bin/python /work/main/benchmarks/hostile_inputs.py          # all
    cd /tmp && /work/main/.venv/bin/python /work/main/benchmarks/hostile_inputs.py pdf_zip  # one

Run it from a scratch folder, not the repository root. Each case runs in a fresh interpreter
with its input built before the clock starts; "peak RSS" is that process's high-water mark
(shown next to the one before the case ran), "children" the peak of the reader processes it
started. The figures are in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# After the path is set: the modules under test, imported before any clock starts.
from index import documents  # noqa: E402
from index.errors import DocumentError  # noqa: E402
from index.extraction import article_from_pdf  # noqa: E402
from index.fetch import fetch_page  # noqa: E402
from index.isolation import run_isolated  # noqa: E402
from index.settings import FetchSettings  # noqa: E402
from tests.index.test_ingest import pdf_with_shared_stream  # noqa: E402

MB = 1024 * 1024
OLD_HEADING = r"^(#{1,6})\s+(.*?)\s*#*\s*$"  # the regex the Markdown reader used


def alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["laugh","laugh","laugh","laugh","laugh","laugh","laugh","laugh","laugh"]']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [{','.join([f'*a{n - 1}'] * 9)}]")
    lines.append(f"title: *a{levels - 1}")
    return "---\n" + "\n".join(lines) + "\n---\n\nThe story.\n"


def expand_front_matter(text: str) -> int:
    """What the reader did before aliases were refused."""
    import yaml

    return len(str(yaml.safe_load(text.split("---")[1])))


def old_heading(line: str) -> bool:
    return bool(re.match(OLD_HEADING, line))


MARKDOWN = {
    "md_heading": lambda n: "# a" + " " * n + "b",
    "md_brackets": lambda n: "[]" * (n // 2),
    "md_links": lambda n: "[a](" * (n // 4),
    "md_stars": lambda n: "*" * n,
    "md_emphasis": lambda n: " *a" * (n // 3),
    "md_bold": lambda n: " **a" * (n // 4),
    "md_mixed": lambda n: "[*_`a](" * (n // 7),
}


def _case(case: str) -> object:
    if case == "yaml_aliases":
        try:
            documents.parse_markdown(alias_bomb(9))
        except DocumentError as exc:
            return str(exc).split("\n")[0]
    if case == "yaml_largest":
        front = "title: " + "x" * (documents.MAX_FRONT_MATTER_CHARS - 20)
        meta, _ = documents.parse_markdown(f"---\n{front}\n---\n\nstory\n")
        return f"{len(meta['title']):,}-character title read"
    if case == "yaml_nesting":
        try:
            documents.parse_markdown("---\ntitle: " + "[" * 30_000 + "\n---\n\nstory\n")
        except DocumentError as exc:
            return str(exc)
    if case in MARKDOWN:
        text = INPUT["text"]
        documents.parse_markdown_body(text)
        return f"{len(text):,} characters"
    if case == "metadata":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "a.md"
            path.write_text(
                f"---\ntitle: {'Floods ' * 8000}\nurl: https://x.org/{'a' * 4100}\n---\n\n"
                f"## {'Part ' * 1000}\n\nstory\n"
            )
            doc = documents.load_document(path, "a.md")
        return (
            f"title {len(doc.title)}, url {len(doc.url)}, section {len(doc.sections[0].heading)}"
        )
    if case == "pdf_shared_stream":
        data = INPUT["pdf"]
        return f"{len(data):,}-byte PDF -> {len(article_from_pdf(data, 'a.pdf').text):,} chars"
    if case == "pdf_inflating_stream":
        data = INPUT["pdf"]
        try:
            article_from_pdf(data, "zip.pdf")
        except DocumentError as exc:
            return f"{len(data):,}-byte PDF: {str(exc)[:50]}…"
    if case == "child_memory":
        try:
            run_isolated(expand_front_matter, alias_bomb(9))
        except DocumentError as exc:
            return str(exc)
    if case == "child_time":
        try:
            run_isolated(old_heading, "# a" + " " * 20_000 + "b")
        except DocumentError as exc:
            return str(exc)
    if case in ("loop_stall_thread", "loop_stall_child"):
        line = "# a" + " " * 1500 + "b"  # about 5 s of the old regex

        async def stall() -> str:
            ticks = [time.perf_counter()]

            async def tick() -> None:
                while True:
                    await asyncio.sleep(0.01)
                    ticks.append(time.perf_counter())

            ticker = asyncio.create_task(tick())
            if case == "loop_stall_child":
                await asyncio.to_thread(run_isolated, old_heading, line)
            else:
                await asyncio.to_thread(old_heading, line)
            ticker.cancel()
            ticks.append(time.perf_counter())
            gap = max(b - a for a, b in itertools.pairwise(ticks))
            return f"the event loop's longest stall: {gap * 1000:.0f} ms"

        return asyncio.run(stall())
    if case == "ssrf":

        async def refuse() -> list[str]:
            said = []
            for url in (
                "http://127.0.0.1:9/",
                "http://[::ffff:127.0.0.1]/",
                "http://169.254.169.254/latest/meta-data/",
                "http://localhost:9/",
                "http://[fd00:ec2::254]/",
            ):
                start = time.perf_counter()
                try:
                    await fetch_page(url, FetchSettings(timeout=5))
                except DocumentError as exc:
                    ms = (time.perf_counter() - start) * 1000
                    said.append(f"{url} {ms:.1f} ms {str(exc)[:29]}")
            return said

        return asyncio.run(refuse())
    raise SystemExit(f"unknown case {case!r}")


CASES = [
    "yaml_aliases",
    "yaml_largest",
    "yaml_nesting",
    *MARKDOWN,
    "metadata",
    "pdf_shared_stream",
    "pdf_inflating_stream",
    "child_memory",
    "child_time",
    "loop_stall_thread",
    "loop_stall_child",
    "ssrf",
]


INPUT: dict[str, object] = {}


def _prepare(case: str) -> None:
    """The inputs, built before the clock starts."""
    if case in MARKDOWN:
        INPUT["text"] = MARKDOWN[case](2_000_000)
    elif case == "pdf_shared_stream":
        page = b"BT /F1 1 Tf 0 0 Td (" + b"flood " * 40_000 + b") Tj ET"
        INPUT["pdf"] = pdf_with_shared_stream(20, page)
    elif case == "pdf_inflating_stream":
        INPUT["pdf"] = pdf_with_shared_stream(1, b" " * 80_000_000)


def main(argv: list[str]) -> int:
    if not argv:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        for case in CASES:
            subprocess.run([sys.executable, __file__, case], check=False)
        return 0
    (case,) = argv
    _prepare(case)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = _case(case)
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{case}: {seconds:.3f} s, peak RSS {own:.0f} MB (before the case {before:.0f} MB), "
        f"children {children:.0f} MB: {result}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
