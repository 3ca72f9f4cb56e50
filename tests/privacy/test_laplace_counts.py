"""Laplace counts: the noise scale matches Δ/ε (variance 2b²), and clamping is optional."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reranking.dp import laplace_counts, laplace_scale, make_rng


def test_the_laplace_scale_is_sensitivity_over_epsilon():
    assert laplace_scale(0.5) == 2.0
    assert laplace_scale(2.0, sensitivity=3.0) == 1.5
    assert laplace_scale(0.25, 3.0) == pytest.approx(2 * laplace_scale(0.5, 3.0))  # half ε, twice the scale


def noise(epsilon: float, sensitivity: float = 1.0, seed: int = 1, n: int = 400_000) -> np.ndarray:
    return laplace_counts(np.zeros(n), epsilon, sensitivity=sensitivity, rng=make_rng(seed), clamp_nonnegative=False)


@pytest.mark.parametrize(("epsilon", "sensitivity"), [(1.0, 1.0), (0.1, 1.0), (0.5, 5.0)])
def test_the_empirical_noise_has_the_documented_laplace_scale(epsilon, sensitivity):
    b = laplace_scale(epsilon, sensitivity)
    draws = noise(epsilon, sensitivity, seed=3)
    assert draws.var() == pytest.approx(2 * b**2, rel=0.03)
    assert np.abs(draws).mean() == pytest.approx(b, rel=0.02)  # E|X| = b
    assert abs(draws.mean()) < 0.01 * b
    assert stats.kstest(draws, stats.laplace(scale=b).cdf).pvalue > 0.001


def test_halving_epsilon_doubles_the_empirical_noise():
    assert noise(0.5, seed=4).std() / noise(1.0, seed=5).std() == pytest.approx(2.0, rel=0.03)


def test_noise_is_centred_on_each_true_count():
    counts = np.array([0.0, 10.0, 1000.0])
    rng = make_rng(6)
    released = np.stack([laplace_counts(counts, 1.0, rng=rng, clamp_nonnegative=False) for _ in range(20_000)])
    assert released.mean(axis=0) == pytest.approx(counts, abs=0.05)


def test_clamping_keeps_counts_nonnegative_and_shapes_are_kept():
    counts = np.zeros((50, 4), dtype=int)
    clamped = laplace_counts(counts, 0.5, rng=make_rng(7))
    assert clamped.shape == (50, 4) and clamped.dtype == float and (clamped >= 0).all()
    assert (laplace_counts(counts, 0.5, rng=make_rng(7), clamp_nonnegative=False) < 0).any()


@pytest.mark.parametrize(
    ("epsilon", "sensitivity", "name"),
    [
        (0.0, 1.0, "epsilon"),
        (-2.0, 1.0, "epsilon"),
        (float("nan"), 1.0, "epsilon"),
        (1.0, 0.0, "sensitivity"),
        (1.0, -1.0, "sensitivity"),
    ],
)
def test_it_refuses_bad_parameters_naming_them(epsilon, sensitivity, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        laplace_scale(epsilon, sensitivity)
    with pytest.raises(ValueError, match=f"^{name} must"):
        laplace_counts(np.ones(3), epsilon, sensitivity=sensitivity, rng=make_rng(0))


def test_it_refuses_counts_that_are_not_finite():
    with pytest.raises(ValueError, match="counts must be finite"):
        laplace_counts(np.array([1.0, np.inf]), 1.0, rng=make_rng(0))
