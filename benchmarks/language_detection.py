"""How well index/language.py tells the language of short questions: the hand-translated sets
of evaluation/multilingual/ (French, Hausa, Arabic, Russian) and their English originals, plus
every English chat turn of evaluation/conversations/ (follow-ups as short as "when?").

    .venv/bin/python benchmarks/language_detection.py

A question counts as right when it gets its own language, unsure when it gets None (the bot then
falls back to the chat's choice or Telegram's language_code), wrong otherwise.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index.language import LANGUAGES, load, question_language  # noqa: E402

SETS = ROOT / "evaluation" / "multilingual"


def _field(name: str, key: str) -> list[str]:
    with (SETS / name).open(encoding="utf-8") as lines:
        return [json.loads(line)[key] for line in lines if line.strip()]


def question_sets() -> dict[str, tuple[str, list[str]]]:
    """Set name -> (its language, its questions)."""
    chat = set()
    for path in sorted((ROOT / "evaluation" / "conversations").glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                chat.update(turn["question"] for turn in json.loads(line)["turns"])
    return {
        "en (the originals)": (
            "en",
            _field("squad_fr.jsonl", "english") + _field("story_fr.jsonl", "english"),
        ),
        "fr": ("fr", _field("squad_fr.jsonl", "question") + _field("story_fr.jsonl", "question")),
        "ha": ("ha", _field("squad_ha.jsonl", "question")),
        "ar": ("ar", _field("squad_ar.jsonl", "question")),
        "ha (further 100)": ("ha", _field("squad_ha_2.jsonl", "question")),
        "ar (further 100)": ("ar", _field("squad_ar_2.jsonl", "question")),
        "ru": ("ru", _field("squad_ru.jsonl", "question")),
        "en (chat turns)": ("en", sorted(chat)),
    }


def main() -> None:
    started = time.perf_counter()
    load()
    print(
        f"languages: {' '.join(LANGUAGES)}; model loaded in {time.perf_counter() - started:.2f} s"
    )
    print(f"{'set':<20} {'questions':>9} {'right':>7} {'unsure':>7} {'wrong':>7}  ms/question")
    for name, (language, questions) in question_sets().items():
        started = time.perf_counter()
        found = [question_language(q) for q in questions]
        per_question = (time.perf_counter() - started) / len(questions) * 1000
        right = sum(f == language for f in found)
        unsure = sum(f is None for f in found)
        wrong = Counter(f for f in found if f is not None and f != language)
        print(
            f"{name:<20} {len(questions):>9} {right / len(questions):>7.3f} "
            f"{unsure / len(questions):>7.3f} {sum(wrong.values()) / len(questions):>7.3f}  "
            f"{per_question:.3f}" + (f"  wrong: {dict(wrong)}" if wrong else "")
        )


if __name__ == "__main__":
    main()
