"""Text neighbours computed in row and column blocks equal the top-k of whole similarity rows."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reranking.ml import sources
from reranking.ml.sources import text_neighbours

from .conftest import dense_top_k


def unit_vectors(n: int, seed: int) -> np.ndarray:
    emb = np.random.default_rng(seed).standard_normal((n, 32)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def whole_rows(emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of each row of the full similarity matrix, own item zeroed (the implementation before blocks)."""
    t = torch.from_numpy(emb)

    def rows(a: int, b: int) -> torch.Tensor:
        block = t[a:b] @ t.T
        block[torch.arange(b - a), torch.arange(a, b)] = 0.0
        return block
    return dense_top_k(rows, len(emb), k)


@pytest.mark.parametrize(("n", "k", "col_chunk", "cells"), [
    (3000, 50, 1000, None), (3001, 10, 700, None), (500, 50, 7, None), (2, 10, 16384, None),
    # Several row blocks too, most of them meeting column blocks that do not hold their own items.
    (3001, 10, 700, 300 * 700), (2000, 50, 512, 100 * 512),
])
def test_blocked_neighbours_equal_whole_rows(n, k, col_chunk, cells, monkeypatch):
    if cells is not None:
        monkeypatch.setattr(sources, "BLOCK_CELLS", cells)  # rows per block: cells // col_chunk
    emb = unit_vectors(n, seed=n)
    want_idx, want_sim = whole_rows(emb, k)
    idx, sim = text_neighbours(emb, k, col_chunk=col_chunk)
    assert idx.shape == want_idx.shape == (n, min(k, n - 1)) and idx.dtype == np.int32 and sim.dtype == np.float32
    # Blocks of the product may round the last bit differently, which can swap two near-equal neighbours.
    assert np.allclose(sim, want_sim, atol=1e-6)
    assert (idx == want_idx).mean() > 0.999
    own = idx == np.arange(n)[:, None]
    assert (sim[own] == 0).all(), "an item is its own neighbour only where every other similarity is below 0"
