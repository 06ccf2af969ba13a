"""Train the extractive reader (index/reader.py) and write its weight delta.

    .venv/bin/python -m benchmarks.train_reader ../shared/data --out index/reader/reader_delta.npz

Base: the bundled all-MiniLM-L6-v2. The bottom ``FROZEN`` layers stay as they are: their
output is computed once per example and cached; the top layers get low-rank deltas (LoRA, rank
``RANK``) on every weight matrix, plus trained layer norms, and three heads read the top
layer's output: answer start and end over the sentence's tokens, "the answer is here" from the
first token. Only the deltas, layer norms and heads are saved (float16).

Data (seed ``SEED``, the same examples every run):
- TweetQA: ``TWEETS`` questions whose answer occurs in their tweet (``answer_starts`` >= 0), the
  tweet as the context; for one in four, a random other tweet as a negative.
- squad_v11_dev, **fit half of the articles only** (``article_half``): each question with the
  sentence holding its answer, and as negatives the two other sentences of its passage and the
  one sentence of the article's other passages that share the most words with the question
  (what retrieval would put next to it), when they hold no gold answer.
The held-out half of the articles is only read to report the reader at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.chunking import split_sentences
from index.embedder import resolve_model_path
from index.keyword import content_terms
from index.models import BUNDLED_MODEL
from index.reader import PairInput, best_span, load_tokenizer, pair_input, span_characters

SEED = 15
FROZEN = 4  # bottom layers kept as they are (of 6)
RANK = 16
ALPHA = 32.0
HELD_OUT_SAMPLE = 2000  # held-out examples the final report reads
TWEETS = 4000  # TweetQA answers used (the CPU budget: about 30 minutes on two shared cores)
MATRICES = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")


def article_half(article: str) -> str:
    """The half of squad_v11_dev an article belongs to ("fit" or "held_out"): by a hash of its
    title, so that the halves never change. The reader trains on ``fit`` articles only."""
    return (
        "fit"
        if hashlib.sha256(f"article:{article}".encode()).digest()[0] % 2 == 0
        else ("held_out")
    )


@dataclass(frozen=True, slots=True)
class Example:
    question: str
    context: str
    start: int  # answer characters in ``context``; -1 when it holds no answer
    end: int
    source: str


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def tweet_examples(folder: Path, rng: random.Random) -> list[Example]:
    """``TWEETS`` questions whose answer is found in their tweet, and for one in four a random
    other tweet as a negative."""
    passages = {str(p["id"]): str(p["text"]) for p in _jsonl(folder / "passages.jsonl")}
    ids = sorted(passages)
    out = []
    for q in _jsonl(folder / "questions.jsonl"):
        start = int(q["answer_starts"][0])  # type: ignore[index]
        text = passages.get(str(q["passage_ids"][0]))  # type: ignore[index]
        answer = str(q["answers"][0])  # type: ignore[index]
        if start < 0 or text is None or text[start : start + len(answer)].lower() != answer:
            continue
        out.append(Example(str(q["question"]), text, start, start + len(answer), "tweet"))
        if rng.random() < 1 / 4:
            other = passages[rng.choice(ids)]
            if answer not in other.lower():
                out.append(Example(str(q["question"]), other, -1, -1, "tweet"))
    rng.shuffle(out)
    return out[: TWEETS + TWEETS // 4]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The passage's sentences as character spans of the passage text."""
    spans, cursor = [], 0
    for sentence in split_sentences(text):
        at = text.find(sentence, cursor)
        if at < 0:
            continue
        spans.append((at, at + len(sentence)))
        cursor = at + len(sentence)
    return spans


def _overlap(question: set[str], sentence: str) -> int:
    return len(question & set(content_terms(sentence)))


