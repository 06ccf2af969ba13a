"""`storybot add`, `docs` and `remove` in-process, on a private corpus and index."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.test_cli import _run, config_file  # noqa: F401  (fixture)
from tests.corpus_site import FLOOD, make_pdf, news_site, wrap

pytestmark = pytest.mark.slow


@pytest.fixture
def site() -> Iterator[str]:
    """The local news site, served from its own event loop in a thread (the CLI runs its own)."""
    ready: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        async def main() -> None:
            async with news_site(slow_seconds=3) as root:
                ready.append(root)
                await asyncio.to_thread(stop.wait)

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    while not ready:
        thread.join(0.05)
    yield ready[0]
    stop.set()
    thread.join(5)


def test_add_url_then_docs_then_remove(
    config_file: Path,  # noqa: F811
    site: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = ["--config", str(config_file)]
    code, out, err = _run(capsys, *cfg, "add", f"{site}/lavrov.html")
    assert code == 1 and "Refused: address not allowed" in err  # the site is on 127.0.0.1
    with config_file.open("a") as handle:
        handle.write("[fetch]\nallow_private_networks = true\n")
    code, out, _ = _run(capsys, *cfg, "add", f"{site}/lavrov.html")
    assert code == 0, out
    assert out.startswith("Added sahel-ministers-meet-lavrov-in-moscow.md")
    assert "Daily Wire · 2025-04-04" in out and "1 added" in out

    code, out, err = _run(capsys, *cfg, "add", f"{site}/lavrov.html")
    assert code == 1 and "already in the corpus" in err

    code, out, err = _run(capsys, *cfg, "add", f"{site}/loop")
    assert code == 1 and "redirects too many times" in err
    code, out, err = _run(capsys, *cfg, "add", "no-such-file.txt")
    assert code == 1 and "neither a file nor a web address" in err

    code, out, _ = _run(capsys, *cfg, "docs", "--json")
    docs = {d["doc_id"]: d for d in json.loads(out)}
    assert set(docs) == {"000_1517f336e036ffe5.md", "sahel-ministers-meet-lavrov-in-moscow.md"}
    added = docs["sahel-ministers-meet-lavrov-in-moscow.md"]
    assert added["date"] == "2025-04-04" and added["passages"] >= 1

    code, out, _ = _run(capsys, *cfg, "docs", "--latest", "1")
    assert out.splitlines()[0] == "sahel-ministers-meet-lavrov-in-moscow.md"

    code, out, err = _run(capsys, *cfg, "remove", "nothing")
    assert code == 1 and "no document 'nothing'" in err
    code, out, _ = _run(capsys, *cfg, "remove", "sahel-ministers-meet-lavrov-in-moscow")
    assert code == 0 and "1 removed" in out
    code, out, _ = _run(capsys, *cfg, "docs")
    assert "sahel" not in out and "1 documents" in out


def test_add_files(
    config_file: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = ["--config", str(config_file)]
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(make_pdf(wrap(FLOOD), "Floods in Porto Nuevo"))
    code, out, _ = _run(capsys, *cfg, "add", str(pdf))
    assert code == 0 and out.startswith("Added floods-in-porto-nuevo.md")
    fake = tmp_path / "fake.pdf"
    fake.write_text("hello")
    code, _, err = _run(capsys, *cfg, "add", str(fake))
    assert code == 1 and "not a PDF" in err
    code, out, _ = _run(capsys, *cfg, "ask", "How many families had to leave their homes?")
    assert "three hundred families" in out and "2025-04-02" in out
