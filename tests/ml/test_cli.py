"""The evaluation CLI on the generic CSV format, end to end (real MiniLM on a small catalogue)."""
from __future__ import annotations

import json

import numpy as np

from reranking.ml import evaluate
from reranking.ml.config import RerankerConfig


def test_cli_writes_the_report_for_generic_csv(tmp_path, monkeypatch, make_walks):
    ds = make_walks(n_users=120, n_chains=6, chain_len=20, seed=1)
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,category\n" + "".join(f"{i},{t},walks\n" for i, t in zip(ds.item_ids, ds.item_texts)))
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,timestamp,event_type\n" + "".join(
        f"{ds.user_ids[u]},{ds.item_ids[i]},{t},view\n"
        for u, i, t in zip(ds.event_users, ds.event_items, ds.timestamps)))
    small = dict(n_candidates=40, max_history=12, d_model=32, max_epochs=3, batch_size=64, n_negatives=32,
                 als_factors=8, als_iterations=3, crossfit_folds=2, max_train_lists=1500)
    monkeypatch.setattr(evaluate, "RerankerConfig", lambda seed: RerankerConfig(seed=seed, **small))
    out = tmp_path / "report.json"
    assert evaluate.main(["--interactions", str(events), "--items", str(items), "--seed", "3", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    names = [m["name"] for m in report["methods"]]
    assert names[0] == "popularity" and names[-1] == "reranker"
    assert {"item_knn", "als", "text", "recent_popularity", "candidates"} <= set(names)
    assert set(report) >= {"candidate_recall@40", "train_seconds", "score_ms_p50", "users_evaluated", "users_left_out"}
    assert np.isfinite(report["methods"][-1]["ndcg@10"])

