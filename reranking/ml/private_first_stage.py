"""End-to-end DP training: a user-level private first stage, composed with DP-SGD into one run's epsilon.

Unit of privacy: the user (adding or removing one user's events). Two statistics are learnt from events,
each released once with the Gaussian mechanism (Dwork & Roth 2014, App. A):

1. Popularity: each user adds the indicator vector of the distinct items among their last
   `dp_popularity_events` events, scaled to L2 norm at most 1.
2. Cluster transitions: items are grouped into `dp_clusters` clusters by k-means on their public text
   embeddings (catalogue data, no user data; seeded by config.seed). Each user adds the (K, K) counts of
   "an event in cluster a followed, d <= `dp_transition_window` events later, by one in cluster b" (weight 1/d)
   over their last `dp_events_per_user` events, the user's whole matrix scaled to L2 norm at most 1.

Sensitivity: adding or removing one user changes each released sum by a vector of L2 norm at most 1, so
Gaussian noise N(0, σ²) on EVERY entry (zeros included) makes each release a Gaussian mechanism with
sensitivity 1 and noise multiplier σ. Everything else is post-processing (free): the transition source's
neighbour lists (for an item in cluster a, the items j ranked by P(cluster of j | a) times j's share of its
cluster's noisy popularity: a class-based Markov chain, Brown et al. 1992), the tie-breaking popularity and
the "recent popularity" source (the noisy popularity). ALS and item-kNN are not fitted (their tables are
empty, so they rank nothing). Item text embeddings are public and stay as they are.

Why clusters and not item pairs: one user's unit of L2 norm spread over item pairs leaves each pair far
below the noise unless dozens of users share it; with 610 users (ml-latest-small) item-level co-occurrence
and transitions fell to 0.003-0.005 validation NDCG@10 at σ >= 1.5 (and only reached 0.022-0.029 without any
noise, after bounding), while 64 text clusters keep 0.026 at σ 1.5 (reranking/ml/EXPERIMENTS.md).

Budget: σ of the first stage is set so that its two releases alone spend `dp_first_stage_share` of the target
epsilon; then DP-SGD's noise multiplier is the smallest that keeps the composition of both at or under the
target. With the default PRV accountant the Gaussian releases are accounted exactly (μ-GDP, Balle & Wang 2018)
and composed with DP-SGD by Opacus' PRV accountant; "rdp" uses Rényi DP (reranking/ml/accounting.py). The
training lists and the negative sampler of DP-SGD read only the released first stage and the user's own
events, so the run is an adaptive composition of the two mechanisms: the composed epsilon is the whole run's.

NOTE: the production first stage of an end-to-end run is this same private fit (on every event except each
user's last two, held out for validation and test): refitting on everything would be a second release.
"""
from __future__ import annotations

import math
import secrets
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from . import accounting
from .config import RerankerConfig
from .sources import FirstStage

RELEASES = 2  # popularity, cluster transitions


def secret_rng() -> np.random.Generator:
    """The noise must be unpredictable: seeded from the OS's entropy, never from config.seed."""
    return np.random.default_rng(secrets.randbits(128))


def bounded(seqs: list[np.ndarray], m: int) -> list[np.ndarray]:
    """Return each user's last m events (contribution bounding)."""
    return [s[-m:] if m > 0 else s for s in seqs]


def popularity_sum(seqs: list[np.ndarray], n_items: int) -> np.ndarray:
    """Return sum over users of their distinct-item indicator scaled to L2 norm 1 (the exact, private-to-be sum)."""
    out = np.zeros(n_items)
    for s in seqs:
        items = np.unique(s)
        if len(items):
            out[items] += 1.0 / math.sqrt(len(items))
    return out


