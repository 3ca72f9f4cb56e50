"""Pure parts: hash assignment (deterministic, proportional, independent holdout) and the statistics wrappers."""
from __future__ import annotations

from collections import Counter

import numpy as np

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


def lists(prefix: str, users: int, per_user: int, rate: float, seed: int) -> list[tuple[str, bool]]:
    """(unit, success) per list: each of `users` users served `per_user` lists, each clicked with `rate`."""
    rng = np.random.default_rng(seed)
    return [(f"{prefix}{n}", bool(rng.random() < rate)) for n in range(users) for _ in range(per_user)]


def test_a_clear_difference_is_significant_and_equal_rates_are_not():
    a = lists("a", 200, 5, 0.2, seed=1)
    b = lists("b", 200, 5, 0.4, seed=2)
    clear = online_metrics.compare(a, b)
    observed = 100 * (np.mean([s for _, s in b]) - np.mean([s for _, s in a]))
    assert clear["difference"] == round(observed, 2) and clear["p_value"] < 0.001
    assert 0 < clear["low"] < clear["difference"] < clear["high"]
    equal = online_metrics.compare(a, [("b" + u, s) for u, s in a])
    assert equal["difference"] == 0.0 and equal["p_value"] > 0.99 and equal["low"] < 0 < equal["high"]
    assert online_metrics.compare([("u1", False)] * 5, [("u2", False)] * 5)["p_value"] is None
    assert online_metrics.compare([], [("u1", True)])["difference"] is None
    # One user in an arm (an experiment's first minutes): a difference, no test (it was a 500 in the results).
    lone = online_metrics.compare([("u1", True), ("u1", False)], [("u2", True), ("u3", False), ("u4", False)])
    assert lone["difference"] == round(100 * (1 / 3 - 1 / 2), 2) and lone["p_value"] is None


def test_repeat_visits_of_a_few_users_do_not_make_a_difference_significant():
    """Two users who always click against two who never do: 100 lists each, yet only four people."""
    a = [("u1", True)] * 50 + [("u2", False)] * 50
    b = [("u3", True)] * 60 + [("u4", False)] * 40
    clustered = online_metrics.compare(a, b)
    assert clustered["difference"] == 10.0 and clustered["p_value"] > 0.5
    # The same lists as 200 independent visitors: now the test has evidence (and says so).
    independent = online_metrics.compare([(f"a{i}", s) for i, (_, s) in enumerate(a * 4)],
                                         [(f"b{i}", s) for i, (_, s) in enumerate(b * 4)])
    assert independent["p_value"] < clustered["p_value"] and independent["p_value"] < 0.01
