"""Pure parts: hash assignment (deterministic, proportional, independent holdout) and the statistics wrappers."""
from __future__ import annotations

from collections import Counter

from reranking.services import experiments, online_metrics

EXPERIMENT = {"id": 7, "holdout": 10, "arms": [{"name": "a", "share": 70}, {"name": "b", "share": 30}]}


def test_assignment_is_deterministic_and_follows_the_shares():
    got = Counter(experiments.assign(3, EXPERIMENT, f"u:{n}")[0] for n in range(20_000))
    assert abs(got["holdout"] / 20_000 - 0.10) < 0.01
    in_arms = got["a"] + got["b"]
    assert abs(got["a"] / in_arms - 0.70) < 0.015
    assert all(experiments.assign(3, EXPERIMENT, f"u:{n}") == experiments.assign(3, EXPERIMENT, f"u:{n}") for n in range(100))


def test_another_experiment_or_tenant_reshuffles_users():
    other = {**EXPERIMENT, "id": 8}
    same = sum(experiments.assign(3, EXPERIMENT, f"u:{n}") == experiments.assign(3, other, f"u:{n}") for n in range(5000))
    # independent draws agree with probability 0.1^2 + 0.63^2 + 0.27^2 ~ 0.48
    assert 0.44 < same / 5000 < 0.52
    assert experiments.bucket(3, 7, "u:1") != experiments.bucket(4, 7, "u:1")


def test_rates_are_percentages_with_a_wilson_interval_that_stays_in_range():
    assert online_metrics.rate(0, 0) == {"percent": None, "low": None, "high": None}
    zero = online_metrics.rate(0, 50)
    assert zero["percent"] == 0.0 and zero["low"] == 0.0 and 0 < zero["high"] < 10
    half = online_metrics.rate(50, 100)
    assert half["low"] < 50.0 < half["high"] and round(half["high"] - 50, 1) == round(50 - half["low"], 1)


def test_a_clear_difference_is_significant_and_equal_rates_are_not():
    clear = online_metrics.compare(100, 1000, 150, 1000)
    assert clear["difference"] == 5.0 and clear["p_value"] < 0.01 and clear["low"] < 5.0 < clear["high"] and clear["low"] > 0
    equal = online_metrics.compare(100, 1000, 100, 1000)
    assert equal["difference"] == 0.0 and equal["p_value"] > 0.99 and equal["low"] < 0 < equal["high"]
    assert online_metrics.compare(0, 10, 0, 10)["p_value"] is None
    assert online_metrics.compare(0, 0, 1, 10)["difference"] is None
