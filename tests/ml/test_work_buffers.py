"""Loops over many scoring batches reuse one thread's (batch, items) work matrices (sources.reuse_buffers):
the same candidates and features as freshly allocated matrices, no growth from batch to batch, nothing
kept afterwards, and no sharing between threads."""
from __future__ import annotations

import threading

import numpy as np
import torch

from reranking.ml import sources
from reranking.ml.artifact import History
from reranking.ml.sources import reuse_buffers, work_matrix


def batches(model, n: int = 7, size: int = 5):
    rng = np.random.default_rng(0)
    ids = model.item_ids
    histories = [History([ids[i] for i in rng.choice(len(ids), int(rng.integers(1, 6)), replace=False)])
                 for _ in range(n * size - 2)]  # a shorter last batch
    return [model._queries(histories[s:s + size])[0] for s in range(0, len(histories), size)]


def test_reused_matrices_give_the_candidates_and_features_of_fresh_ones(trained):
    fs = trained.model.first_stage
    queries = batches(trained.model)
    fresh = [fs.candidates(q, exclude_seen=True) for q in queries]
    pointers = []
    with reuse_buffers():
        reused = []
        for q in queries:
            reused.append(fs.candidates(q, exclude_seen=True))
            pointers.append({name: t.data_ptr() for name, t in sources._work.pool.items()})
    for (c1, f1), (c2, f2) in zip(fresh, reused):
        np.testing.assert_array_equal(c1, c2)
        np.testing.assert_array_equal(f1, f2)
    assert set(pointers[0]) >= {"sources", "rank", "fused", "fused_rank"}
    assert all(p == pointers[0] for p in pointers), "a batch allocated its matrices afresh"
    assert sources._work.pool == {}, "the matrices outlive the loop"


def test_recommend_and_source_scores_match_outside_and_inside(trained, monkeypatch):
    import contextlib

    from reranking.ml import artifact
    from reranking.ml.sources import SOURCES

    model = trained.model
    queries = batches(model, n=3)
    outside = [dict(model.first_stage.source_scores(q)) for q in queries]
    with reuse_buffers():
        for q, before in zip(queries, outside):
            inside = model.first_stage.source_scores(q)
            assert inside.matrix.shape == (len(SOURCES), len(q), model.first_stage.n_items)
            for name in (*SOURCES, "popularity"):
                torch.testing.assert_close(inside[name], before[name], rtol=0, atol=0)
    rng = np.random.default_rng(1)
    histories = [History([model.item_ids[int(i)]]) for i in rng.choice(len(model.item_ids), 40)]
    monkeypatch.setattr(artifact, "rows_per_batch", lambda n_items: 8)  # five batches
    reused = model.recommend(histories, k=10)
    monkeypatch.setattr(artifact, "reuse_buffers", contextlib.nullcontext)
    assert reused == model.recommend(histories, k=10)


def test_each_thread_has_its_own_matrices():
    seen: dict[str, int] = {}
    both_inside = threading.Barrier(2)

    def hold(name: str) -> None:
        with reuse_buffers():
            seen[name] = work_matrix("fused", (4, 100), 0.0).data_ptr()
            both_inside.wait(timeout=10)

    threads = [threading.Thread(target=hold, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 2 and seen["a"] != seen["b"]
