"""Model selection: a version serves the re-ranker only where it beats every first-stage source on validation by the margin."""
from __future__ import annotations

import dataclasses

import numpy as np

from reranking.ml.artifact import History, Reranker
from reranking.ml.selection import choose


def validation(reranker: float, **sources: float) -> dict:
    return {"reranker": {"ndcg@10": reranker}, **{name: {"ndcg@10": value} for name, value in sources.items()}}


def test_a_source_that_beats_the_reranker_by_more_than_the_margin_is_served():
    choice = choose(validation(0.226, transition=0.233, item_knn=0.20), margin=0.02)
    assert choice.served == "transition" and choice.best_source_ndcg == 0.233
    assert "did not beat the transition source" in choice.reason and "0.226 vs 0.233" in choice.reason


def test_a_near_tie_goes_to_the_source_and_a_clear_win_to_the_reranker():
    choice = choose(validation(0.234, transition=0.233), margin=0.01)  # 0.4% better: within the margin
    assert choice.served == "transition"
    assert "only 0.4% better than the transition source" in choice.reason and "within the 1% margin" in choice.reason
    assert choose(validation(0.233, transition=0.233), margin=0.01).served == "transition"
    won = choose(validation(0.236, transition=0.233), margin=0.01)  # 1.3% better: beyond the margin
    assert won.served == "reranker" and "serves the transformer re-ranker" in won.reason
    assert choose(validation(0.30, transition=0.20, als=0.25), margin=0.01).best_source == "als"
    assert choose({"transition": {"ndcg@10": 0.2}}, margin=0.01) is None


def test_a_version_serving_a_source_ranks_by_it_live_and_precomputed_and_keeps_it_when_saved(trained, tmp_path):
    trained.model.save(str(tmp_path / "a"))
    model = Reranker.load(str(tmp_path / "a"))
    model.config = dataclasses.replace(model.config, serve="transition")
    model.save(str(tmp_path / "b"))
    model = Reranker.load(str(tmp_path / "b"))
    assert model.config.serve == "transition"

    history = History(["i3_4", "i3_5"], [1.0, 2.0])
    recs = model.recommend([history], k=10)[0]
    assert recs[0][0] == "i3_6"  # the planted chain: after i3_5 comes i3_6
    assert not {"i3_4", "i3_5"} & {item for item, _ in recs}
    scores = [score for _, score in recs]
    assert scores == sorted(scores, reverse=True)
    q, _ = model._queries([history])
    raw = model.first_stage.source_scores(q)["transition"][0].numpy()
    assert np.argmax(raw) == model.item_ids.index("i3_6")

    live = model.rerank(History(["i0_1"]), ["i7_7", "i0_2", "i0_3"])
    assert live[0][0] == "i0_2"