def text_clusters(item_embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Return (n_items,) cluster labels: k-means (k-means++ start) on the L2-normalised public text embeddings."""
    from scipy.cluster.vq import kmeans2

    x = np.asarray(item_embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = max(1, min(k, len(x)))
    with warnings.catch_warnings():  # "one of the clusters is empty": harmless, it stays empty
        warnings.simplefilter("ignore")
        _, labels = kmeans2(x, k, seed=seed, minit="++")
    return labels.astype(np.int64)


def cluster_transition_sum(seqs: list[np.ndarray], labels: np.ndarray, n_clusters: int, window: int) -> np.ndarray:
    """Return (K, K): sum over users of their 1/d cluster-successor weights, each user's matrix clipped to L2 norm 1."""
    out = np.zeros((n_clusters, n_clusters))
    for s in seqs:
        c = labels[s]
        user = np.zeros((n_clusters, n_clusters))
        for d in range(1, min(window, len(c) - 1) + 1):
            np.add.at(user, (c[:-d], c[d:]), 1.0 / d)
        norm = float(np.sqrt((user ** 2).sum()))
        if norm > 0:
            out += user / max(1.0, norm)
    return out


def gaussian(values: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Return values + N(0, sigma^2) on every entry: the Gaussian mechanism at L2 sensitivity 1."""
    return values + rng.normal(0.0, sigma, size=values.shape)


def smallest_sigma(spent, target: float, lo: float = 0.05, hi: float = 1000.0) -> float:
    """Return the smallest σ (to 1%) with spent(σ) <= target; spent falls as σ grows."""
    assert spent(hi) <= target, f"epsilon {target:g} is too small even at noise multiplier {hi:g}"
    while hi / lo > 1.01:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if spent(mid) <= target else (mid, hi)
    return hi


def gaussian_release(sigma: float, sample_rate: float, steps: int) -> accounting.Release:
    """A Gaussian-mechanism release for the accountant (its own ε, δ unknown: only its RDP counts)."""
    return accounting.Release(epsilon=float("inf"), delta=1.0, components=(
        {"kind": "subsampled_gaussian", "noise_multiplier": sigma, "sample_rate": sample_rate, "steps": steps},))


def first_stage_release(sigma: float, releases: int = RELEASES) -> accounting.Release:
    """The first stage as a ledger release: `releases` Gaussian mechanisms (sample rate 1) at noise σ."""
    return gaussian_release(sigma, 1.0, releases)


def run_epsilon(components: list[dict], delta: float, accountant: str = "prv") -> float:
    """Return the ε of one run's Gaussian components: exact / PRV with "prv", Rényi DP with "rdp" (faster, looser).

    With "prv", plain Gaussian releases alone (sample rate 1) get the exact Gaussian-mechanism ε
    (accounting.gaussian_epsilon); anything with DP-SGD in it is composed by Opacus' PRV accountant.
    """
    if accountant == "rdp":
        return accounting.composed_epsilon([accounting.Release(float("inf"), 1.0, tuple(components))], delta)
    if all(c["sample_rate"] == 1.0 for c in components):
        steps = sum(int(c["steps"]) for c in components)
        # k Gaussians at σ_i compose to one with μ² = Σ k_i / σ_i²: express it as `steps` releases at one σ.
        mu2 = sum(int(c["steps"]) / float(c["noise_multiplier"]) ** 2 for c in components)
        return accounting.gaussian_epsilon(math.sqrt(steps / mu2), steps, delta)
    return accounting.prv_epsilon(components, delta)


def sigma_for(epsilon: float, delta: float, releases: int, accountant: str = "prv") -> float:
    """Return the smallest σ whose `releases` Gaussian releases at sensitivity 1 compose to <= epsilon."""
    return smallest_sigma(
        lambda s: run_epsilon(list(first_stage_release(s, releases).components), delta, accountant), epsilon)


def sgd_sigma_for(target: float, delta: float, first: accounting.Release, sample_rate: float, steps: int,
                  accountant: str = "prv") -> float:
    """Return the smallest DP-SGD noise multiplier keeping first stage + DP-SGD at or under `target`."""
    return smallest_sigma(
        lambda s: run_epsilon([*first.components, *gaussian_release(s, sample_rate, steps).components], delta,
                              accountant), target, 0.1, 200.0)


@dataclass
class NoisyCounts:
    popularity: np.ndarray  # (n_items,) the exact sum plus N(0, σ²) per item
    labels: np.ndarray  # (n_items,) public text cluster of each item
    transitions: np.ndarray  # (K, K) cluster transitions plus N(0, σ²) per entry


def noisy_counts(config: RerankerConfig, n_items: int, seqs: list[np.ndarray], sigma: float,
                 rng: np.random.Generator, labels: np.ndarray) -> NoisyCounts:
    """Release the two bounded sums with Gaussian noise σ on every entry (see the module docstring)."""
    pop = gaussian(popularity_sum(bounded(seqs, config.dp_popularity_events), n_items), sigma, rng)
    k = int(labels.max()) + 1 if len(labels) else 1
    trans = cluster_transition_sum(bounded(seqs, config.dp_events_per_user), labels, k, config.dp_transition_window)
    return NoisyCounts(pop, labels, gaussian(trans, sigma, rng))


@dataclass
class PrivateFirstStage:
    first_stage: FirstStage
    sigma: float
    popularity: np.ndarray  # noisy, 0 within the noise: the negative sampler of DP-SGD reads it
    report: dict


def cluster_neighbours(counts: NoisyCounts, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (n_items, k) successor lists: for an item in cluster a, items j by P(cluster(j) | a) * share(j).

    P(b | a) is row a of the noisy transition matrix clipped at 0 and normalised; share(j) is j's part of its
    cluster's noisy popularity (clipped at 0). Post-processing of the two releases.
    """
    labels = counts.labels
    n_items = len(labels)
    n_clusters = counts.transitions.shape[0]
    t = np.maximum(counts.transitions, 0.0)
    p = t / np.maximum(t.sum(1, keepdims=True), 1e-12)  # (K, K)
    pop = np.maximum(counts.popularity, 0.0)
    total = np.bincount(labels, weights=pop, minlength=n_clusters)
    share = pop / np.maximum(total[labels], 1e-12)  # (I,)
    k = max(1, min(k, n_items - 1))
    vals, top = torch.topk(torch.from_numpy((p[:, labels] * share[None, :]).astype(np.float32)), k, dim=1)  # (K, k)
    return top.numpy().astype(np.int32)[labels], vals.clamp(min=0).numpy()[labels]


def cluster_count(config: RerankerConfig, sigma: float) -> int:
    """Return K: `dp_clusters`, shrunk as 1/σ above `dp_cluster_sigma` (depends on ε and δ only, not on data)."""
    return max(2, min(config.dp_clusters, round(config.dp_clusters * config.dp_cluster_sigma / sigma)))


def fit_private_first_stage(config: RerankerConfig, n_items: int, seqs: list[np.ndarray], stamps: list[np.ndarray],
                            text_nn, item_embeddings: np.ndarray, epsilon: float, delta: float,
                            rng: np.random.Generator | None = None) -> PrivateFirstStage:
    """Fit the first stage with user-level DP at `epsilon` (this stage alone); see the module docstring."""
    rng = rng or secret_rng()
    sigma = sigma_for(epsilon, delta, RELEASES, config.dp_accountant)
    labels = text_clusters(item_embeddings, cluster_count(config, sigma), config.seed)
    counts = noisy_counts(config, n_items, seqs, sigma, rng, labels)
    cut = config.dp_neighbour_z * sigma  # a popularity must stand this far above pure noise to rank
    # Items whose noisy popularity is within the noise are nobody's favourites as far as we can tell: 0.
    pop = np.where(counts.popularity > cut, counts.popularity, 0.0)
    trans_idx, trans_sim = cluster_neighbours(counts, config.knn_neighbours)
    first = min((float(t.min()) for t in stamps if len(t)), default=0.0)
    state = {
        "popularity": pop.astype(np.float32),
        "knn_idx": np.zeros((n_items, 1), np.int32), "knn_sim": np.zeros((n_items, 1), np.float32),
        "trans_idx": trans_idx, "trans_sim": trans_sim,
        "als_items": np.zeros((n_items, config.als_factors), np.float32),
        "als_gram": np.zeros((config.als_factors, config.als_factors), np.float32),
        # One popularity snapshot, dated at the FIRST event so that every query sees it (dated at the last
        # event, it ranked nothing for any earlier query: every evaluation and training query).
        "pop_times": np.array([first]), "pop_matrix": pop.astype(np.float32)[None, :],
        "text_idx": text_nn[0], "text_sim": text_nn[1],
    }
    spent = run_epsilon(list(first_stage_release(sigma).components), delta, config.dp_accountant)
    report = {"mechanism": "Gaussian, user-level L2 sensitivity 1 per release (popularity, text-cluster transitions)",
              "noise_multiplier": sigma, "releases": RELEASES, "epsilon": spent, "delta": delta,
              "events_per_user": config.dp_events_per_user, "popularity_events_per_user": config.dp_popularity_events,
              "clusters": int(counts.transitions.shape[0])}
    return PrivateFirstStage(FirstStage(config, state), sigma, pop, report)
