"""Each metric against values computed by hand on a tiny example."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reranking.ml.metrics import ranking_metrics, recall_at


def test_metrics_match_hand_computed_values():
    top = np.array([[5, 3, 9], [1, 2, 4], [7, 8, -1]])
    targets = np.array([3, 0, 7])  # rank 2, miss, rank 1
    m = ranking_metrics(top, targets, n_items=20, k=3)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3) + 0 + 1.0) / 3)
    assert m["hit@3"] == pytest.approx(2 / 3)
    assert m["mrr@3"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert m["coverage@3"] == pytest.approx(8 / 20)  # {5,3,9,1,2,4,7,8}


def test_only_the_top_k_counts():
    top = np.arange(20)[None, :]
    assert ranking_metrics(top, np.array([10]), n_items=20, k=10)["hit@10"] == 0.0
    assert ranking_metrics(top, np.array([9]), n_items=20, k=10)["ndcg@10"] == pytest.approx(1 / math.log2(11))


def test_recall_counts_targets_anywhere_in_the_list():
    assert recall_at(np.array([[1, 2, 3], [4, 5, 6]]), np.array([3, 7])) == 0.5


def test_ndcg_comes_with_its_95_percent_interval():
    top = np.array([[1], [2], [3], [4]])
    m = ranking_metrics(top, np.array([1, 0, 3, 0]), n_items=5, k=1)  # per-user NDCG 1, 0, 1, 0
    assert m["ndcg@1"] == 0.5
    assert m["ndcg@1_ci95"] == pytest.approx(1.96 * np.std([1, 0, 1, 0], ddof=1) / 2)
