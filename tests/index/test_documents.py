"""Loading corpus files: each format, metadata, and broken files skipped with a reason."""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from index.documents import load_document, scan_corpus
from index.errors import DocumentError
from index.front_matter import MAX_FRONT_MATTER_CHARS
from index.markup import (
    markdown_heading,
    parse_markdown,
    parse_markdown_body,
    parse_text,
    strip_emphasis,
    strip_links,
)
from index.metadata import (
    MAX_DATE_CHARS,
    MAX_SECTION_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
)
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


# -- hostile documents: bounded work, bounded metadata ------------------------------------------


def alias_bomb(levels: int = 7) -> str:
    """Front matter of a few hundred bytes whose aliases expand ninefold per level ("billion
    laughs"): 7 levels make a 68-million-character title."""
    lines = ['a0: &a0 ["laugh","laugh","laugh","laugh","laugh","laugh","laugh","laugh","laugh"]']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [{','.join([f'*a{n - 1}'] * 9)}]")
    lines.append(f"title: *a{levels - 1}")
    return "---\n" + "\n".join(lines) + "\n---\n\nThe story.\n"


def test_yaml_aliases_and_anchors_are_refused() -> None:
    bomb = alias_bomb()
    assert len(bomb) < 500
    with pytest.raises(DocumentError, match="aliases"):
        parse_markdown(bomb)
    with pytest.raises(DocumentError, match="aliases"):
        parse_markdown("---\ntitle: &t Floods\n---\n\nThe story.\n")  # an anchor alone
    with pytest.raises(DocumentError, match="aliases"):
        parse_markdown("---\nbase: &b {title: x}\nmeta:\n  <<: *b\n---\n\nThe story.\n")


