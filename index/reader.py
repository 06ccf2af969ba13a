"""The extractive reader: a small model that reads one candidate sentence against the question
and says how likely the sentence answers it, and which phrase of it is the answer.

The model is the bundled all-MiniLM-L6-v2 with its top two layers adapted (low-rank deltas) and
three heads: the start and the end of the answer over the sentence's tokens, and "the answer is
here" from the first token. It was trained by ``benchmarks/train_reader.py`` on TweetQA and on
the fit half of squad_v11_dev's articles; the delta ships in ``index/reader/`` and is merged with
the base model and exported to ONNX once, into the ONNX cache (``index/reader_export.py``).
Answering needs onnxruntime, ``tokenizers`` and numpy only.

Inputs are bounded: the question to ``MAX_QUESTION_CHARS`` characters and ``QUESTION_TOKENS``
tokens, the sentence to ``MAX_SENTENCE_CHARS`` characters and what fits in ``MAX_TOKENS``. The
phrase is always an exact span of the sentence (``best_span`` maps tokens back to characters).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_QUESTION_CHARS",
    "MAX_SENTENCE_CHARS",
    "MAX_SPAN_TOKENS",
    "MAX_TOKENS",
    "QUESTION_TOKENS",
    "PairInput",
    "Reader",
    "Reading",
    "best_span",
    "load_tokenizer",
    "pair_input",
    "reader_question",
    "reads_index",
    "shared_reader",
]

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 300
MAX_SENTENCE_CHARS = 1000
QUESTION_TOKENS = 40  # the question's tokens kept (its start)
MAX_TOKENS = 128  # the whole input: [CLS] question [SEP] sentence [SEP]
MAX_SPAN_TOKENS = 10  # the longest phrase, in tokens
CLS, SEP = 101, 102  # the bundled model's BERT vocabulary
PRECISION = "int8"  # of the ONNX export (docs/quality.md, "The reader")


def reads_index(passages: int, max_passages: int) -> bool:
    """Whether the reader runs on an index of ``passages`` passages: up to ``max_passages``
    (``retrieval.reader_max_passages``; 0 turns it off)."""
    return 0 < passages <= max_passages


@dataclass(frozen=True, slots=True)
class PairInput:
    """One model input: token ids and types, and for each of the sentence's tokens its position
    in ``ids`` and its characters in the sentence."""

    ids: tuple[int, ...]
    types: tuple[int, ...]
    first: int  # position of the sentence's first token in ``ids``
    offsets: tuple[tuple[int, int], ...]  # the sentence tokens' (start, end) characters


@dataclass(frozen=True, slots=True)
class Reading:
    """What the reader makes of one sentence: the probability that it answers the question,
    its best phrase (``sentence[start:end]``) and that phrase's probability."""

    here: float
    start: int
    end: int
    text: str
    span_prob: float


def pair_input(
    question_ids: Sequence[int], sentence_ids: Sequence[int], offsets: Sequence[tuple[int, int]]
) -> PairInput:
    """``[CLS] question [SEP] sentence [SEP]`` from the texts' own token ids (no special
    tokens), the question cut to ``QUESTION_TOKENS`` and the sentence to what fits."""
    question = list(question_ids[:QUESTION_TOKENS])
    room = MAX_TOKENS - len(question) - 3
    sentence = list(sentence_ids[:room])
    ids = [CLS, *question, SEP, *sentence, SEP]
    types = [0] * (len(question) + 2) + [1] * (len(sentence) + 1)
    kept = tuple((int(a), int(b)) for a, b in offsets[: len(sentence)])
    return PairInput(tuple(ids), tuple(types), len(question) + 2, kept)


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return np.asarray(shifted / shifted.sum(), dtype=np.float64)


def best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, max_tokens: int = MAX_SPAN_TOKENS
) -> tuple[int, int, float]:
    """The most probable answer span over the sentence's tokens (the logits are the sentence
    tokens' only): (first token, last token, probability), the span at most ``max_tokens``
    long and never ending before it starts. Start and end probabilities are each a softmax
    over the sentence's tokens; a span's probability is their product."""
    count = min(len(start_logits), len(end_logits))
    if count == 0:
        return 0, -1, 0.0
    p_start = _softmax(np.asarray(start_logits[:count], dtype=np.float64))
    p_end = _softmax(np.asarray(end_logits[:count], dtype=np.float64))
    # scores[i, j] = p_start[i] * p_end[j] for i <= j < i + max_tokens
    scores = np.triu(np.outer(p_start, p_end))
    scores = np.tril(scores, max(max_tokens, 1) - 1)
    flat = int(scores.argmax())
    first, last = divmod(flat, count)
    return first, last, float(scores[first, last])


