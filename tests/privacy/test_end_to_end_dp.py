"""End-to-end DP training: bounded first-stage counts with Gaussian noise of the stated scale, one composed epsilon."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from reranking.ml import accounting
from reranking.ml import private_first_stage as pfs
from reranking.ml.config import RerankerConfig
from reranking.ml.sources import N_FEATURES

CONFIG = RerankerConfig(dp_events_per_user=6, dp_popularity_events=9, dp_transition_window=3)
N_CLUSTERS = 4


def random_users(n_users: int, n_items: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_items, rng.integers(1, 15)) for _ in range(n_users)]


def all_sums(seqs: list[np.ndarray], n_items: int, labels: np.ndarray) -> list[np.ndarray]:
    return [pfs.popularity_sum(pfs.bounded(seqs, CONFIG.dp_popularity_events), n_items),
            pfs.cluster_transition_sum(pfs.bounded(seqs, CONFIG.dp_events_per_user), labels, N_CLUSTERS,
                                       CONFIG.dp_transition_window)]


def test_popularity_counts_each_users_distinct_items_at_norm_one():
    sums = pfs.popularity_sum([np.array([0, 1, 1, 2]), np.array([1])], 4)
    assert np.allclose(sums, [1 / np.sqrt(3), 1 / np.sqrt(3) + 1, 1 / np.sqrt(3), 0])


def test_cluster_transitions_count_the_next_events_cluster_with_weight_one_over_distance():
    labels = np.array([0, 0, 1, 2])  # items 0 and 1 share cluster 0
    user = pfs.cluster_transition_sum([np.array([0, 2, 1])], labels, 3, window=2)
    expected = np.zeros((3, 3))
    expected[0, 1] += 1.0  # 0 -> 2
    expected[1, 0] += 1.0  # 2 -> 1
    expected[0, 0] += 0.5  # 0 -> 1, two events later
    assert np.allclose(user, expected / np.linalg.norm(expected))


@pytest.mark.parametrize("seed", range(5))
def test_one_user_moves_each_released_sum_by_at_most_one_in_l2(seed):
    """The stated sensitivity: adding or removing one user changes every statistic by L2 norm <= 1."""
    n_items = 20
    seqs = random_users(40, n_items, seed)
    labels = np.arange(n_items) % N_CLUSTERS
    with_all = all_sums(seqs, n_items, labels)
    for left_out in range(len(seqs)):
        without = all_sums(seqs[:left_out] + seqs[left_out + 1:], n_items, labels)
        for a, b in zip(with_all, without):
            assert np.linalg.norm((a - b).ravel()) <= 1 + 1e-9


def test_only_each_users_last_events_count():
    long_user = np.arange(10)
    assert list(pfs.bounded([long_user], 6)[0]) == [4, 5, 6, 7, 8, 9]
    sums = pfs.popularity_sum(pfs.bounded([long_user], 6), 10)
    assert np.all(sums[:4] == 0) and np.allclose(sums[4:], 1 / np.sqrt(6))


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_the_first_stage_counts_are_noisy_with_the_stated_gaussian_scale(accountant):
    """Residuals of every released entry (zeros included), divided by sigma, are standard normal."""
    n_items = 30
    seqs = random_users(300, n_items, seed=1)
    labels = np.arange(n_items) % N_CLUSTERS
    sigma = pfs.sigma_for(2.0, 1e-5, pfs.RELEASES, accountant)
    residuals = {"popularity": [], "transitions": []}
    exact = all_sums(seqs, n_items, labels)
    for seed in range(40):
        counts = pfs.noisy_counts(CONFIG, n_items, seqs, sigma, np.random.default_rng(seed), labels)
        residuals["popularity"].append((counts.popularity - exact[0]) / sigma)
        residuals["transitions"].append(((counts.transitions - exact[1]) / sigma).ravel())
    for name, parts in residuals.items():
        z = np.concatenate(parts)
        assert stats.kstest(z, "norm").pvalue > 1e-3, name
        assert 0.9 < z.std() < 1.1, (name, z.std())


def test_sigma_is_calibrated_so_the_releases_spend_their_epsilon_exactly():
    """PRV mode: two Gaussian releases at sigma are one Gaussian mechanism with mu = sqrt(2) / sigma; its exact
    delta(epsilon) (Balle & Wang 2018, Thm. 8), computed here by hand, is the target delta at the target epsilon."""
    sigma = pfs.sigma_for(4.0, 1e-5, 2)
    spent = pfs.run_epsilon(list(pfs.first_stage_release(sigma, 2).components), 1e-5)
    assert 3.95 < spent <= 4.0
    mu = np.sqrt(2) / sigma
    by_hand = stats.norm.cdf(-spent / mu + mu / 2) - np.exp(spent) * stats.norm.cdf(-spent / mu - mu / 2)
    assert by_hand == pytest.approx(1e-5, rel=1e-6)


def test_rdp_calibration_matches_the_gaussian_rdp_curve_by_hand():
    sigma = pfs.sigma_for(4.0, 1e-5, 2, "rdp")
    spent = pfs.run_epsilon(list(pfs.first_stage_release(sigma, 2).components), 1e-5, "rdp")
    assert 3.9 < spent <= 4.0
    # Independently: two Gaussian releases at sensitivity 1 are one with RDP 2 alpha / (2 sigma^2).
    orders = np.array(accounting.ORDERS)
    rdp = 2 * orders / (2 * sigma**2)
    by_hand = np.min(rdp + np.log1p(-1 / orders) - (np.log(1e-5) + np.log(orders)) / (orders - 1))
    assert spent == pytest.approx(by_hand, rel=1e-9)
    assert pfs.sigma_for(4.0, 1e-5, 2) < sigma, "the exact accounting needs less noise than RDP for the same epsilon"


def test_cluster_neighbours_follow_the_released_transitions_and_popularity_shares():
    labels = np.array([0, 0, 1, 1, 2])
    transitions = np.array([[0.0, 5.0, 1.0], [0.0, 0.0, 4.0], [3.0, 0.0, 0.0]])
    popularity = np.array([1.0, 3.0, 2.0, 6.0, -1.0])  # noisy: the negative one counts as 0
    counts = pfs.NoisyCounts(popularity, labels, transitions)
    idx, sim = pfs.cluster_neighbours(counts, k=2)
    # Item 0 (cluster 0): P(1 | 0) = 5/6 split 2:6 between items 2 and 3; P(2 | 0) = 1/6 on item 4, whose share is 0.
    assert list(idx[0]) == [3, 2] and np.allclose(sim[0], [5 / 6 * 6 / 8, 5 / 6 * 2 / 8])
    assert list(idx[1]) == list(idx[0]), "items of one cluster share their successor list"
    assert list(idx[4]) == [1, 0] and np.allclose(sim[4], [0.75, 0.25])


def test_fewer_clusters_at_higher_noise_and_never_more_than_configured():
    config = RerankerConfig(dp_clusters=64, dp_cluster_sigma=1.5)
    assert pfs.cluster_count(config, 0.8) == 64 and pfs.cluster_count(config, 1.5) == 64
    assert pfs.cluster_count(config, 4.8) == 20 and pfs.cluster_count(config, 1e6) == 2


def test_text_clusters_are_a_function_of_the_public_embeddings_and_the_seed_only():
    emb = np.random.default_rng(0).normal(size=(200, 8))
    a, b = pfs.text_clusters(emb, 5, seed=3), pfs.text_clusters(emb, 5, seed=3)
    assert (a == b).all() and set(a) <= set(range(5)) and len(a) == 200


@pytest.mark.slow
def test_an_end_to_end_run_reports_one_composed_epsilon_within_target():
    from reranking.ml.train import train
    from tests.ml.conftest import make_walk_dataset, random_embeddings, small_config

    ds = make_walk_dataset(n_users=150, seed=4)
    config = small_config(dp_epsilon=4.0, dp_epochs=2, dp_batch_users=50, max_examples_per_user=4, train_list_size=16,
                          max_history=12, d_model=16, n_negatives=32, max_epochs=1, dp_accountant="rdp",
                          dp_mode="end_to_end", dp_clusters=8)
    result = train(ds, config, item_embeddings=random_embeddings(ds.n_items))
    p = result.metrics["privacy"]
    assert p["mode"] == "end_to_end" and 3.8 < p["epsilon"] <= 4.0
    assert p["first_stage"]["epsilon"] == pytest.approx(3.6, abs=0.05)  # dp_first_stage_share 0.9
    assert p["network_epsilon"] < p["epsilon"]
    assert p["first_stage"]["clusters"] <= 8 and p["first_stage"]["releases"] == 2
    assert p["trainable_parameters"] == N_FEATURES + 2, "end to end, DP-SGD trains the wide path only"
    assert [c["sample_rate"] for c in p["components"]][0] == 1.0 and len(p["components"]) == 2
    composed = accounting.composed_epsilon([accounting.Release(float("inf"), 1.0, tuple(p["components"]))], p["delta"])
    assert composed == pytest.approx(p["epsilon"])  # the ledger (RDP, as this run) composes it to the same epsilon
    state = result.model.first_stage.state
    assert not state["als_items"].any() and not state["knn_sim"].any(), "ALS and item-kNN are not fitted end to end"
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


def test_the_private_first_stage_ranks_by_noisy_popularity_at_any_query_time():
    """The "recent popularity" source of an end-to-end fit is the noisy popularity for every query, early ones too."""
    from reranking.ml.sources import Queries

    n_items = 30
    seqs = random_users(200, n_items, seed=2)
    stamps = [np.arange(len(s), dtype=float) + 1000.0 * u for u, s in enumerate(seqs)]
    emb = np.random.default_rng(0).normal(size=(n_items, 8))
    text_nn = (np.zeros((n_items, 1), np.int32), np.zeros((n_items, 1), np.float32))
    fit = pfs.fit_private_first_stage(dataclasses.replace(CONFIG, dp_clusters=4), n_items, seqs, stamps, text_nn, emb,
                                      epsilon=8.0, delta=1e-5, rng=np.random.default_rng(0))
    assert fit.report["releases"] == 2 and fit.report["epsilon"] <= 8.0
    scores = fit.first_stage.source_scores(Queries([seqs[0][:1]], [stamps[0][:1]], np.array([stamps[0][0]])))
    assert np.allclose(scores["recent_popularity"][0].numpy(), fit.popularity) and fit.popularity.any()
    assert not fit.first_stage.state["knn_sim"].any() and fit.first_stage.state["trans_sim"].any()
