"""One training run's epsilon: exact Gaussian accounting and PRV composition of the first stage with DP-SGD."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reranking.ml import accounting
from reranking.ml import private_first_stage as pfs


def gaussian(sigma: float, rate: float, steps: int) -> dict:
    return {"kind": "subsampled_gaussian", "noise_multiplier": sigma, "sample_rate": rate, "steps": steps}


def exact_delta(epsilon: float, mu: float) -> float:
    """delta(epsilon) of mu-GDP, written out independently of reranking.ml.accounting."""
    return stats.norm.cdf(-epsilon / mu + mu / 2) - np.exp(epsilon) * stats.norm.cdf(-epsilon / mu - mu / 2)


@pytest.mark.parametrize("sigma,count,delta", [(1.0, 1, 1e-5), (1.33, 2, 1.6e-4), (4.8, 2, 1e-6), (0.5, 7, 1e-3)])
def test_gaussian_epsilon_is_exact(sigma, count, delta):
    eps = accounting.gaussian_epsilon(sigma, count, delta)
    assert exact_delta(eps, np.sqrt(count) / sigma) == pytest.approx(delta, rel=1e-6)


def test_prv_composes_plain_gaussians_of_different_noise_like_one_gaussian_mechanism():
    """Gaussians at sigma_1 (twice) and sigma_2 (five times) are mu-GDP with mu^2 = 2/sigma_1^2 + 5/sigma_2^2."""
    eps = accounting.prv_epsilon([gaussian(2.0, 1.0, 2), gaussian(5.0, 1.0, 5)], 1e-5)
    mu = np.sqrt(2 / 2.0**2 + 5 / 5.0**2)
    assert exact_delta(eps, mu) <= 1e-5 and exact_delta(eps - 0.02, mu) > 1e-5  # an upper bound, within eps_error
    assert pfs.run_epsilon([gaussian(2.0, 1.0, 2), gaussian(5.0, 1.0, 5)], 1e-5) == pytest.approx(eps, abs=0.02)


def test_a_whole_run_is_tighter_under_prv_than_under_rdp_and_the_sgd_noise_meets_the_target():
    first = pfs.first_stage_release(pfs.sigma_for(7.2, 1.6e-4, pfs.RELEASES))
    sigma = pfs.sgd_sigma_for(8.0, 1.6e-4, first, 0.21, 29)
    run = [*first.components, gaussian(sigma, 0.21, 29)]
    prv = pfs.run_epsilon(run, 1.6e-4)
    assert 7.8 < prv <= 8.0
    assert pfs.run_epsilon(run, 1.6e-4, "rdp") > prv
    # The first stage alone spends less than the whole run, and more DP-SGD noise would spend less still.
    assert 7.1 < pfs.run_epsilon(list(first.components), 1.6e-4) <= 7.2
    assert pfs.run_epsilon([*first.components, gaussian(2 * sigma, 0.21, 29)], 1.6e-4) < prv