def squad_examples(folder: Path, half: str) -> list[Example]:
    """Questions of the articles of ``half``: answer sentences and negatives."""
    passages = {str(p["id"]): str(p["text"]) for p in _jsonl(folder / "passages.jsonl")}
    spans = {pid: sentence_spans(text) for pid, text in passages.items()}
    by_article: dict[str, list[str]] = defaultdict(list)
    for pid in passages:
        by_article[pid.split("#", 1)[0]].append(pid)
    out = []
    for q in _jsonl(folder / "questions.jsonl"):
        pid = str(q["passage_ids"][0])  # type: ignore[index]
        article = pid.split("#", 1)[0]
        if article_half(article) != half or pid not in passages:
            continue
        text, question = passages[pid], str(q["question"])
        answers = [str(a) for a in q["answers"]]  # type: ignore[attr-defined]
        start = int(q["answer_starts"][0])  # type: ignore[index]
        end = start + len(answers[0])
        holding = [s for s in spans[pid] if s[0] <= start and end <= s[1]]
        if not holding:
            continue
        s0, s1 = holding[0]
        out.append(Example(question, text[s0:s1], start - s0, end - s0, "squad"))
        terms = set(content_terms(question))
        lower = [a.lower() for a in answers]

        def negative(sentence: str, lower: list[str] = lower) -> bool:
            return not any(a in sentence.lower() for a in lower)

        same = [text[a:b] for a, b in spans[pid] if (a, b) != (s0, s1)]
        same = [s for s in same if negative(s)]
        same.sort(key=lambda s: -_overlap(terms, s))
        others = [passages[o][a:b] for o in by_article[article] if o != pid for a, b in spans[o]]
        others = sorted((s for s in others if negative(s)), key=lambda s: -_overlap(terms, s))
        for sentence in same[:1] + others[:1]:
            out.append(Example(question, sentence, -1, -1, "squad"))
    return out


@dataclass(slots=True)
class Encoded:
    example: Example
    pair: PairInput
    start: int  # answer tokens (positions in ``pair.ids``); -1: none
    end: int


def encode(tokenizer: object, examples: list[Example]) -> list[Encoded]:
    """Model inputs and the answer's token positions (an answer cut off by the length limit
    makes the example a negative-free drop)."""
    out = []
    encode_batch = tokenizer.encode_batch  # type: ignore[attr-defined]
    questions = encode_batch([e.question[:300] for e in examples], add_special_tokens=False)
    contexts = encode_batch([e.context[:1000] for e in examples], add_special_tokens=False)
    for e, q, c in zip(examples, questions, contexts, strict=True):
        pair = pair_input(q.ids, c.ids, c.offsets)
        if e.start < 0:
            out.append(Encoded(e, pair, -1, -1))
            continue
        inside = [i for i, (a, b) in enumerate(pair.offsets) if a < e.end and b > e.start]
        if not inside:
            continue
        out.append(Encoded(e, pair, pair.first + inside[0], pair.first + inside[-1]))
    return out


def _torch():  # type: ignore[no-untyped-def]
    import torch

    return torch


