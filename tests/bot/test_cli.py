"""The command line, run in-process (and once as a real process) on a private corpus and index."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from tests.conftest import EMBEDDING_TOML, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def config_file(tmp_path: Path, corpus_dir: Path, story_index: Path) -> Path:
    shutil.copytree(story_index, tmp_path / "index")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[corpus]\npath = "{corpus_dir}"\n[index]\npath = "{tmp_path / "index"}"\n'
        f"{EMBEDDING_TOML}"
        f'[chat]\nstate_path = "{tmp_path / "state.sqlite3"}"\n'
    )
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(args))
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_answers_with_the_lavrov_sentence_first(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "--config", str(config_file), "ask", "Who will the ministers meet in Moscow?"
    )
    assert code == 0
    assert "Sergei Lavrov" in out.splitlines()[0]
    assert "Amnewsworld" in out


def test_ask_reads_questions_from_stdin_as_json(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        "--config",
        str(config_file),
        "ask",
        "-",
        "--json",
        stdin="What is the AES?\n\nWhat is the capital of Australia?\n",
    )
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["found"] and "AES" in first["answer"]
    assert {"document", "title", "passage_id", "text", "score"} <= set(first["citations"][0])
    assert first["citations"][0]["document"] == "000_1517f336e036ffe5.md"
    assert not second["found"] and not second["citations"]


def test_chat_understands_follow_ups(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        "--config",
        str(config_file),
        "chat",
        "--json",
        stdin="What is the AES?\nWhen was it formed?\n",
    )
    assert code == 0
    turns = [json.loads(line) for line in out.splitlines()]
    assert len(turns) == 2
    assert "2024" in turns[1]["answer"]
    assert turns[1]["query"] != turns[1]["question"]


def test_reindex_reports_changes_then_nothing_to_do(
    config_file: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus_dir / "note.txt").write_text("A short note about a harbour opening in Dakar.\n")
    code, out, _ = _run(capsys, "--config", str(config_file), "reindex")
    assert code == 0 and "1 added, 0 changed, 0 removed" in out
    code, out, _ = _run(capsys, "--config", str(config_file), "reindex")
    assert code == 0 and "up to date" in out


def test_damaged_index_is_a_clear_error_with_nonzero_exit(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = (tmp_path / "index" / "CURRENT").read_text().strip()
    (tmp_path / "index" / current / "dense.faiss").write_bytes(b"\0" * 10)
    code, _, err = _run(capsys, "--config", str(config_file), "ask", "What is the AES?")
    assert code == 1
    assert "damaged" in err and "storybot reindex" in err
    assert "Traceback" not in err


def test_index_of_an_older_storybot_is_rebuilt_from_the_corpus(
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whole but outdated (unlike a damaged one): the corpus holds all it held."""
    current = (tmp_path / "index" / "CURRENT").read_text().strip()
    manifest = tmp_path / "index" / current / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format_version": 4', '"format_version": 3'))
    code, out, err = _run(
        capsys, "--config", str(config_file), "ask", "Who will the ministers meet in Moscow?"
    )
    assert code == 0, err
    assert "Sergei Lavrov" in out.splitlines()[0]
    assert "older storybot (index format 3" in caplog.text and "Rebuilding it" in caplog.text
    assert (tmp_path / "index" / "CURRENT").read_text().strip() != current


def test_bad_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[retrieval]\ntop_k = 'many'\n")
    code, _, err = _run(capsys, "--config", str(bad), "ask", "x")
    assert code == 2 and "retrieval.top_k" in err and "'many'" in err


def test_eval_prints_the_three_methods(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    passages = [
        {
            "id": "Harbour#p000",
            "title": "Harbour",
            "text": "The harbour reopened in May after "
            "repairs. The first ship was a grain carrier from Dakar.",
        },
        {
            "id": "Desert#p000",
            "title": "Desert",
            "text": "The Sahara is the largest hot desert. It covers much of North Africa.",
        },
        {
            "id": "Piano#p000",
            "title": "Piano",
            "text": "Chopin wrote many nocturnes for the piano.",
        },
    ]
    questions = [
        {
            "id": "q1",
            "question": "What was the first ship at the harbour?",
            "answers": ["a grain carrier"],
            "passage_ids": ["Harbour#p000"],
        },
        {
            "id": "q2",
            "question": "Which is the largest hot desert?",
            "answers": ["Sahara"],
            "passage_ids": ["Desert#p000"],
        },
    ]
    (data / "passages.jsonl").write_text("\n".join(json.dumps(p) for p in passages))
    (data / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions))
    code, out, _ = _run(capsys, "--config", str(ROOT / "config.toml"), "eval", str(data), "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result["methods"]) == {"bm25", "dense", "hybrid"}
    assert result["methods"]["hybrid"]["recall@1"] == 1.0
    assert result["methods"]["hybrid"]["answer_sentence_hit"] == 1.0
    # Both answered: none declined, so none declined with its gold passage first either.
    assert result["methods"]["hybrid"]["not_found_rate"] == 0.0
    assert result["methods"]["hybrid"]["not_found_gold_first_rate"] == 0.0
    plot = tmp_path / "recall.png"
    code, out, _ = _run(
        capsys, "--config", str(ROOT / "config.toml"), "eval", str(data), "--plot", str(plot)
    )
    assert "hybrid" in out and "MRR@10" in out
    assert plot.read_bytes().startswith(b"\x89PNG")


def _serve_without_token(config_file: Path, **stdin: Any) -> subprocess.CompletedProcess[str]:
    """``storybot serve`` with no token in the environment, ``stdin`` as subprocess.run takes it
    (``input=`` or ``stdin=``)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config_file), "serve"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(config_file.parent)},
        check=False,
        **stdin,
    )


def test_console_script_serve_without_token_runs_the_chat(config_file: Path) -> None:
    proc = _serve_without_token(config_file, input="Who will the ministers meet in Moscow?\n")
    assert proc.returncode == 0, proc.stderr
    assert "BotFather" in proc.stderr
    assert "Sergei Lavrov" in proc.stdout


def test_serve_without_token_and_no_input_fails_for_a_supervisor(config_file: Path) -> None:
    """Under systemd stdin is /dev/null: no token must be a failure it can see and restart on,
    not a chat that ends at once with success."""
    proc = _serve_without_token(config_file, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in proc.stderr and "stopping" in proc.stderr
    assert proc.stdout == ""
