"""The trained re-ranker recovers a planted sequential pattern, and the serving API behaves."""
from __future__ import annotations

import numpy as np

from reranking.ml.artifact import History
from reranking.ml.train import TrainResult


def _row(result: TrainResult, name: str) -> dict:
    return next(m for m in result.metrics["methods"] if m["name"] == name)


def test_it_recovers_walks_far_above_popularity(trained: TrainResult):
    reranker, popularity = _row(trained, "reranker"), _row(trained, "popularity")
    assert reranker["ndcg@10"] > 0.5
    assert reranker["ndcg@10"] > 5 * popularity["ndcg@10"]
    assert trained.metrics["validation"]["reranker"]["ndcg@10"] > 0.5
    assert trained.metrics["users_evaluated"] == 300 and trained.metrics["users_left_out"] == 0
    assert set(trained.timings) >= {"embedding", "candidates", "training", "evaluating"}


def test_recommend_continues_the_walk_and_skips_seen_items(trained: TrainResult):
    model = trained.model
    walked = ["i3_2", "i3_3", "i3_4", "i3_5", "i3_6"]
    history = History(walked, [0.0, 3600.0, 7200.0, 10000.0, 20000.0])
    recs = model.recommend([history], k=5)[0]
    assert recs[0][0] == "i3_7"
    assert not set(walked) & {item for item, _ in recs}
    assert "i3_6" in {item for item, _ in model.recommend([history], k=60, exclude_seen=False)[0]}


def test_it_handles_cold_and_unknown_histories(trained: TrainResult):
    model = trained.model
    recs = model.recommend([History([]), History(["nope", "i1_1", "i1_2", "i1_3", "i1_4"])], k=10)
    assert len(recs[0]) == 10 and all(np.isfinite(s) for _, s in recs[0])
    assert recs[1][0][0] == "i1_5"


def test_rerank_omits_unknown_candidates(trained: TrainResult):
    out = trained.model.rerank(History(["i2_0", "i2_1", "i2_2", "i2_3"]), ["i0_0", "unknown", "i2_4", "i5_9"])
    assert [item for item, _ in out][0] == "i2_4"
    assert {item for item, _ in out} == {"i0_0", "i2_4", "i5_9"}
    assert trained.model.item_embeddings.shape == (len(trained.model.item_ids), 384)
