"""Shared fixtures: small generated data sets with a planted sequential pattern."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # run from anywhere without installing the package

from reranking.ml.config import RerankerConfig  # noqa: E402
from reranking.ml.data import Dataset  # noqa: E402


def make_walk_dataset(n_users: int = 300, n_chains: int = 12, chain_len: int = 25, seed: int = 0) -> Dataset:
    """Return users who walk fixed item chains: after item k of a chain comes item k+1."""
    rng = np.random.default_rng(seed)
    item_ids = [f"i{c}_{k}" for c in range(n_chains) for k in range(chain_len)]
    texts = [f"Item {k} of series {c}" for c in range(n_chains) for k in range(chain_len)]
    users, items, times = [], [], []
    for u in range(n_users):
        chain = rng.integers(n_chains)
        length = int(rng.integers(6, 16))
        start = int(rng.integers(0, chain_len - length + 1))
        t = float(rng.integers(0, 10_000_000))
        for k in range(start, start + length):
            users.append(f"u{u}")
            items.append(f"i{chain}_{k}")
            t += float(rng.integers(60, 86_400))
            times.append(t)
    order = rng.permutation(len(users))  # input order must not matter: timestamps decide
    return Dataset.from_arrays(item_ids, texts, [users[i] for i in order], [items[i] for i in order],
                               [times[i] for i in order])


def dense_top_k(matrix_rows, n_items: int, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The reference top-k (indices, similarities clamped at 0) of each whole row of a dense similarity
    given as a row-chunk callable (C, I) tensor, diagonal already zeroed: what the blocked and sparse
    neighbour lists must equal."""
    import torch

    k = max(1, min(k, n_items - 1))
    idx = np.zeros((n_items, k), dtype=np.int32)
    sim = np.zeros((n_items, k), dtype=np.float32)
    for start in range(0, n_items, chunk):
        stop = min(n_items, start + chunk)
        vals, top = torch.topk(matrix_rows(start, stop), k, dim=1)
        idx[start:stop] = top.numpy()
        sim[start:stop] = vals.clamp(min=0).numpy()
    return idx, sim


def random_embeddings(n: int, seed: int = 0) -> np.ndarray:
    """Return a tiny stand-in for MiniLM: random unit vectors (384-d) per item."""
    emb = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def small_config(**overrides) -> RerankerConfig:
    """Return a config that trains in seconds on the generated data."""
    values = dict(n_candidates=50, max_history=16, d_model=32, max_epochs=8, patience=3, batch_size=64,
                  n_negatives=64, als_factors=8, als_iterations=5, crossfit_folds=2, knn_neighbours=20,
                  text_neighbours=10, max_train_lists=4000, num_threads=2, lr=3e-3)
    values.update(overrides)
    return RerankerConfig(**values)


@pytest.fixture(scope="session")
def make_walks():
    return make_walk_dataset


@pytest.fixture(scope="session")
def walk_dataset() -> Dataset:
    return make_walk_dataset()


@pytest.fixture(scope="session")
def trained(walk_dataset):
    """Train once per session on the planted data (a few seconds)."""
    from reranking.ml.train import train

    return train(walk_dataset, small_config(), item_embeddings=random_embeddings(walk_dataset.n_items))
