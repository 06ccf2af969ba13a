"""A reindex in a process of its own: progress, the summary, failures, no secret handed over."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bot.config import load_config
from bot.reindex_process import child_config, run_reindex_process
from index.errors import StoryError
from index.store import IndexStore
from tests.conftest import EMBEDDING

pytestmark = pytest.mark.slow


def test_reindex_in_a_child_process_reports_progress_and_its_summary(
    tmp_path: Path, corpus_dir: Path
) -> None:
    config = load_config(
        {
            "corpus": {"path": str(corpus_dir)},
            "index": {"path": str(tmp_path / "index"), **EMBEDDING},
        },
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


def test_the_reindex_process_is_handed_the_config_without_its_secrets(tmp_path: Path) -> None:
    secrets = {
        "TELEGRAM_BOT_TOKEN": "123:telegram-secret",
        "STORYBOT_ADMIN_TOKEN": "admin-secret",
        "STORYBOT_WEBHOOK_SECRET": "webhook-secret",
    }
    config = load_config({"index": {"path": str(tmp_path / "index")}}, environ=secrets)
    handed = child_config(config)
    wire = pickle.dumps(handed)  # what the spawned process receives
    for secret in secrets.values():
        assert secret.encode() not in wire
    assert not (handed.token or handed.admin_token or handed.webhook_secret)
    assert (handed.corpus, handed.index) == (config.corpus, config.index)
    assert handed.build_settings() == config.build_settings()


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