def build_modules(base: object, rank: int) -> object:
    """The trainable top: the base model's top layers with LoRA deltas, and the heads."""
    torch = _torch()
    nn = torch.nn

    class LoraLinear(nn.Module):  # type: ignore[misc]
        def __init__(self, linear: object) -> None:
            super().__init__()
            weight = linear.weight.detach().clone()  # type: ignore[attr-defined]
            self.register_buffer("weight", weight)
            self.bias = nn.Parameter(linear.bias.detach().clone())  # type: ignore[attr-defined]
            self.a = nn.Parameter(torch.randn(rank, weight.shape[1]) / math.sqrt(weight.shape[1]))
            self.b = nn.Parameter(torch.zeros(weight.shape[0], rank))
            self.scale = ALPHA / rank

        def forward(self, x: object) -> object:
            out = torch.nn.functional.linear(x, self.weight, self.bias)
            return out + (x @ self.a.T @ self.b.T) * self.scale

    class Layer(nn.Module):  # type: ignore[misc]
        def __init__(self, layer: object) -> None:
            super().__init__()
            att = layer.attention  # type: ignore[attr-defined]
            self.query = LoraLinear(att.self.query)
            self.key = LoraLinear(att.self.key)
            self.value = LoraLinear(att.self.value)
            self.attn_out = LoraLinear(att.output.dense)
            self.ln1 = att.output.LayerNorm
            self.ffn_in = LoraLinear(layer.intermediate.dense)  # type: ignore[attr-defined]
            self.ffn_out = LoraLinear(layer.output.dense)  # type: ignore[attr-defined]
            self.ln2 = layer.output.LayerNorm  # type: ignore[attr-defined]
            self.drop = nn.Dropout(0.1)

        def forward(self, h: object, mask_add: object) -> object:
            b, t, d = h.shape  # type: ignore[attr-defined]

            def heads(x: object) -> object:
                return x.view(b, t, 12, d // 12).transpose(1, 2)  # type: ignore[attr-defined]

            q, k, v = heads(self.query(h)), heads(self.key(h)), heads(self.value(h))
            scores = q @ k.transpose(-1, -2) / math.sqrt(d // 12) + mask_add
            ctx = (self.drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(b, t, d)
            h1 = self.ln1(h + self.drop(self.attn_out(ctx)))
            f = self.ffn_out(torch.nn.functional.gelu(self.ffn_in(h1)))
            return self.ln2(h1 + self.drop(f))

    class Top(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            layers = base.encoder.layer[FROZEN:]  # type: ignore[attr-defined]
            self.layers = nn.ModuleList(Layer(layer) for layer in layers)
            self.span = nn.Linear(384, 2)
            self.here = nn.Linear(384, 1)
            for p in self.parameters():
                p.requires_grad_(True)

        def forward(self, h: object, mask: object) -> tuple[object, object, object]:
            mask_add = (1.0 - mask[:, None, None, :].float()) * -1e4  # type: ignore[index]
            for layer in self.layers:
                h = layer(h, mask_add)
            logits = self.span(h)
            return logits[..., 0], logits[..., 1], self.here(h[:, 0]).squeeze(-1)  # type: ignore[index]

    return Top()


def cache_bottom(base: object, data: list[Encoded], batch: int) -> list[np.ndarray]:
    """The frozen layers' output for every example (float16, unpadded)."""
    torch = _torch()
    order = sorted(range(len(data)), key=lambda i: len(data[i].pair.ids))
    out: list[np.ndarray] = [np.zeros(0)] * len(data)
    started = time.monotonic()
    with torch.no_grad():
        for n, at in enumerate(range(0, len(order), batch)):
            rows = order[at : at + batch]
            ids, types, mask = _padded(torch, [data[i].pair for i in rows])
            hidden = base(  # type: ignore[operator]
                input_ids=ids, token_type_ids=types, attention_mask=mask, output_hidden_states=True
            ).hidden_states[FROZEN]
            for j, i in enumerate(rows):
                out[i] = hidden[j, : len(data[i].pair.ids)].numpy().astype(np.float16)
            if n % 50 == 0:
                print(
                    f"  cached {at + len(rows)}/{len(data)} ({time.monotonic() - started:.0f} s)"
                )
    return out


def _padded(torch: object, pairs: list[PairInput]) -> tuple[object, object, object]:
    width = max(len(p.ids) for p in pairs)
    ids = np.zeros((len(pairs), width), dtype=np.int64)
    types, mask = np.zeros_like(ids), np.zeros_like(ids)
    for row, p in enumerate(pairs):
        ids[row, : len(p.ids)], types[row, : len(p.ids)], mask[row, : len(p.ids)] = (
            p.ids,
            p.types,
            1,
        )
    t = torch.from_numpy  # type: ignore[attr-defined]
    return t(ids), t(types), t(mask)


def batches(data: list[Encoded], size: int, rng: random.Random) -> Iterator[list[int]]:
    """Examples of similar length together, the batches in a random order."""
    order = sorted(range(len(data)), key=lambda i: (len(data[i].pair.ids), rng.random()))
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    yield from chunks


def _batch_tensors(
    data: list[Encoded], cached: list[np.ndarray], rows: list[int]
) -> tuple[object, ...]:
    torch = _torch()
    width = max(len(cached[i]) for i in rows)
    h = np.zeros((len(rows), width, 384), dtype=np.float32)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    sentence = np.zeros((len(rows), width), dtype=bool)
    for j, i in enumerate(rows):
        n, p = len(cached[i]), data[i].pair
        h[j, :n], mask[j, :n] = cached[i], 1
        sentence[j, p.first : p.first + len(p.offsets)] = True
    start = np.array([data[i].start for i in rows])
    end = np.array([data[i].end for i in rows])
    t = torch.from_numpy
    return t(h), t(mask), t(sentence), t(start), t(end)


def train(
    top: object, data: list[Encoded], cached: list[np.ndarray], args: argparse.Namespace
) -> None:
    torch = _torch()
    rng = random.Random(SEED)
    params = [p for p in top.parameters() if p.requires_grad]  # type: ignore[attr-defined]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(data) / args.batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * max(0.0, 1 - s / steps)
    )
    started, step, running = time.monotonic(), 0, 0.0
    top.train()  # type: ignore[attr-defined]
    for epoch in range(args.epochs):
        for rows in batches(data, args.batch, rng):
            h, mask, sentence, start, end = _batch_tensors(data, cached, rows)
            s_logits, e_logits, here = top(h, mask)  # type: ignore[operator]
            positive = start >= 0
            loss = torch.nn.functional.binary_cross_entropy_with_logits(here, positive.float())
            if positive.any():
                fill = torch.full_like(s_logits, -1e4)
                s_in = torch.where(sentence, s_logits, fill)[positive]
                e_in = torch.where(sentence, e_logits, fill)[positive]
                ce = torch.nn.functional.cross_entropy
                loss = loss + (ce(s_in, start[positive]) + ce(e_in, end[positive])) / 2
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if step > 1 else value
            if step % 50 == 0:
                rate = step / (time.monotonic() - started)
                print(
                    f"  epoch {epoch + 1} step {step}/{steps} loss {running:.3f} "
                    f"({rate:.2f} steps/s, {(steps - step) / rate / 60:.1f} min left)"
                )


def predict(
    top: object, data: list[Encoded], cached: list[np.ndarray]
) -> list[tuple[float, int, int, float]]:
    """Per example: "answer is here" probability, best span's tokens (sentence positions) and
    its probability."""
    torch = _torch()
    top.eval()  # type: ignore[attr-defined]
    out: list[tuple[float, int, int, float]] = [(0.0, 0, -1, 0.0)] * len(data)
    order = sorted(range(len(data)), key=lambda i: len(cached[i]))
    with torch.no_grad():
        for at in range(0, len(order), 64):
            rows = order[at : at + 64]
            h, mask, _, _, _ = _batch_tensors(data, cached, rows)
            starts, ends, here = top(h, mask)  # type: ignore[operator]
            for j, i in enumerate(rows):
                p = data[i].pair
                window = slice(p.first, p.first + len(p.offsets))
                first, last, prob = best_span(starts[j, window].numpy(), ends[j, window].numpy())
                out[i] = (float(torch.sigmoid(here[j])), first, last, prob)
    return out


def report(data: list[Encoded], predictions: list[tuple[float, int, int, float]]) -> None:
    """The held-out articles' figures: AUC of "here", span EM/F1 and the span curve."""
    from index.eval_metrics import normalize_answer, token_f1

    examples = [d.example for d in data]
    pos = [p[0] for e, p in zip(examples, predictions, strict=True) if e.start >= 0]
    neg = [p[0] for e, p in zip(examples, predictions, strict=True) if e.start < 0]
    auc = float(np.mean([[a > b for b in neg] for a in pos])) if pos and neg else 0.0
    print(f"held-out articles: {len(pos)} answer sentences, {len(neg)} others, here AUC {auc:.3f}")
    rows = []
    for e, d, (_, first, last, prob) in zip(examples, data, predictions, strict=True):
        if e.start < 0:
            continue
        a, b = span_characters(d.pair.offsets, first, last, e.context)
        gold = e.context[e.start : e.end]
        rows.append(
            (
                prob,
                float(normalize_answer(e.context[a:b]) == normalize_answer(gold)),
                token_f1(e.context[a:b], gold),
            )
        )
    rows.sort(key=lambda r: -r[0])
    for threshold in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        kept = [r for r in rows if r[0] >= threshold]
        if kept:
            print(
                f"  span prob >= {threshold:.1f}: coverage {len(kept) / len(rows):.3f} "
                f"EM {np.mean([r[1] for r in kept]):.3f} F1 {np.mean([r[2] for r in kept]):.3f}"
            )


def save(top: object, path: Path, model_path: Path) -> None:
    """The deltas, biases, layer norms and heads, float16."""
    arrays: dict[str, np.ndarray] = {}
    for name, tensor in top.state_dict().items():  # type: ignore[attr-defined]
        if name.endswith(".weight") and ".ln" not in name and name.split(".")[0] == "layers":
            continue  # the base weights themselves (buffers)
        arrays[name] = tensor.detach().numpy().astype(np.float16)
    meta = {
        "frozen": FROZEN,
        "rank": RANK,
        "alpha": ALPHA,
        "seed": SEED,
        "base": BUNDLED_MODEL,
        "base_sha256": _sha(model_path / "model.safetensors"),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(arrays)} arrays)")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="the folder holding tweetqa/ and squad_v11_dev/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=0, help="train on N examples (a trial)")
    args = parser.parse_args()
    torch = _torch()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    from transformers import BertModel

    model_path = resolve_model_path(BUNDLED_MODEL)
    tokenizer = load_tokenizer(model_path / "tokenizer.json")
    rng = random.Random(SEED)
    examples = tweet_examples(args.data / "tweetqa", rng)
    examples += squad_examples(args.data / "squad_v11_dev", "fit")
    rng.shuffle(examples)
    if args.limit:
        examples = examples[: args.limit]
    held = squad_examples(args.data / "squad_v11_dev", "held_out")
    held = random.Random(SEED).sample(held, min(len(held), args.limit // 4 or HELD_OUT_SAMPLE))
    print(
        f"{len(examples)} training examples "
        f"({sum(e.start >= 0 for e in examples)} with the answer), {len(held)} held out"
    )
    base = BertModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    data, held_data = encode(tokenizer, examples), encode(tokenizer, held)
    top = build_modules(base, RANK)
    cached = cache_bottom(base, data, 64)
    _check_top(base, top, data[:8])
    started = time.monotonic()
    train(top, data, cached, args)
    print(f"trained in {(time.monotonic() - started) / 60:.1f} min")
    save(top, args.out, model_path)
    held_cached = cache_bottom(base, held_data, 64)
    report(held_data, predict(top, held_data, held_cached))


def _check_top(base: object, top: object, data: list[Encoded]) -> None:
    """The top layers as rebuilt here reproduce the base model's (before any training)."""
    torch = _torch()
    top.eval()  # type: ignore[attr-defined]
    with torch.no_grad():
        ids, types, mask = _padded(torch, [d.pair for d in data])
        out = base(
            input_ids=ids,
            token_type_ids=types,
            attention_mask=mask,  # type: ignore[operator]
            output_hidden_states=True,
        )
        h = out.hidden_states[FROZEN]
        mask_add = (1.0 - mask[:, None, None, :].float()) * -1e4
        for layer in top.layers:  # type: ignore[attr-defined]
            h = layer(h, mask_add)
        diff = float(((h - out.last_hidden_state).abs() * mask[..., None]).max())
    print(f"rebuilt top layers match the base model: max difference {diff:.2e}")
    assert diff < 1e-3, diff


if __name__ == "__main__":
    main()