@pytest.mark.parametrize(
    ("front", "reason"),
    [
        ("title: " + "x" * (MAX_FRONT_MATTER_CHARS + 10), "over the limit"),
        ("title: " + "[" * 5000 + "]" * 5000, "nested too deep"),
        ("title: " + "1" * 5000, "cannot be read"),  # over Python's int digit limit
    ],
)
def test_front_matter_that_would_take_long_to_read_is_refused(front: str, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        parse_markdown(f"---\n{front}\n---\n\nThe story.\n")


def test_a_bomb_in_the_corpus_is_skipped_and_never_matched_by_url(tmp_path: Path) -> None:
    from index.corpus_files import find_url

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bomb.md").write_text(alias_bomb(9))  # 9 levels: 5.5 billion characters
    (corpus / "story.md").write_text("---\nurl: https://example.org/a\n---\n\nA story.\n")
    scan = scan_corpus(corpus)
    assert [d.doc_id for d in scan.documents] == ["story.md"]
    assert "aliases" in dict(scan.skipped)["bomb.md"]
    assert find_url(corpus, "https://example.org/a") == "story.md"
    assert find_url(corpus, "https://example.org/b") is None


# The regexes the scanners replace: the reference for what they do, on short text only (on long
# hostile text they take minutes: the heading one is cubic, the others quadratic).
OLD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
OLD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
OLD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
MARKDOWNISH = st.text(alphabet="#a [](!)*_`\t\n\u00a0\x1c", max_size=30)


@given(MARKDOWNISH)
@settings(max_examples=1500)
def test_the_linear_scanners_do_what_the_regexes_did(text: str) -> None:
    line = text.split("\n")[0]
    old = OLD_HEADING.match(line)
    assert markdown_heading(line) == ((len(old.group(1)), old.group(2)) if old else None)
    assert strip_links(text) == OLD_LINK.sub(r"\1", text)
    assert strip_emphasis(text) == OLD_EMPHASIS.sub(r"\2", text)


BOMBS = {
    "a heading with a long gap": lambda n: "# a" + " " * n + "b",  # 92 s at n=5,000 before
    "unclosed brackets": lambda n: "[" * n,
    "links never closed": lambda n: "[a](" * n,
    "brackets without links": lambda n: "[a]" * n,
    "unclosed emphasis": lambda n: " *a" * n,
    "unclosed bold": lambda n: " **a" * n,
    "unclosed code": lambda n: " `a" * n,
    "stars": lambda n: "*" * n,
}


@given(kind=st.sampled_from(sorted(BOMBS)), n=st.integers(2_000, 200_000))
@settings(max_examples=40, deadline=timedelta(seconds=2))
def test_markdown_bombs_are_read_in_linear_time(kind: str, n: int) -> None:
    text = BOMBS[kind](n)
    title, sections = parse_markdown_body(text + "\n\n" + text)
    assert len(title) <= len(text)
    assert sum(len(p) for s in sections for p in s.paragraphs) <= 2 * len(text)


@given(MARKDOWNISH.map(lambda t: t * 200))
@settings(max_examples=60, deadline=timedelta(seconds=2))
def test_any_markdown_is_read_in_bounded_time(text: str) -> None:
    title, sections = parse_markdown_body(text)
    assert len(title) <= len(text)
    assert all(len(s.heading) <= MAX_SECTION_CHARS for s in sections)


PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc"))  # control characters: binary
TEXT = st.text(PRINTABLE, max_size=3000) | st.text("ab #\n", min_size=2000, max_size=6000)


@given(title=TEXT, source=TEXT, date=TEXT, url=TEXT, heading=TEXT)
@settings(max_examples=60, deadline=timedelta(seconds=2))
def test_metadata_is_capped_where_documents_are_read(
    title: str, source: str, date: str, url: str, heading: str
) -> None:
    front = yaml.safe_dump(
        {"title": title, "source": source, "date": date, "url": url}, allow_unicode=True
    )
    body = f"## {' '.join(heading.split()) or 'Part'}\n\nThe story, told at length.\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "story.md"
        path.write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")
        doc = load_document(path, "story.md")
    assert 0 < len(doc.title) <= MAX_TITLE_CHARS and "\n" not in doc.title
    assert len(doc.source) <= MAX_SOURCE_CHARS and len(doc.date) <= MAX_DATE_CHARS
    assert doc.url in (url.strip(), "") and len(doc.url) <= MAX_URL_CHARS
    assert all(len(s.heading) <= MAX_SECTION_CHARS for s in doc.sections)


def test_a_long_title_is_cut_and_a_long_url_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "long.md"
    long_url = "https://example.org/" + "a" * 4100
    path.write_text(
        f"---\ntitle: {'Floods ' * 1000}\nsource: {'Coast FM ' * 100}\nurl: {long_url}\n---\n\n"
        f"## {'Part ' * 500}\n\nThe story.\n"
    )
    with caplog.at_level("WARNING"):
        doc = load_document(path, "long.md")
    assert len(doc.title) == MAX_TITLE_CHARS and doc.title.endswith("…")
    assert doc.title.startswith("Floods Floods") and len(doc.source) <= MAX_SOURCE_CHARS
    assert doc.sections[0].heading.startswith("Part Part")
    assert len(doc.sections[0].heading) <= MAX_SECTION_CHARS
    assert doc.url == "" and "Dropping the URL of long.md" in caplog.text


def test_html_titles_and_headings_are_capped(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    heading = "Background " * 500
    page.write_text(
        f"<html><head><title>{'Floods ' * 1000}</title></head><body><article>"
        f"<h1>{'Floods ' * 1000}</h1><p>Heavy rain flooded the harbour district overnight, "
        "forcing three hundred families to leave their homes, the water authority said.</p>"
        f"<h2>{heading}</h2><p>The river rose four metres above its normal level, and the "
        "mayor opened two schools as shelters for the families.</p></article></body></html>",
        encoding="utf-8",
    )
    doc = load_document(page, "page.html")
    assert len(doc.title) <= MAX_TITLE_CHARS
    assert all(len(s.heading) <= MAX_SECTION_CHARS for s in doc.sections)
