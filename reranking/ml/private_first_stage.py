"""End-to-end DP training: a user-level private first stage, composed with DP-SGD into one run's epsilon.

Unit of privacy: the user (adding or removing one user's events). Three statistics are learnt from events,
each released once with the Gaussian mechanism (Dwork & Roth 2014, App. A; its Rényi DP α/(2σ²) from
Mironov 2017):

1. Contribution bounding: each user keeps only their last m = `dp_events_per_user` events.
2. Popularity: each user adds the indicator vector of their distinct items, scaled to L2 norm at most 1.
3. Co-occurrence: each user adds the indicator of ordered pairs (i, j), i != j, of their distinct items
   (within the item universe, below), scaled to L2 norm at most 1.
4. Transitions: each user adds weight 1/d for item j coming d <= `transition_window` events after item i
   (within the universe), the user's whole matrix scaled to L2 norm at most 1.

Sensitivity: adding or removing one user changes each released sum by a vector of L2 norm at most 1, so
Gaussian noise N(0, σ²) on EVERY entry (zeros included) makes each release a Gaussian mechanism with
sensitivity 1 and noise multiplier σ. The item universe for (3) and (4) is the `dp_items` items of highest
NOISY popularity (post-processing of release 2, free). Everything else is post-processing: neighbour
lists (co-occurrence divided by the square root of the neighbour's noisy popularity, as cosine does),
transition lists, the tie-breaking popularity and the "recent popularity" source (the noisy popularity).
ALS is not fitted (its factors are zeros, so it ranks nothing). Item text embeddings are public
(catalogue data, not user data) and stay as they are.

Budget: σ of the first stage is set so that its three releases alone spend `dp_first_stage_share` of the
target epsilon; then DP-SGD's noise multiplier is the smallest that keeps the composition of both (Rényi DP,
reranking/ml/accounting.py) at or under the target. The training lists and the negative sampler of DP-SGD
read only the released first stage and the user's own events, so the run is an adaptive composition of
the two mechanisms: the composed epsilon is the whole run's.

NOTE: the production first stage of an end-to-end run is this same private fit (on every event except each
user's last two, held out for validation and test): refitting on everything would be a second release.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from . import accounting
from .config import RerankerConfig
from .sources import FirstStage

RELEASES = 3  # popularity, co-occurrence, transitions


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


def cooccurrence_sum(seqs: list[np.ndarray], universe: np.ndarray, n_items: int) -> np.ndarray:
    """Return (U, U): sum over users of their ordered distinct-pair indicator in the universe, L2 norm 1 each."""
    position = np.full(n_items, -1)
    position[universe] = np.arange(len(universe))
    out = np.zeros((len(universe), len(universe)))
    for s in seqs:
        local = np.unique(position[s])
        local = local[local >= 0]
        n = len(local)
        if n >= 2:
            block = np.ix_(local, local)
            out[block] += 1.0 / math.sqrt(n * (n - 1))
            out[local, local] -= 1.0 / math.sqrt(n * (n - 1))  # no (i, i) pairs
    return out


def transition_sum(seqs: list[np.ndarray], universe: np.ndarray, n_items: int, window: int) -> np.ndarray:
    """Return (U, U): sum over users of their 1/d successor weights in the universe, each user's clipped to L2 norm 1."""
    position = np.full(n_items, -1)
    position[universe] = np.arange(len(universe))
    size = len(universe)
    out = np.zeros((size, size))
    for s in seqs:
        local = position[s]
        rows, cols, vals = [], [], []
        for d in range(1, min(window, len(local) - 1) + 1):
            a, b = local[:-d], local[d:]
            keep = (a >= 0) & (b >= 0) & (a != b)
            rows.append(a[keep]); cols.append(b[keep]); vals.append(np.full(int(keep.sum()), 1.0 / d))
        if not rows or not sum(len(r) for r in rows):
            continue
        user = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))
        user.sum_duplicates()  # one entry per (i, j): the fancy-indexed add below then adds each once
        norm = float(np.sqrt((user.data ** 2).sum()))
        out[user.row, user.col] += user.data / max(1.0, norm)
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


def sigma_for(epsilon: float, delta: float, releases: int) -> float:
    """Return the smallest σ whose `releases` Gaussian releases at sensitivity 1 compose to <= epsilon."""
    return smallest_sigma(lambda s: accounting.composed_epsilon([first_stage_release(s, releases)], delta), epsilon)


def sgd_sigma_for(target: float, delta: float, first: accounting.Release, sample_rate: float, steps: int) -> float:
    """Return the smallest DP-SGD noise multiplier keeping first stage + DP-SGD at or under `target`."""
    return smallest_sigma(
        lambda s: accounting.composed_epsilon([first, gaussian_release(s, sample_rate, steps)], delta), target, 0.1, 200.0)


