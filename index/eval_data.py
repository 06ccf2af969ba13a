"""The evaluation data sets: passages and questions (JSON lines, SQuAD-style) and two-turn
follow-up conversations."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .passages import Document, Section

__all__ = ["EvalQuestion", "FollowUp", "load_followups", "load_passages", "load_questions"]


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    qid: str
    question: str
    answers: tuple[str, ...]
    passage_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A two-turn conversation: the second turn's gold passage and answers."""

    fid: str
    corpus: str  # "story" (the configured corpus) or "squad" (the data set)
    turns: tuple[str, str]
    passage_ids: tuple[str, ...]
    answers: tuple[str, ...]
    standalone: bool  # the second turn stands alone and must not be merged with the first


def load_followups(path: Path) -> list[FollowUp]:
    items = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                r = json.loads(line)
                items.append(
                    FollowUp(
                        r["id"],
                        r["corpus"],
                        tuple(r["turns"]),
                        tuple(r["passage_ids"]),
                        tuple(r.get("answers", ())),
                        bool(r.get("standalone", False)),
                    )
                )
    return items


def load_passages(folder: Path) -> list[Document]:
    """passages.jsonl ({id, title, text}) as documents, one section each."""
    documents = []
    with (folder / "passages.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            text = record["text"]
            documents.append(
                Document(
                    doc_id=record["id"],
                    title=record.get("title", ""),
                    sections=(Section("", (text,)),),
                    fingerprint=hashlib.sha256(text.encode()).hexdigest(),
                )
            )
    return documents


def load_questions(path: Path, limit: int = 0) -> list[EvalQuestion]:
    questions = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            questions.append(
                EvalQuestion(
                    record["id"],
                    record["question"],
                    tuple(record.get("answers", ())),
                    tuple(record["passage_ids"]),
                )
            )
    if limit and limit < len(questions):
        # An even spread over the file rather than its head, which clusters by article.
        step = len(questions) / limit
        questions = [questions[int(i * step)] for i in range(limit)]
    return questions
