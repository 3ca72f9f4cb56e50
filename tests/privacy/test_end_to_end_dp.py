"""End-to-end DP training: bounded first-stage counts with Gaussian noise of the stated scale, one composed epsilon."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from reranking.ml import accounting
from reranking.ml import private_first_stage as pfs
from reranking.ml.config import RerankerConfig

CONFIG = RerankerConfig(dp_events_per_user=6, dp_items=12, dp_transition_window=3)


def random_users(n_users: int, n_items: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_items, rng.integers(1, 15)) for _ in range(n_users)]


def all_sums(seqs: list[np.ndarray], n_items: int, universe: np.ndarray) -> list[np.ndarray]:
    bounded = pfs.bounded(seqs, CONFIG.dp_events_per_user)
    return [pfs.popularity_sum(bounded, n_items), pfs.cooccurrence_sum(bounded, universe, n_items),
            pfs.transition_sum(bounded, universe, n_items, CONFIG.dp_transition_window)]


def test_popularity_counts_each_users_distinct_items_at_norm_one():
    sums = pfs.popularity_sum([np.array([0, 1, 1, 2]), np.array([1])], 4)
    assert np.allclose(sums, [1 / np.sqrt(3), 1 / np.sqrt(3) + 1, 1 / np.sqrt(3), 0])


@pytest.mark.parametrize("seed", range(5))
def test_one_user_moves_each_released_sum_by_at_most_one_in_l2(seed):
    """The stated sensitivity: adding or removing one user changes every statistic by L2 norm <= 1."""
    n_items = 20
    seqs = random_users(40, n_items, seed)
    universe = np.arange(0, n_items, 2)
    with_all = all_sums(seqs, n_items, universe)
    for left_out in range(len(seqs)):
        without = all_sums(seqs[:left_out] + seqs[left_out + 1:], n_items, universe)
        for a, b in zip(with_all, without):
            assert np.linalg.norm((a - b).ravel()) <= 1 + 1e-9


def test_only_each_users_last_events_count():
    long_user = np.arange(10)
    assert list(pfs.bounded([long_user], 6)[0]) == [4, 5, 6, 7, 8, 9]
    sums = pfs.popularity_sum(pfs.bounded([long_user], 6), 10)
    assert np.all(sums[:4] == 0) and np.allclose(sums[4:], 1 / np.sqrt(6))


def test_the_first_stage_counts_are_noisy_with_the_stated_gaussian_scale():
    """Residuals of every released entry (zeros included), divided by sigma, are standard normal."""
    n_items = 30
    seqs = random_users(300, n_items, seed=1)
    sigma = pfs.sigma_for(2.0, 1e-5, pfs.RELEASES)
    residuals = {"popularity": [], "cooccurrence": [], "transitions": []}
    for seed in range(20):
        counts = pfs.noisy_counts(CONFIG, n_items, seqs, sigma, np.random.default_rng(seed))
        exact = all_sums(seqs, n_items, counts.universe)
        residuals["popularity"].append((counts.popularity - exact[0]) / sigma)
        residuals["cooccurrence"].append(((counts.cooccurrence - exact[1]) / sigma).ravel())
        residuals["transitions"].append(((counts.transitions - exact[2]) / sigma).ravel())
    for name, parts in residuals.items():
        z = np.concatenate(parts)
        assert stats.kstest(z, "norm").pvalue > 1e-3, name
        assert 0.9 < z.std() < 1.1, (name, z.std())
    assert len(counts.universe) == CONFIG.dp_items


def test_sigma_is_calibrated_so_the_three_releases_spend_their_epsilon():
    sigma = pfs.sigma_for(4.0, 1e-5, 3)
    spent = accounting.composed_epsilon([pfs.first_stage_release(sigma)], 1e-5)
    assert 3.9 < spent <= 4.0
    # Independently: three Gaussian releases at sensitivity 1 are one with RDP 3 alpha / (2 sigma^2).
    orders = np.array(accounting.ORDERS)
    rdp = 3 * orders / (2 * sigma**2)
    by_hand = np.min(rdp + np.log1p(-1 / orders) - (np.log(1e-5) + np.log(orders)) / (orders - 1))
    assert spent == pytest.approx(by_hand, rel=1e-9)


@pytest.mark.slow
def test_an_end_to_end_run_reports_one_composed_epsilon_within_target():
    from reranking.ml.train import train
    from tests.ml.conftest import make_walk_dataset, random_embeddings, small_config

    ds = make_walk_dataset(n_users=150, seed=4)
    config = small_config(dp_epsilon=4.0, dp_epochs=2, dp_batch_users=50, max_examples_per_user=4, train_list_size=16,
                          max_history=12, d_model=16, n_negatives=32, max_epochs=1, dp_accountant="rdp",
                          dp_mode="end_to_end", dp_items=100)
    result = train(ds, config, item_embeddings=random_embeddings(ds.n_items))
    p = result.metrics["privacy"]
    assert p["mode"] == "end_to_end" and 3.8 < p["epsilon"] <= 4.0
    assert p["first_stage"]["epsilon"] == pytest.approx(2.0, abs=0.05)  # dp_first_stage_share 0.5
    assert p["network_epsilon"] < p["epsilon"]
    assert [c["sample_rate"] for c in p["components"]][0] == 1.0 and len(p["components"]) == 2
    composed = accounting.composed_epsilon([accounting.Release(float("inf"), 1.0, tuple(p["components"]))], p["delta"])
    assert composed == pytest.approx(p["epsilon"])  # the ledger composes the run to the same epsilon
    state = result.model.first_stage.state
    assert not state["als_items"].any(), "ALS is not fitted end to end"
    exact = np.bincount(ds.event_items, minlength=ds.n_items)
    assert not np.allclose(state["popularity"], exact), "the shipped popularity is the noisy one"
    assert dataclasses.asdict(result.model.config)["dp_mode"] == "end_to_end"


@pytest.mark.django_db
def test_the_tenant_option_trains_end_to_end_and_the_ledger_composes_both_parts(alice):
    from reranking.models import ModelVersion, PrivacyRelease, PrivacySettings
    from reranking.services import privacy_budget, training

    response = alice.client.patch("/api/v1/privacy", {"dp_training": True, "dp_training_end_to_end": True,
                                                      "dp_training_epsilon": 4}, format="json")
    assert response.status_code == 200 and "end to end at epsilon = 4" in response.json()["training_statement"]
    assert training.dp_options(PrivacySettings.for_tenant(alice.tenant))["dp_mode"] == "end_to_end"
    first = pfs.first_stage_release(2.0).components[0]
    sgd = {"kind": "subsampled_gaussian", "noise_multiplier": 1.5, "sample_rate": 0.2, "steps": 30}
    version = ModelVersion.objects.create(tenant=alice.tenant, number=1)
    release = privacy_budget.spend_training(version, {"epsilon": 3.9, "delta": 1e-5, "mode": "end_to_end",
                                                      "components": [first, sgd]})
    assert release.components == [first, sgd] and "end_to_end" in release.description
    expected = accounting.composed_epsilon([accounting.Release(float("inf"), 1.0, (first, sgd))], 1e-6)
    assert privacy_budget.summary(alice.tenant).spent_epsilon == pytest.approx(expected)
    assert PrivacyRelease.objects.count() == 1
