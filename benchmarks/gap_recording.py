"""What recording a gap costs on the answering path, in one process on the shipped story.

    .venv/bin/python -m benchmarks.gap_recording

The bot load benchmark's ten questions are asked by many users, as there; after each answer
``GapRecorder.record_answer`` runs, as the answering thread does: nothing for a confident
answer, and the question's language and one SQLite write for a gap ("not found" or "not sure").
Printed: the engine's time per question and the recorder's, so the cost reads as a share of
the engine's time (the bot spends more per answer than the engine: Telegram, state, sending).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import load_config
from bot.gap_recorder import GapRecorder
from bot.runtime import make_embedder, open_engine
from index.language import load as load_language_model
from tests.botapi.load import STORY_QUESTIONS

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 50


def main() -> None:
    config = load_config(ROOT / "config.toml")
    embedder = make_embedder(config)
    engine = open_engine(config, embedder)
    load_language_model()  # the bot loads it at start
    with tempfile.TemporaryDirectory(prefix="storybot-gaps-") as tmp:
        chat = dataclasses.replace(config.chat, state_path=Path(tmp) / "state.sqlite3")
        recorder = GapRecorder.open(dataclasses.replace(config, chat=chat), lambda: embedder)
        asking: list[float] = []
        recording: list[tuple[float, bool]] = []
        for round_ in range(ROUNDS + 1):
            for i, question in enumerate(STORY_QUESTIONS):
                start = time.perf_counter()
                answer = engine.ask(question)
                asked = time.perf_counter()
                gap = recorder.record_answer(answer, chat_kind="group", user_id=round_ * 100 + i)
                recorded = time.perf_counter()
                if round_:  # the first round warms the caches
                    asking.append(asked - start)
                    recording.append((recorded - asked, gap))
        recorder.close()
    gaps = [t for t, gap in recording if gap]
    confident = [t for t, gap in recording if not gap]
    print(f"{len(asking)} questions, {len(gaps)} of them gaps ({ROUNDS} rounds of the load mix)")
    print(f"engine.ask:            mean {1e3 * statistics.mean(asking):.3f} ms")
    print(f"record_answer, gap:    median {1e3 * statistics.median(gaps):.3f} ms")
    print(f"record_answer, answer: median {1e3 * statistics.median(confident):.4f} ms")
    share = sum(t for t, _ in recording) / sum(asking)
    print(f"recording / engine time over the mix: {share:.3f}")


if __name__ == "__main__":
    main()
