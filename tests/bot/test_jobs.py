"""A reindex in a process of its own: progress, the summary, failures, no secret handed over."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.reindex_process import run_reindex_process
from index.errors import StoryError
from index.store import IndexStore

pytestmark = pytest.mark.slow


def test_reindex_in_a_child_process_reports_progress_and_its_summary(
    tmp_path: Path, corpus_dir: Path
) -> None:
    config = load_config(
        {"corpus": {"path": str(corpus_dir)}, "index": {"path": str(tmp_path / "index")}},
        environ={"TELEGRAM_BOT_TOKEN": "123:secret"},
    )
    stages: list[tuple[str, int, int]] = []
    report = run_reindex_process(config, lambda *step: stages.append(step))
    assert report.passages > 0
    assert report.embedded == report.passages
    assert {"embedding"} <= {stage for stage, _, _ in stages}
    store = IndexStore.load(tmp_path / "index", config.embedding_id)
    assert len(store.passages) == report.passages
    # A second run finds nothing changed and embeds nothing.
    assert run_reindex_process(config, lambda *step: None).embedded == 0


def test_a_failing_reindex_process_raises_a_clear_error(tmp_path: Path) -> None:
    config = load_config(
        {
            "corpus": {"path": str(tmp_path / "no-such-corpus")},
            "index": {"path": str(tmp_path / "index")},
        },
        environ={},
    )
    with pytest.raises(StoryError, match="no-such-corpus"):
        run_reindex_process(config, lambda *step: None)