@dataclass
class NoisyCounts:
    popularity: np.ndarray  # (n_items,) the exact sum plus N(0, σ²) per item
    universe: np.ndarray  # (U,) item indices, the U of highest noisy popularity (sorted)
    cooccurrence: np.ndarray  # (U, U)
    transitions: np.ndarray  # (U, U)


def noisy_counts(config: RerankerConfig, n_items: int, seqs: list[np.ndarray], sigma: float,
                 rng: np.random.Generator) -> NoisyCounts:
    """Release the three bounded sums with Gaussian noise σ on every entry (steps 1-4 of the module docstring)."""
    seqs = bounded(seqs, config.dp_events_per_user)
    pop = gaussian(popularity_sum(seqs, n_items), sigma, rng)
    universe = np.sort(np.argsort(-pop, kind="stable")[: min(config.dp_items, n_items)])
    co = gaussian(cooccurrence_sum(seqs, universe, n_items), sigma, rng)
    trans = gaussian(transition_sum(seqs, universe, n_items, config.dp_transition_window), sigma, rng)
    return NoisyCounts(pop, universe, co, trans)


@dataclass
class PrivateFirstStage:
    first_stage: FirstStage
    sigma: float
    popularity: np.ndarray  # noisy, 0 within the noise: the negative sampler of DP-SGD reads it
    report: dict


def _top_neighbours(matrix: np.ndarray, universe: np.ndarray, n_items: int, k: int,
                    floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (n_items, k) neighbour indices and similarities; items outside the universe get none (0, 0.0).

    Entries at or below `floor` (a few noise standard deviations) are dropped: with thousands of pure-noise
    entries per row, the largest ones would otherwise be noise, not neighbours.
    """
    k = max(1, min(k, len(universe) - 1))
    idx = np.zeros((n_items, k), dtype=np.int32)
    sim = np.zeros((n_items, k), dtype=np.float32)
    block = torch.from_numpy(matrix.astype(np.float32))
    block[block <= floor] = 0.0
    block.fill_diagonal_(-float("inf"))
    vals, top = torch.topk(block, k, dim=1)
    idx[universe] = universe[top.numpy()]
    sim[universe] = vals.clamp(min=0).numpy()
    return idx, sim


def fit_private_first_stage(config: RerankerConfig, n_items: int, seqs: list[np.ndarray], stamps: list[np.ndarray],
                            text_nn, epsilon: float, delta: float,
                            rng: np.random.Generator | None = None) -> PrivateFirstStage:
    """Fit the first stage with user-level DP at `epsilon` (this stage alone); see the module docstring."""
    rng = rng or secret_rng()
    sigma = sigma_for(epsilon, delta, RELEASES)
    counts = noisy_counts(config, n_items, seqs, sigma, rng)
    cut = config.dp_neighbour_z * sigma  # a sum must stand this far above pure noise to count
    # Items whose noisy popularity is within the noise are nobody's favourites as far as we can tell: 0.
    pop = np.where(counts.popularity > cut, counts.popularity, 0.0)
    universe, co, trans = counts.universe, counts.cooccurrence, counts.transitions
    scale = np.sqrt(np.maximum(pop[universe], max(1.0, sigma)))  # cosine-like damping of popular neighbours
    knn_idx, knn_sim = _top_neighbours(np.where(co > cut, co, 0.0) / scale[None, :], universe, n_items,
                                       config.knn_neighbours, 0.0)
    trans_idx, trans_sim = _top_neighbours(trans, universe, n_items, config.knn_neighbours, cut)
    last = max((float(t.max()) for t in stamps if len(t)), default=0.0)
    state = {
        "popularity": pop.astype(np.float32),
        "knn_idx": knn_idx, "knn_sim": knn_sim, "trans_idx": trans_idx, "trans_sim": trans_sim,
        "als_items": np.zeros((n_items, config.als_factors), np.float32),
        "als_gram": np.zeros((config.als_factors, config.als_factors), np.float32),
        "pop_times": np.array([last]), "pop_matrix": pop.astype(np.float32)[None, :],
        "text_idx": text_nn[0], "text_sim": text_nn[1],
    }
    spent = accounting.composed_epsilon([first_stage_release(sigma)], delta)
    report = {"mechanism": "Gaussian, user-level L2 sensitivity 1 per release (popularity, co-occurrence, transitions)",
              "noise_multiplier": sigma, "releases": RELEASES, "epsilon": spent, "delta": delta,
              "events_per_user": config.dp_events_per_user, "universe_items": int(len(universe))}
    return PrivateFirstStage(FirstStage(config, state), sigma, pop, report)
