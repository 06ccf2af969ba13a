"""Reading in a child process: a bomb exhausts the child, which is killed, never the caller."""

from __future__ import annotations

import logging
import os
import re

import pytest
import yaml

from index.errors import DocumentError
from index.isolation import CRASHED, TOO_LARGE, TOO_SLOW, ReadLimits, run_isolated
from index.markup import parse_markdown
from tests.index.test_documents import alias_bomb

FAST = ReadLimits(seconds=20.0, memory_bytes=512 * 1024 * 1024)


def expand_front_matter(text: str) -> int:
    """What the reader did before aliases were refused: load the YAML and turn it into text."""
    loaded = yaml.safe_load(text.split("---")[1])
    return len(str(loaded))


def warn_and_return(value: str) -> str:
    logging.getLogger("index.documents").warning("Dropping the URL of %s", value)
    return value.upper()


def test_the_result_comes_back() -> None:
    assert run_isolated(warn_and_return, "story", limits=FAST) == "STORY"


def test_warnings_of_the_child_are_logged_by_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="index.documents"):
        run_isolated(warn_and_return, "a.md", limits=FAST)
    assert "Dropping the URL of a.md" in caplog.text


def test_a_document_error_comes_back_as_it_was() -> None:
    with pytest.raises(DocumentError, match="never closed"):
        run_isolated(parse_markdown, "---\ntitle: x\n", limits=FAST)


def test_a_memory_bomb_kills_the_child_not_the_caller() -> None:
    bomb = alias_bomb(9)  # 9 levels: billions of characters once turned into text
    limits = ReadLimits(seconds=60.0, memory_bytes=256 * 1024 * 1024)
    with pytest.raises(DocumentError) as caught:
        run_isolated(expand_front_matter, bomb, limits=limits)
    assert str(caught.value) == TOO_LARGE


def test_a_reader_that_runs_too_long_is_stopped() -> None:
    # The cubic heading pattern the Markdown reader used: minutes on this line.
    pattern = r"^(#{1,6})\s+(.*?)\s*#*\s*$"
    with pytest.raises(DocumentError) as caught:
        run_isolated(re.match, pattern, "# a" + " " * 20_000 + "b", limits=ReadLimits(2.0))
    assert str(caught.value) == TOO_SLOW


def test_a_reader_that_crashes_or_dies_gives_a_clear_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(DocumentError) as caught:
        run_isolated(int, "not a number", limits=FAST)
    assert str(caught.value) == CRASHED and "ValueError" in caplog.text
    with pytest.raises(DocumentError) as caught:
        run_isolated(os.abort, limits=FAST)  # killed by a signal, as at a memory limit
    assert str(caught.value) == TOO_LARGE
    with pytest.raises(DocumentError) as caught:
        run_isolated(os._exit, 3, limits=FAST)
    assert str(caught.value) == CRASHED
    with pytest.raises(DocumentError) as caught:
        run_isolated(re.match, "a", "a", limits=FAST)  # a result that does not pickle
    assert str(caught.value) == CRASHED