def span_characters(
    offsets: Sequence[tuple[int, int]], first: int, last: int, sentence: str
) -> tuple[int, int]:
    """Token span to the characters of the sentence it covers, trimmed of spaces and of
    punctuation at its ends (a phrase never ends on a comma)."""
    if not offsets or last < first:
        return 0, 0
    start, end = offsets[first][0], offsets[min(last, len(offsets) - 1)][1]
    end = min(end, len(sentence))
    while end > start and sentence[end - 1] in " ,;:.!?)(\"'":
        end -= 1
    while start < end and sentence[start] in " ,;:.!?(\"'":
        start += 1
    return start, end


def load_tokenizer(tokenizer_file: Path) -> Any:
    """The base model's tokenizer, with neither padding nor truncation (``pair_input`` cuts)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(value, 50.0), -50.0)))


class Reader:
    """The exported reader model, run by onnxruntime on a few sentences at a time."""

    def __init__(self, onnx_file: Path, tokenizer_file: Path) -> None:
        import onnxruntime as ort

        self.tokenizer = load_tokenizer(tokenizer_file)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def inputs(self, question: str, sentences: Sequence[str]) -> list[PairInput]:
        """The model inputs of one question and its candidate sentences (bounded)."""
        texts = [question[:MAX_QUESTION_CHARS]] + [s[:MAX_SENTENCE_CHARS] for s in sentences]
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        q = encodings[0].ids
        return [pair_input(q, e.ids, e.offsets) for e in encodings[1:]]

    def run(self, pairs: Sequence[PairInput]) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Each input's start and end logits over its sentence's tokens, and its "answer is
        here" logit."""
        if not pairs:
            return []
        width = max(len(p.ids) for p in pairs)
        ids = np.zeros((len(pairs), width), dtype=np.int64)
        types, mask = np.zeros_like(ids), np.zeros_like(ids)
        for row, pair in enumerate(pairs):
            n = len(pair.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = pair.ids, pair.types, 1
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        starts, ends, here = self.session.run(None, feed)
        out = []
        for row, pair in enumerate(pairs):
            window = slice(pair.first, pair.first + len(pair.offsets))
            out.append((starts[row, window], ends[row, window], float(here[row])))
        return out

    def read(self, question: str, sentences: Sequence[str]) -> list[Reading]:
        """How each sentence answers the question, in the sentences' order."""
        pairs = self.inputs(question, sentences)
        readings = []
        for sentence, pair, (starts, ends, here) in zip(
            sentences, pairs, self.run(pairs), strict=True
        ):
            first, last, prob = best_span(starts, ends)
            start, end = span_characters(pair.offsets, first, last, sentence)
            readings.append(Reading(_sigmoid(here), start, end, sentence[start:end], prob))
        return readings


_LOCK = threading.Lock()
_READERS: dict[Path, Reader | None] = {}


def shared_reader(cache_dir: Path) -> Reader | None:
    """The reader, exported into ``cache_dir`` at its first use and then shared by every
    engine; None (logged once) when it cannot be loaded: answers then go without it."""
    from .embedder import resolve_model_path
    from .models import BUNDLED_MODEL
    from .reader_export import export_reader

    with _LOCK:
        if cache_dir not in _READERS:
            try:
                base = resolve_model_path(BUNDLED_MODEL)
                onnx_file = export_reader(base, cache_dir, PRECISION)
                _READERS[cache_dir] = Reader(onnx_file, base / "tokenizer.json")
            except Exception as exc:  # an answer without the reader beats no answer
                logger.warning("The reader could not be loaded (%s); answering without it", exc)
                _READERS[cache_dir] = None
        return _READERS[cache_dir]


def reader_question(question: str, query: str, content_words: int) -> str:
    """What the reader reads as the question: the question as typed when it names something
    (``content_words`` of its own), else the query it was searched as ("and when?" is read as
    "When are the ministers meeting in Moscow?")."""
    return question if content_words >= 2 or not query.strip() else query
