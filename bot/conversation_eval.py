"""Conversation evaluation: whole chat sessions played through the bot's own conversation rules
(the state store, the choice of the answer a question continues, the engine's follow-up
reading and answer composition), every turn scored against its gold answer, its self-contained
rewrite and the question asked alone."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.engine import Engine
from index.gate_eval import split_of
from index.passages import Answer

from .conversation import continued_answer, history_of
from .state import StateStore

__all__ = [
    "KINDS",
    "Session",
    "SessionTurn",
    "TurnResult",
    "conversation_figures",
    "load_sessions",
    "play_sessions",
    "split_of",
]

KINDS = ("standalone", "follow_up", "switch", "return", "correction", "out_of_scope")
CONTEXTUAL = ("follow_up", "return", "correction")  # turns that lean on an earlier one
MAX_SESSION_FILE = 20 * 2**20  # bytes: the set is hand-written, far below this


@dataclass(frozen=True, slots=True)
class SessionTurn:
    user: int
    reply_to: int | None  # the turn whose answer this message replies to
    question: str  # as typed in the chat
    rewrite: str  # the same question made self-contained
    kind: str
    passage_ids: tuple[str, ...]
    answers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    corpus: str  # "story" (the configured corpus) or "squad" (the data set)
    chat: str  # "private" or "group"
    turns: tuple[SessionTurn, ...]


@dataclass(frozen=True, slots=True)
class TurnResult:
    sid: str
    corpus: str
    split: str
    index: int
    kind: str
    question: str
    query: str  # what the engine searched for, after the conversation's context
    right: bool  # the reply's first sentence holds a gold answer (declined, if out of scope)
    found: bool
    sure: bool
    alone_right: bool  # the question asked with no conversation
    rewrite_right: bool  # its self-contained rewrite asked alone
    cites_earlier_topic: bool  # a switch turn citing an earlier topic's article first
    passage_right: bool  # the first cited passage is a gold passage
    confidence: float  # the engine's probability that the reply is right
    signals: tuple[float, ...]  # what it was computed from (index/answer_confidence.py)


def _turn(record: dict[str, Any], count: int) -> SessionTurn:
    kind = str(record.get("kind", ""))
    if kind not in KINDS:
        raise ValueError(f"unknown turn kind {kind!r} (expected one of {', '.join(KINDS)})")
    reply_to = record.get("reply_to")
    if reply_to is not None and not (isinstance(reply_to, int) and 0 <= reply_to < count):
        raise ValueError(f"reply_to {reply_to!r} does not name an earlier turn")
    question = str(record["question"]).strip()
    return SessionTurn(
        user=int(record.get("user", 1)),
        reply_to=reply_to,
        question=question,
        rewrite=str(record.get("rewrite") or question).strip(),
        kind=kind,
        passage_ids=tuple(str(p) for p in record.get("passage_ids", ())),
        answers=tuple(str(a) for a in record.get("answers", ())),
    )


def load_sessions(path: Path) -> list[Session]:
    """Sessions from a JSON-lines file, or from every ``*.jsonl`` file of a folder (in name
    order). A malformed line raises ValueError naming the file and line."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    sessions = []
    for file in files:
        if file.stat().st_size > MAX_SESSION_FILE:
            raise ValueError(f"{file}: larger than {MAX_SESSION_FILE // 2**20} MB")
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                turns: list[SessionTurn] = []
                for item in record["turns"]:
                    turns.append(_turn(item, len(turns)))
                sessions.append(
                    Session(
                        str(record["id"]),
                        str(record["corpus"]),
                        str(record.get("chat", "private")),
                        tuple(turns),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{file}:{number}: {exc}") from exc
    return sessions


def holds_answer(answer: Answer, gold: Sequence[str]) -> bool:
    """Whether the reply's first answer sentence holds one of the gold answers."""
    if not answer.found or not answer.sentences:
        return False
    text = answer.sentences[0].text.lower()
    return any(g.strip().lower() in text for g in gold if g.strip())


def _is_right(answer: Answer, turn: SessionTurn) -> bool:
    if turn.kind == "out_of_scope":
        return not answer.found
    return holds_answer(answer, turn.answers)


def _article(passage_id: str) -> str:
    return passage_id.split("#", 1)[0]


def play_sessions(
    sessions: Iterable[Session],
    engines: dict[str, Engine],
    k: int,
    progress: Callable[[int], None] | None = None,
) -> list[TurnResult]:
    """Play each session in a fresh chat of a real state store, turn by turn, as the bot would
    answer it; sessions on a corpus with no engine are skipped."""
    alone: dict[tuple[str, str], Answer] = {}

    def asked_alone(corpus: str, text: str) -> Answer:
        if (corpus, text) not in alone:
            alone[corpus, text] = engines[corpus].ask(text, (), k)
        return alone[corpus, text]

    results: list[TurnResult] = []
    with tempfile.TemporaryDirectory(prefix="storybot-conversations-") as folder:
        state = StateStore(Path(folder) / "state.sqlite3")
        try:
            for chat_id, session in enumerate(sessions, start=1):
                if session.corpus not in engines:
                    continue
                results += _play(session, chat_id, engines[session.corpus], state, k, asked_alone)
                if progress:
                    progress(len(results))
        finally:
            state.close()
    return results


def _play(
    session: Session,
    chat_id: int,
    engine: Engine,
    state: StateStore,
    k: int,
    asked_alone: Callable[[str, str], Answer],
) -> list[TurnResult]:
    message_ids: list[int] = []
    earlier_articles: set[str] = set()
    results = []
    for i, turn in enumerate(session.turns):
        reply_to = message_ids[turn.reply_to] if turn.reply_to is not None else None
        record = continued_answer(
            state,
            chat_id=chat_id,
            thread_id=None,
            user_id=turn.user,
            reply_to_message_id=reply_to,
            since=0.0,
        )
        history = history_of(record)
        answer = engine.ask(turn.question, history, k)
        key = state.add_answer(
            chat_id=chat_id,
            thread_id=None,
            user_id=turn.user,
            question=turn.question,
            query=answer.query,
            found=answer.found,
            history=history,
            passage_ids=[h.passage.passage_id for h in answer.hits],
        )
        message_ids.append(1000 + i)
        state.set_message_id(key, message_ids[-1])
        gold_articles = {_article(p) for p in turn.passage_ids}
        first_cited = _article(answer.hits[0].passage.passage_id) if answer.found else ""
        results.append(
            TurnResult(
                sid=session.sid,
                corpus=session.corpus,
                split=split_of(session.sid),
                index=i,
                kind=turn.kind,
                question=turn.question,
                query=answer.query,
                right=_is_right(answer, turn),
                found=answer.found,
                sure=answer.found and answer.sure,
                alone_right=_is_right(asked_alone(session.corpus, turn.question), turn),
                rewrite_right=_is_right(asked_alone(session.corpus, turn.rewrite), turn),
                cites_earlier_topic=turn.kind == "switch"
                and first_cited in earlier_articles - gold_articles,
                passage_right=answer.found and answer.hits[0].passage.doc_id in turn.passage_ids,
                confidence=round(answer.confidence, 4),
                signals=answer.signals.values() if answer.signals else (),
            )
        )
        earlier_articles |= gold_articles
    return results


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def conversation_figures(results: Sequence[TurnResult]) -> dict[str, object]:
    """The figures for a set of played turns (see docs/quality.md for what each means)."""
    by_kind: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        turns = [r for r in results if r.kind == kind]
        by_kind[kind] = {
            "turns": len(turns),
            "right": _share(sum(r.right for r in turns), len(turns)),
            "alone": _share(sum(r.alone_right for r in turns), len(turns)),
            "rewrite": _share(sum(r.rewrite_right for r in turns), len(turns)),
        }
    standalone = [r for r in results if r.kind in ("standalone", "switch") and r.index > 0]
    contextual = [r for r in results if r.kind in CONTEXTUAL]
    switches = [r for r in results if r.kind == "switch"]
    answerable = [r for r in results if r.kind != "out_of_scope"]
    sure = [r for r in results if r.sure]
    right = [r for r in answerable if r.right]
    out = [r for r in results if r.kind == "out_of_scope"]
    rewrite_right = sum(r.rewrite_right for r in contextual)
    return {
        "sessions": len({r.sid for r in results}),
        "turns": len(results),
        "right": _share(sum(r.right for r in results), len(results)),
        "kinds": by_kind,
        "standalone_mid_session": _share(sum(r.right for r in standalone), len(standalone)),
        "standalone_alone": _share(sum(r.alone_right for r in standalone), len(standalone)),
        "follow_up_vs_rewrite": _share(sum(r.right for r in contextual), rewrite_right),
        "switch_cites_earlier_topic": _share(
            sum(r.cites_earlier_topic for r in switches), len(switches)
        ),
        "unhedged_right": _share(sum(r.right for r in sure), len(sure)),
        "right_but_hedged": _share(sum(not r.sure for r in right), len(right)),
        "out_of_scope_declined": _share(sum(r.right for r in out), len(out)),
    }


def report(results: Sequence[TurnResult]) -> dict[str, object]:
    """Figures for every corpus and half: all turns, the fit and held-out halves, the story."""
    parts: dict[str, Sequence[TurnResult]] = {"all": results}
    for split in ("fit", "held_out"):
        parts[split] = [r for r in results if r.split == split]
    for corpus in sorted({r.corpus for r in results}):
        parts[corpus] = [r for r in results if r.corpus == corpus]
    return {name: conversation_figures(part) for name, part in parts.items() if part}
