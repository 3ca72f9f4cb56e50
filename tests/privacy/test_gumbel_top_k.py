"""One-shot Gumbel top-k: the noise scale matches 2Δk/ε and selection follows the exponential mechanism."""
from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from scipy import stats

from reranking.dp import gumbel_scale, make_rng, noisy_scores, private_top_k

EULER_GAMMA = 0.5772156649015329


def test_the_gumbel_scale_is_two_delta_k_over_epsilon():
    assert gumbel_scale(1.0, 1) == 2.0
    assert gumbel_scale(0.5, 10, sensitivity=0.25) == pytest.approx(2 * 0.25 * 10 / 0.5)


def test_halving_epsilon_doubles_the_scale():
    for eps in (0.1, 1.0, 3.0):
        assert gumbel_scale(eps / 2, 5) == pytest.approx(2 * gumbel_scale(eps, 5))


def noise(epsilon: float, k: int, n: int = 200_000, seed: int = 1) -> np.ndarray:
    """Return n draws of the noise private_top_k adds for k selections (k <= n, so k is not clamped)."""
    return noisy_scores(np.zeros(n), k, epsilon, rng=make_rng(seed))


@pytest.mark.parametrize(("epsilon", "k", "sensitivity"), [(1.0, 1, 1.0), (0.5, 4, 1.0), (2.0, 10, 0.1)])
def test_the_empirical_noise_has_the_documented_gumbel_scale(epsilon, k, sensitivity):
    b = gumbel_scale(epsilon, k, sensitivity)
    draws = noisy_scores(np.zeros(200_000), k, epsilon, sensitivity=sensitivity, rng=make_rng(7))
    assert draws.std() * math.sqrt(6) / math.pi == pytest.approx(b, rel=0.02)  # std = π b / √6
    assert draws.mean() == pytest.approx(EULER_GAMMA * b, rel=0.03)  # mean = γ b
    assert stats.kstest(draws, stats.gumbel_r(scale=b).cdf).pvalue > 0.001


def test_halving_epsilon_doubles_the_empirical_noise():
    assert noise(0.5, 3).std() / noise(1.0, 3, seed=2).std() == pytest.approx(2.0, rel=0.03)


def selection_counts(scores: np.ndarray, k: int, epsilon: float, draws: int, seed: int) -> dict:
    rng = make_rng(seed)
    counts: dict = {}
    for _ in range(draws):
        picked = tuple(private_top_k(scores, k, epsilon, rng=rng).tolist())
        counts[picked] = counts.get(picked, 0) + 1
    return counts


def test_for_k_one_selection_follows_the_exponential_mechanism():
    utilities, epsilon = np.array([0.0, 0.5, 1.0, 2.0]), 1.0
    counts = selection_counts(utilities, 1, epsilon, draws=20_000, seed=3)
    expected = np.exp(epsilon * utilities / 2)  # softmax(ε u / (2Δ)), Δ = 1
    expected = expected / expected.sum() * 20_000
    observed = np.array([counts.get((i,), 0) for i in range(4)])
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_for_k_two_selection_equals_two_rounds_of_peeling_at_half_epsilon_each():
    # Durfee & Rogers (2019): one-shot Gumbel top-k has the law of k-fold peeling
    utilities, epsilon, draws = np.array([0.0, 1.0, 2.0]), 2.0, 30_000
    weights = np.exp((epsilon / 2) * utilities / 2)  # each round: exponential mechanism with ε/k
    expected, observed = [], []
    counts = selection_counts(utilities, 2, epsilon, draws=draws, seed=4)
    for first, second in permutations(range(3), 2):
        p_first = weights[first] / weights.sum()
        p_second = weights[second] / (weights.sum() - weights[first])
        expected.append(p_first * p_second * draws)
        observed.append(counts.get((first, second), 0))
    assert sum(observed) == draws
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_the_effective_scale_seen_through_selections_doubles_when_epsilon_halves():
    # two items a gap d apart: P(pick the better) = sigmoid(d / b), so b = d / logit(p)
    gap, draws = 2.0, 20_000

    def fitted_scale(epsilon: float, seed: int) -> float:
        counts = selection_counts(np.array([gap, 0.0]), 1, epsilon, draws=draws, seed=seed)
        p = counts[(0,)] / draws
        return gap / math.log(p / (1 - p))

    # tolerances are about 4 standard errors of the fitted logit (1/sqrt(p(1-p)n) over d/b)
    assert fitted_scale(1.0, 5) == pytest.approx(gumbel_scale(1.0, 1), rel=0.07)
    assert fitted_scale(0.5, 6) == pytest.approx(gumbel_scale(0.5, 1), rel=0.12)


def test_top_k_returns_k_distinct_indices():
    rng = make_rng(8)
    scores = rng.normal(size=50)
    for _ in range(200):
        picked = private_top_k(scores, 10, 0.5, rng=rng)
        assert len(picked) == 10 and len(set(picked.tolist())) == 10
        assert picked.min() >= 0 and picked.max() < 50


def test_a_very_large_epsilon_returns_the_true_top_k_in_order():
    scores = make_rng(9).normal(size=100)
    picked = private_top_k(scores, 5, 1e12, rng=make_rng(10))
    assert picked.tolist() == np.argsort(-scores)[:5].tolist()


def test_k_beyond_the_list_returns_every_index_once():
    picked = private_top_k(np.array([0.3, 0.1, 0.2]), 10, 1.0, rng=make_rng(11))
    assert sorted(picked.tolist()) == [0, 1, 2]
    assert private_top_k(np.array([]), 3, 1.0, rng=make_rng(11)).tolist() == []


def test_a_seeded_generator_repeats_and_an_unseeded_one_does_not():
    scores = np.linspace(0, 1, 40)
    assert (private_top_k(scores, 5, 1.0, rng=make_rng(12)) == private_top_k(scores, 5, 1.0, rng=make_rng(12))).all()
    assert make_rng().random(4).tolist() != make_rng().random(4).tolist()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"epsilon": float("inf")}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"epsilon": True}, "epsilon"),
        ({"k": 0}, "k"),
        ({"k": 2.5}, "k"),
        ({"sensitivity": 0.0}, "sensitivity"),
        ({"sensitivity": float("inf")}, "sensitivity"),
    ],
)
def test_it_refuses_bad_parameters_naming_them(kwargs, name):
    args = {"epsilon": 1.0, "k": 2, "sensitivity": 1.0} | kwargs
    with pytest.raises(ValueError, match=f"^{name} must"):
        gumbel_scale(args["epsilon"], args["k"], args["sensitivity"])
    with pytest.raises(ValueError, match=f"^{name} must"):
        private_top_k(np.ones(3), args["k"], args["epsilon"], sensitivity=args["sensitivity"], rng=make_rng(0))


def test_it_refuses_scores_it_cannot_rank():
    with pytest.raises(ValueError, match="finite"):
        private_top_k(np.array([1.0, np.nan]), 1, 1.0, rng=make_rng(0))
    with pytest.raises(ValueError, match="one-dimensional"):
        private_top_k(np.ones((2, 2)), 1, 1.0, rng=make_rng(0))
