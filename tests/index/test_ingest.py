"""Adding stories: extraction, checks, safe names, saving, duplicates, dates; fetching from a
local site on 127.0.0.1 (slow, huge, redirect loop, non-HTML, not an article)."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.corpus_files import remove_document, resolve_document, safe_filename, save_document
from index.documents import load_document
from index.duplicates import find_duplicates, overlap, shingles
from index.errors import DocumentError
from index.extraction import (
    MAX_PDF_CHARS,
    MAX_PDF_PAGES,
    Article,
    article_from_html,
    article_from_pdf,
    article_to_markdown,
    prepare_upload,
)
from index.fetch import COULD_NOT_FETCH, add_url, check_url, fetch_page
from index.ingest import add_upload
from index.isolation import TOO_LARGE, ReadLimits
from index.listing import DocumentInfo, latest_documents
from index.metadata import MAX_SOURCE_CHARS, MAX_TITLE_CHARS, normalize_date
from index.ranking import collapse_duplicates, prefer_newer
from index.settings import FetchSettings
from tests.corpus_site import FLOOD, LAVROV, article_html, make_pdf, news_site, wrap
from tests.index.test_documents import alias_bomb

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-04-02", "2025-04-02"),
        ("2025-4-2", "2025-04-02"),
        ("2025-04-02T08:00:00Z", "2025-04-02"),
        ("2025/04", "2025-04"),
        ("2025", "2025"),
        ("2025-13-01", ""),
        ("April 2, 2025", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_date(raw: object, expected: str) -> None:
    assert normalize_date(raw) == expected


def test_safe_filename_is_plain_unique_and_never_a_path() -> None:
    expected = "sahel-ministers-meet-lavrov.md"
    assert safe_filename("Sahel ministers: meet Lavrov!", ".md") == expected
    assert safe_filename("../../etc/passwd", ".txt") == "etc-passwd.txt"
    assert safe_filename(".hidden", ".md") == "hidden.md"
    assert safe_filename("Ünïcödé — Straße", ".md") == "unicode-strae.md"
    assert safe_filename("???", ".md") == "document.md"
    assert safe_filename("Story", ".md", {"story.md", "STORY-2.md"}) == "story-3.md"
    assert len(safe_filename("word " * 100, ".md")) <= 63


@given(st.text(max_size=80), st.sets(st.text(max_size=20), max_size=5))
def test_safe_filename_always_plain_and_free(name: str, taken: set[str]) -> None:
    result = safe_filename(name, ".md", taken)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*\.md", result), result
    assert result.lower() not in {t.lower() for t in taken}


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=60,
    ),
    st.dates().map(str),
)
def test_any_title_round_trips_through_front_matter(title: str, date: str) -> None:
    from index.markup import parse_markdown

    raw = title if title.split() else "t"
    clean = " ".join(raw.split())  # titles are kept on one line, spaces collapsed
    text = article_to_markdown(Article(title=raw, text="Body text.", date=date))
    meta, sections = parse_markdown(text)
    assert meta["title"] == clean and normalize_date(meta["date"]) == date
    assert sections[0].paragraphs == ("Body text.",)


def test_front_matter_round_trips_through_the_corpus_reader(tmp_path: Path) -> None:
    article = Article(
        title='He said: "no" — #1',
        text="First paragraph here.\n\n## Later\n\nSecond one.",
        source="Wire: AP",
        date="2025-04-02",
        url="https://example.org/a?b=1",
        author="Jane Doe",
    )
    path = tmp_path / "a.md"
    path.write_text(article_to_markdown(article), encoding="utf-8")
    doc = load_document(path, "a.md")
    assert (doc.title, doc.source, doc.date, doc.url) == (
        article.title,
        article.source,
        article.date,
        article.url,
    )
    assert [s.heading for s in doc.sections] == ["", "Later"]


def test_article_from_html_takes_text_and_metadata() -> None:
    page = article_html("Floods in Porto Nuevo", [FLOOD], "2025-05-01", "Ana Ruiz", "Coast FM")
    article = article_from_html(page, "https://coast.example/flood")
    assert article.title == "Floods in Porto Nuevo"
    assert (article.date, article.author, article.source) == ("2025-05-01", "Ana Ruiz", "Coast FM")
    assert "three hundred families" in article.text
    assert "Privacy" not in article.text and "Sport" not in article.text


def test_a_page_without_an_article_is_refused() -> None:
    page = "<html><body><nav><a href='/'>Home</a></nav><p>Sign in.</p></body></html>"
    with pytest.raises(DocumentError, match="does not look like a news story"):
        article_from_html(page)


def test_pdf_text_and_metadata_are_read() -> None:
    article = article_from_pdf(make_pdf(wrap(FLOOD), "Flood report"), "report.pdf")
    assert article.title == "Flood report" and article.date == "2025-04-02"
    assert "three hundred families" in article.text


def pdf_with_shared_stream(pages: int, content: bytes, title: str = "") -> bytes:
    """A PDF whose ``pages`` pages all show one compressed content stream: a few KB that
    extract to as many copies of its text as there are pages."""
    stream = zlib.compress(content, 9)
    font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{5 + i} 0 R' for i in range(pages))}] "
        f"/Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        f"<< /Title ({title}) >>".encode(),
    ]
    bodies += [
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 "
        f"{font} >> >> /Contents 3 0 R >>".encode()
    ] * pages
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(bodies) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    trailer = f"<< /Size {len(bodies) + 1} /Root 1 0 R /Info 4 0 R >>"
    return out + f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()


def test_a_pdf_bomb_is_read_only_up_to_the_text_cap() -> None:
    text = b"BT /F1 1 Tf 0 0 Td (" + b"flood " * 40_000 + b") Tj ET"  # 240 KB a page
    assert len(pdf_with_shared_stream(20, text)) < 6_000  # 4.8 MB of text before the cap
    article = article_from_pdf(pdf_with_shared_stream(20, text, "Floods " * 1000), "bomb.pdf")
    assert len(article.text) <= MAX_PDF_CHARS * 1.01
    assert len(article.title) <= MAX_TITLE_CHARS


def test_pdf_pages_beyond_the_cap_are_not_read(caplog: pytest.LogCaptureFixture) -> None:
    page = b"BT /F1 11 Tf 40 800 Td (" + b"Floods in the harbour district. " * 5 + b") Tj ET"
    with caplog.at_level("WARNING"):
        article = article_from_pdf(pdf_with_shared_stream(MAX_PDF_PAGES + 50, page), "a.pdf")
    assert article.text.count("harbour") == 5 * MAX_PDF_PAGES
    assert f"only the first {MAX_PDF_PAGES} pages" in caplog.text


def test_a_pdf_over_the_readers_safety_limits_is_refused_clearly() -> None:
    # A content stream that inflates to 80 MB (from 80 KB): pypdf stops at 75 MB with
    # LimitReachedError, which used to escape as a crash.
    inflating = pdf_with_shared_stream(1, b" " * 80_000_000)
    with pytest.raises(DocumentError, match="safety limits"):
        article_from_pdf(inflating, "zip.pdf")
    cyclic = make_pdf(wrap(FLOOD)).replace(b"/Kids [3 0 R]", b"/Kids [3 0 R 2 0 R]")
    with pytest.raises(DocumentError, match="damaged PDF"):
        article_from_pdf(cyclic, "cycle.pdf")


def test_pdf_metadata_is_capped() -> None:
    pdf = make_pdf(wrap(FLOOD), "Report " * 500).replace(
        b"/CreationDate", b"/Author (" + b"Coast FM " * 300 + b") /CreationDate"
    )
    article = article_from_pdf(pdf, "long.pdf")
    assert len(article.title) <= MAX_TITLE_CHARS and len(article.source) <= MAX_SOURCE_CHARS


def test_an_html_page_with_huge_metadata_gives_capped_metadata() -> None:
    page = article_html("Floods " * 900, [FLOOD], author="Ana " * 900, site="Coast " * 900)
    article = article_from_html(page, "https://coast.example/" + "a" * 3000)
    assert len(article.title) <= MAX_TITLE_CHARS
    assert len(article.source) <= MAX_SOURCE_CHARS and len(article.author) <= MAX_SOURCE_CHARS
    assert article.url == ""


def test_uploads_are_read_in_a_child_with_limits(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    bomb = alias_bomb(9).encode()
    with pytest.raises(DocumentError, match="aliases"):
        add_upload(corpus, "bomb.md", bomb, MB)
    big = ("A long story about the harbour and its floods. " * 200_000).encode()  # 9.6 MB
    tight = ReadLimits(seconds=30.0, memory_bytes=96 * MB)
    with pytest.raises(DocumentError) as caught:
        add_upload(corpus, "big.txt", big, 20 * MB, limits=tight)
    assert str(caught.value) == TOO_LARGE
    assert not corpus.exists() or not list(corpus.iterdir())  # nothing was saved


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("story.pdf", b"this is not a pdf at all", "not a PDF"),
        ("scan.pdf", make_pdf([]), "no text that can be read"),
        ("story.docx", b"PK\x03\x04", "cannot add .docx"),
        ("story", b"hello", "without an extension"),
        ("story.txt", b"\x00\x01\x02binary", "cannot be read"),
        ("story.txt", "caf\xe9".encode("latin-1") * 20, "not valid UTF-8"),
        ("big.txt", b"a" * (2 * MB), "over the 1 MB limit"),
        ("empty.md", b"---\ntitle: x\n---\n", "no text"),
        ("menu.html", b"<html><body><nav>Home</nav></body></html>", "news story"),
    ],
)
def test_bad_uploads_are_refused_clearly(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        prepare_upload(name, data, MB)


def test_uploads_are_saved_under_safe_unique_names_and_never_twice(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    text = ("A short story about the harbour. " * 20).encode()
    doc_id, _ = add_upload(corpus, "../My Story!.txt", text, MB)
    assert doc_id == "my-story.txt" and (corpus / doc_id).read_bytes() == text
    with pytest.raises(DocumentError, match=r"already in the corpus as my-story\.txt"):
        add_upload(corpus, "other.txt", text, MB)
    doc_id2, _ = add_upload(corpus, "My Story.txt", text + b"More.", MB)
    assert doc_id2 == "my-story-2.txt"
    pdf_id, pdf_title = add_upload(corpus, "r.pdf", make_pdf(wrap(FLOOD), "Flood report"), MB)
    assert pdf_id == "flood-report.md" and pdf_title == "Flood report"
    assert load_document(corpus / pdf_id, pdf_id).date == "2025-04-02"
    assert not [p for p in corpus.iterdir() if p.name.startswith(".")]  # no temporary left


def test_save_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("old")
    assert save_document(tmp_path, "a.md", b"new") == "a-2.md"
    assert (tmp_path / "a.md").read_text() == "old"
    with pytest.raises(DocumentError):
        save_document(tmp_path, "a.exe", b"x")


def test_resolve_and_remove(tmp_path: Path) -> None:
    ids = ["world/sahel.md", "flood.txt", "other/flood.md"]
    assert resolve_document("sahel", ids) == "world/sahel.md"
    assert resolve_document("flood.txt", ids) == "flood.txt"
    with pytest.raises(DocumentError, match="several documents"):
        resolve_document("flood", ids)
    with pytest.raises(DocumentError, match="no document 'nope'"):
        resolve_document("nope", ids)
    with pytest.raises(DocumentError, match="Say which document"):
        resolve_document(" ", ids)
    (tmp_path / "flood.txt").write_text("x")
    remove_document(tmp_path, "flood.txt")
    assert not (tmp_path / "flood.txt").exists()
    with pytest.raises(DocumentError):
        remove_document(tmp_path, "flood.txt")
    with pytest.raises(DocumentError, match="not a document"):
        remove_document(tmp_path, "../outside.txt")


def test_latest_documents_newest_first_undated_left_out() -> None:
    infos = [
        DocumentInfo("a", "A", "2025-03-30", "", "", 1),
        DocumentInfo("b", "B", "", "", "", 1),
        DocumentInfo("c", "C", "2025-04-02", "", "", 1),
        DocumentInfo("d", "D", "2024-12", "", "", 1),
    ]
    assert [i.doc_id for i in latest_documents(infos, 10)] == ["c", "a", "d"]
    assert [i.doc_id for i in latest_documents(infos, 1)] == ["c"]


# -- duplicates and dates in ranking ------------------------------------------------------------


def test_near_duplicate_documents_are_found_and_the_older_is_the_original() -> None:
    copy = "By Wire staff. " + LAVROV + " Reporting by our correspondent."
    docs = [
        ("b-outlet.md", "2025-04-05", copy),
        ("a-outlet.md", "2025-04-04", LAVROV),
        ("flood.md", "2025-04-04", FLOOD),
    ]
    (dup,) = find_duplicates(docs)
    assert (dup.doc_id, dup.original) == ("b-outlet.md", "a-outlet.md")
    assert dup.similarity >= 0.9
    assert find_duplicates([("x", "", LAVROV), ("y", "", FLOOD)]) == []
    assert overlap(shingles(LAVROV), shingles(FLOOD)) < 0.05


def test_citations_never_repeat_the_same_text() -> None:
    texts = [LAVROV, "Reuters - " + LAVROV, FLOOD]
    vectors = np.eye(3, dtype=np.float32)  # the vectors alone would keep all three
    assert collapse_duplicates([0, 1, 2], vectors, texts, 0.97) == [0, 2]
    assert collapse_duplicates([0, 1, 2], vectors, texts, 0.97, limit=1) == [0]


def test_newer_passage_first_only_when_scores_are_close() -> None:
    scores = np.array([5.0, 4.8, 3.0, 2.9], dtype=np.float32)
    dates = {0: "2025-03-30", 1: "2025-04-02", 2: "2025-01-01", 3: ""}
    assert prefer_newer([0, 1, 2, 3], scores, dates, 0.5) == [1, 0, 2, 3]
    assert prefer_newer([0, 1, 2, 3], scores, dates, 0.1) == [0, 1, 2, 3]
    assert prefer_newer([0, 1, 2, 3], scores, dates, 0.0) == [0, 1, 2, 3]
    # far apart: the more relevant one stays first, however old
    far = np.array([5.0, 4.0], dtype=np.float32)
    assert prefer_newer([0, 1], far, {0: "2025-01-01", 1: "2025-04-02"}, 0.5) == [0, 1]


# -- fetching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Send a link"),
        ("example.org/story", "should start with https://"),
        ("ftp://example.org/story", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("http://", "no host"),
        ("http://example.org:99999/", "not a valid web address"),
    ],
)
def test_bad_urls_are_refused_before_any_request(url: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        check_url(url)


async def test_fetching_from_a_local_site(tmp_path: Path) -> None:
    settings = FetchSettings(
        timeout=1.0, max_bytes=1 * MB, max_redirects=3, allow_private_networks=True
    )
    corpus = tmp_path / "corpus"
    async with news_site(slow_seconds=3) as root:
        page = await fetch_page(f"{root}/moved", settings)
        assert page.url == f"{root}/lavrov.html" and b"Lavrov" in page.body

        doc_id, article = await add_url(corpus, f"{root}/lavrov.html", settings)
        assert doc_id == "sahel-ministers-meet-lavrov-in-moscow.md"
        assert (article.date, article.author) == ("2025-04-04", "Jane Doe")
        saved = load_document(corpus / doc_id, doc_id)
        assert saved.url == f"{root}/lavrov.html" and saved.date == "2025-04-04"
        assert "Sergei Lavrov" in saved.text and "Privacy" not in saved.text
        with pytest.raises(DocumentError, match=f"already in the corpus as {doc_id}"):
            await add_url(corpus, f"{root}/lavrov.html", settings)

        failures = {
            "/slow.html": "did not arrive within 1 seconds",
            "/huge.html": "too big",
            "/loop": "redirects too many times",
            "/data.json": re.escape(COULD_NOT_FETCH),
            "/menu.html": "does not look like a news story",
            "/gone": re.escape(COULD_NOT_FETCH),
        }
        for path, message in failures.items():
            with pytest.raises(DocumentError, match=message):
                await add_url(corpus, f"{root}{path}", settings)
    with pytest.raises(DocumentError, match=re.escape(COULD_NOT_FETCH)):
        await fetch_page(root + "/lavrov.html", settings)  # the site is gone now
    assert sorted(p.name for p in corpus.iterdir()) == [doc_id]  # nothing else was saved
