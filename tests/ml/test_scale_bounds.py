"""What keeps a large tenant's run bounded: early stopping on the best epoch, sampled evaluation, capped epochs."""
from __future__ import annotations

import os
import subprocess
import sys
import platform

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from reranking.ml import train as train_module
from reranking.ml.data import leave_last_out
from reranking.ml.sources import rows_per_batch, sparse_neighbour_lists
from reranking.ml.train import bound_heap, epoch_windows, eval_sample, train

from .conftest import dense_top_k, random_embeddings, small_config


def test_training_stops_after_patience_and_keeps_the_best_epochs_weights(make_walks, monkeypatch):
    ds = make_walks(n_users=120)
    scripted = iter([0.1, 0.3, 0.2, 0.9])  # epoch 3 is worse than epoch 2: stop there (patience 1)
    real_metrics, real_top = train_module.ranking_metrics, train_module.rerank_top
    states = []

    def top(net, lists, device, k=10):
        states.append({k: v.clone() for k, v in net.state_dict().items()})
        return real_top(net, lists, device, k)

    def metrics(top, targets, n_items, k=10):
        out = real_metrics(top, targets, n_items, k)
        return {**out, "ndcg@10": next(scripted)} if len(states) <= 3 else out

    monkeypatch.setattr(train_module, "rerank_top", top)
    monkeypatch.setattr(train_module, "ranking_metrics", metrics)
    result = train(ds, small_config(max_epochs=6, patience=1), item_embeddings=random_embeddings(ds.n_items))
    assert [e["epoch"] for e in result.metrics["epochs"]] == [1, 2, 3]
    assert result.metrics["best_epoch"] == 2
    final = result.model.net.state_dict()
    assert all(torch.equal(final[k], v) for k, v in states[1].items())  # epoch 2's weights, not epoch 3's
    assert not all(torch.equal(final[k], v) for k, v in states[2].items())


def test_large_tenants_are_evaluated_on_a_seeded_sample_with_an_interval(make_walks):
    ds = make_walks(n_users=150)
    result = train(ds, small_config(max_epochs=1, max_eval_users=60), item_embeddings=random_embeddings(ds.n_items))
    assert result.metrics["users_evaluated"] == 60 and result.metrics["users_eligible"] == 150
    reranker = next(m for m in result.metrics["methods"] if m["name"] == "reranker")
    assert 0 < reranker["ndcg@10_ci95"] < 0.3
    split = leave_last_out(ds)
    assert np.array_equal(eval_sample(split, 60, 0), eval_sample(split, 60, 0))  # same seed, same users
    assert np.array_equal(eval_sample(split, 500, 0), split.eval_users)  # all of them when few


def test_epoch_windows_grow_with_the_square_root_past_the_cap():
    assert epoch_windows(5_000, 20_000) == 5_000
    assert epoch_windows(80_000, 20_000) == 40_000
    assert epoch_windows(80_000, 0) == 80_000


def test_sparse_neighbours_match_the_dense_top_k():
    m = sp.random(300, 300, density=0.05, random_state=1, format="csr", dtype=np.float32)
    m.setdiag(0)
    m.eliminate_zeros()
    idx, sim = sparse_neighbour_lists(lambda a, b: m[a:b], 300, 10, chunk=37)
    dense_idx, dense_sim = dense_top_k(lambda a, b: torch.from_numpy(m[a:b].toarray()), 300, 10)
    assert np.allclose(sim, dense_sim)
    assert np.array_equal(idx[sim > 0], dense_idx[sim > 0])


@pytest.mark.parametrize("n_items, rows", [(1_000, 256), (100_000, 20), (10_000_000, 8)])
def test_scoring_batches_shrink_as_the_catalogue_grows(n_items, rows):
    assert rows_per_batch(n_items) == rows


# Run in a fresh interpreter: in the suite's long-lived process other allocations (threads, caches) move
# the resident set by tens of MiB while the check runs.
FREED_MATRICES = """
import os, sys
import numpy as np
from reranking.ml.train import bound_heap

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

if sys.argv[1] == "bound":
    bound_heap()
np.ones(2**22, dtype=np.float32)  # a freed 16 MiB block: glibc alone would now keep 8 MiB blocks in its heap
blocks, pins = [], []
before = resident()
for _ in range(16):  # 16 x 8 MiB, each followed by a small long-lived object that pins the heap above it
    blocks.append(np.ones(2**21, dtype=np.float32))
    pins.append(np.ones(2048, dtype=np.float32))
grown = resident() - before
blocks.clear()
print(grown, resident() - before)
"""


def _freed_matrices(mode: str) -> tuple[int, int]:
    """Return (MiB resident after allocating 16 x 8 MiB, MiB still resident after freeing them)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", FREED_MATRICES, mode], cwd=root, capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]) // 2**20, int(out[1]) // 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm") or not platform.libc_ver()[0] == "glibc",
                    reason="measures glibc's heap through /proc")
def test_freed_score_matrices_leave_the_process_after_bound_heap():
    grown, kept = _freed_matrices("bound")
    assert grown > 100 and kept < 16, (grown, kept)  # the 128 MiB went back to the OS, not into the heap
