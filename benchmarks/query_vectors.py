"""Question vectors for benchmarks that search with vectors computed beforehand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.encoder import QueryEncoder


def query_vectors(encoder: QueryEncoder, questions: Sequence[str]) -> np.ndarray:
    """One unit vector per question, as the engine embeds them (one at a time)."""
    return np.stack([encoder.encode_query(q) for q in questions]).astype(np.float32)
