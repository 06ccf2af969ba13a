"""Loading corpus files: each format, metadata, and broken files skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.documents import load_document, parse_markdown, parse_text, scan_corpus
from index.errors import DocumentError
from tests.conftest import CORPUS


def test_shipped_story_has_metadata_and_sections() -> None:
    doc = load_document(CORPUS / "000_1517f336e036ffe5.md", "000_1517f336e036ffe5.md")
    assert doc.source == "Amnewsworld"
    assert "Moscow" in doc.title
    headings = [s.heading for s in doc.sections]
    assert headings == ["", "A Shift in Alliances", "Russia’s Expanding Influence in the Sahel"]
    assert "Sergei Lavrov" in doc.text
    assert len(doc.fingerprint) == 64


def test_markdown_front_matter_and_title_heading() -> None:
    meta, sections = parse_markdown(
        "---\nsource: Wire\ndate: 2025-04-01\nurl: https://example.org/a\n---\n"
        "# The Title\n\nIntro with a [link](https://x.org) and **bold**.\n\n## Part two\n\n"
        "- first item\n- second item\n"
    )
    assert meta == {
        "source": "Wire",
        "date": "2025-04-01",
        "url": "https://example.org/a",
        "title": "The Title",
    }
    assert sections[0].paragraphs == ("Intro with a link and bold.",)
    assert sections[1].heading == "Part two"
    assert sections[1].paragraphs == ("first item", "second item")


def test_text_headings_are_short_unpunctuated_lines() -> None:
    _, sections = parse_text(
        "First paragraph of the story, which ends with a full stop.\n"
        "A Heading Here\nBody under the heading.\n"
    )
    assert [s.heading for s in sections] == ["", "A Heading Here"]


def test_html_main_text_without_scripts_or_navigation(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Site | Story</title><meta name='date' content='2025-04-02'></head>"
        "<body><nav><a href='/'>Home</a> <a href='/x'>World</a></nav>"
        "<script>document.write('ads')</script><article><h1>Sahel ministers in Moscow</h1>"
        "<p>The ministers of three Sahel states met officials in Moscow on Thursday to talk about "
        "security cooperation, trade and energy projects across the region.</p>"
        "<h2>Background</h2><p>The confederation was formed in 2024 after the three states "
        "left the regional bloc that had sanctioned them over military takeovers.</p>"
        "</article><footer>Copyright 2025</footer></body></html>",
        encoding="utf-8",
    )
    doc = load_document(page, "page.html")
    assert doc.title == "Sahel ministers in Moscow"
    assert doc.date == "2025-04-02"
    assert "document.write" not in doc.text
    assert "Home" not in doc.text
    assert any(s.heading == "Background" for s in doc.sections)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n ", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" * 20, "binary"),
        ("latin1.txt", "Café crème à la carte".encode("latin-1"), "UTF-8"),
        ("badfront.md", b"---\ntitle: [unclosed\n---\nbody text\n", "front matter"),
        ("nofront.md", b"---\ntitle: x\nno closing marker\n", "never closed"),
        ("onlyscript.html", b"<html><body><script>var a=1;</script></body></html>", "main text"),
    ],
)
def test_broken_document_gives_clear_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=reason):
        load_document(path, name)


def test_scan_skips_broken_files_and_keeps_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good story.md").write_text("# Good\n\nA readable story about a visit.\n")
    (corpus / "ünïcode name.txt").write_text("Another story, with a unicode file name.\n")
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\x00\x01" * 100)
    (corpus / "notes.csv").write_text("a,b\n")  # unsupported: ignored silently
    (corpus / ".hidden.md").write_text("# Hidden\n\nnot indexed\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("A secret outside the corpus folder.\n")
    (corpus / "link.txt").symlink_to(outside)
    big = corpus / "big.txt"
    big.write_text("word " * 300_000)

    with caplog.at_level("WARNING"):
        scan = scan_corpus(corpus, max_bytes=1_000_000)
    assert sorted(d.doc_id for d in scan.documents) == ["good story.md", "ünïcode name.txt"]
    reasons = dict(scan.skipped)
    assert set(reasons) == {"bad.txt", "link.txt", "big.txt"}
    assert "outside the corpus" in reasons["link.txt"]
    assert "limit" in reasons["big.txt"]
    assert "bad.txt" in caplog.text


def test_a_50_mb_file_and_a_crashing_reader_are_skipped_with_their_reason(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "story.md").write_text("# Story\n\nA readable story about a visit.\n")
    with (corpus / "huge.txt").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # 50 MB (sparse): refused by size before reading
    # PyYAML turns 2024-13-45 into a date and raises ValueError: the reader crashes on it.
    (corpus / "bad date.md").write_text("---\ndate: 2024-13-45\n---\nText of the story.\n")
    scan = scan_corpus(corpus)
    reasons = dict(scan.skipped)
    assert [d.doc_id for d in scan.documents] == ["story.md"]
    assert "MB limit" in reasons["huge.txt"]
    assert "ValueError" in reasons["bad date.md"]


def test_scan_does_not_read_the_files_it_is_told_are_unchanged(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "new.md").write_text("# New\n\nA new story.\n")
    (corpus / "same.txt").write_bytes(b"\x00 would be refused as binary if it were read")
    scan = scan_corpus(corpus, reuse={"same.txt"})
    assert [d.doc_id for d in scan.documents] == ["new.md"]
    assert scan.reused == ("same.txt",)
    assert not scan.skipped
