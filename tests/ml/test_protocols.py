"""The cold-items and unseen-users protocols on a small generated shop (pure ML core, no database)."""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from reranking.demo_data import generate
from reranking.ml.config import RerankerConfig
from reranking.ml.data import Dataset
from reranking.ml.protocols import cold_items, format_report, unseen_users

pytestmark = pytest.mark.slow

QUICK = RerankerConfig(max_epochs=1, patience=1, max_train_lists=2000, crossfit_folds=2, n_negatives=64)


@pytest.fixture(scope="module")
def shop() -> tuple[Dataset, np.ndarray]:
    items, events = generate(seed=3, n_users=120, lines_per_category=4)
    dataset = Dataset.from_arrays(
        item_ids=[i["item_id"] for i in items],
        item_texts=[". ".join([i["title"], i["category"], " ".join(i["tags"]), i["description"]]) for i in items],
        user_ids=[e["user_id"] for e in events], event_item_ids=[e["item_id"] for e in events],
        timestamps=[datetime.fromisoformat(e["timestamp"]).timestamp() for e in events],
        event_types=[e["event_type"] for e in events],
    )
    # Random unit vectors would do for the protocol's mechanics; category-shared directions make text mean something.
    rng = np.random.default_rng(0)
    centres = {c: rng.normal(size=384) for c in {i["category"] for i in items}}
    emb = np.stack([centres[i["category"]] + 0.5 * rng.normal(size=384) for i in items]).astype(np.float32)
    return dataset, emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_cold_items_hides_new_items_from_training_and_scores_every_method(shop):
    dataset, emb = shop
    # Make the last step of every product line new: drop its events before the last 10% of time.
    cut = np.quantile(dataset.timestamps, 0.9)
    late = np.array([item.endswith("-3") for item in dataset.item_ids])
    dataset = dataset.subset(~(late[dataset.event_items] & (dataset.timestamps < cut)))
    report = cold_items(dataset, QUICK, emb, max_cases=200)
    assert report["cases"] > 0 and report["new_items"] > 0
    assert report["trained_items"] + report["new_items"] == dataset.n_items
    assert set(report["methods"]) == {"served (model + text)", "popularity", "text similarity"}
    for metrics in report["methods"].values():
        assert 0.0 <= metrics["ndcg@10"] <= metrics["hit@10"] <= 1.0
    assert report["methods"]["served (model + text)"]["hit@10"] > 0, "new items reach served lists"
    assert "cold items" in format_report(report)


def test_unseen_users_are_served_from_their_history(shop):
    dataset, emb = shop
    report = unseen_users(dataset, QUICK, emb)
    assert report["unseen"]["users"] > 0 and report["trained"]["users"] > report["unseen"]["users"]
    assert report["unseen"]["ndcg@10"] > 0
    assert 0.0 <= report["trained ndcg@10 at unseen users' lengths"] <= 1.0
    assert "unseen users" in format_report(report)


def test_unseen_users_pool_disjoint_folds_with_an_interval(shop):
    dataset, emb = shop
    one = unseen_users(dataset, QUICK, emb, folds=1)
    two = unseen_users(dataset, QUICK, emb, folds=2)
    assert two["folds"] == 2 and one["folds"] == 1
    # Disjoint folds: the second adds as many different users as the first held out.
    assert two["unseen"]["users"] == 2 * one["unseen"]["users"]
    low, high = two["ratio to trained, 95% interval"]
    assert low <= two["ratio to trained"] <= high
    assert "fold(s)" in format_report(two)


def test_a_goal_is_not_met_at_zero(shop, monkeypatch):
    """A served path that never hits meets no goal, even against baselines that do not hit either."""
    dataset, emb = shop
    from reranking.ml import protocols

    monkeypatch.setattr(protocols.Reranker, "recommend", lambda self, histories, k=10, exclude_seen=True: [[] for _ in histories])
    report = unseen_users(dataset, QUICK, emb)
    assert report["unseen"]["ndcg@10"] == 0
    assert not any(report["goals"].values())


class PerUser:
    """A stand-in model: each user's target at a rank of its own (3 users in 4 miss), one lower when unseen."""

    def __init__(self, dataset: Dataset, trained: set[str], drop: int) -> None:
        sequences = dataset.user_sequences()
        self.items = dataset.item_ids
        self.trained, self.drop = trained, drop
        self.cases = {tuple(dataset.timestamps[seq[:-1]].tolist()): (dataset.user_ids[u], dataset.item_ids[dataset.event_items[seq[-1]]])
                      for u, seq in enumerate(sequences)}

    def recommend(self, histories, k=10, exclude_seen=True):
        rows = []
        for h in histories:
            user, target = self.cases[tuple(h.timestamps)]
            rank = int(user.lstrip("u")) % 4 * 20 + (0 if user in self.trained else self.drop)
            others = [i for i in self.items if i != target and i not in h.item_ids][:k]
            rows.append([(i, 1.0) for i in (others[:rank] + [target] + others[rank:])[:k]])
        return rows


@pytest.mark.parametrize("drop", [0, 1])
def test_the_paired_ratio_compares_each_left_out_user_with_itself(shop, monkeypatch, drop):
    """Unseen or trained, a user's target sits at the same rank (drop 0) or one lower (drop 1).

    Drop 0: the paired ratio is exactly 1 with no spread (each user is compared with itself), where
    the length-matched ratio, comparing different users, has an interval around it.
    """
    dataset, emb = shop
    from reranking.ml import protocols

    monkeypatch.setattr(protocols, "fit", lambda ds, config, embeddings: PerUser(dataset, set(ds.user_ids), drop))
    report = unseen_users(dataset, QUICK, emb, folds=3)
    assert report["unseen"]["ndcg@10"] > 0
    if drop == 0:
        assert report["paired ratio"] == pytest.approx(1.0)
        assert report["paired ratio, 95% interval"] == pytest.approx([1.0, 1.0])
        low, high = report["ratio to trained, 95% interval"]
        assert high - low > 0.05
        assert report["goals"]["unseen >= 90% of trained (same length)"]
    else:
        # Users hit at rank 0 trained are hit at rank 1 unseen; the others miss both ways.
        assert report["paired ratio"] == pytest.approx(1 / np.log2(3))
        assert not report["goals"]["unseen >= 90% of trained (same length)"]
    assert "paired" in format_report(report)
