"""Differential-privacy mechanisms for served rankings and released counts (pure numpy, no Django).

Top-k selection follows Durfee & Rogers, "Practical Differentially Private Top-k Selection with
Pay-what-you-get Composition" (NeurIPS 2019): adding independent Gumbel noise of scale b to every
score and keeping the k largest noisy scores has exactly the output distribution of k rounds of
"peeling" with the exponential mechanism (McSherry & Talwar, 2007), each round picking one of the
remaining items with probability proportional to exp(u / b). That is the Gumbel-max trick, extended
to an ordered top-k.

Scale. The exponential mechanism with privacy parameter eps' and a utility of sensitivity Δ (changing
one person's data moves any score by at most Δ) picks item i with probability ∝ exp(eps' u_i / (2Δ)),
i.e. Gumbel noise of scale 2Δ/eps'. A request spends a total `epsilon` over k selections, so each
selection gets eps' = epsilon / k (basic sequential composition) and

    gumbel_scale(epsilon, k, Δ) = 2 Δ k / epsilon.

We keep the factor 2 because model scores are not monotone: one person's data can raise some scores
and lower others, and the halved Δk/epsilon scale is only private for utilities that all move the same
way (e.g. counts). NOTE: Durfee & Rogers also give tighter (bounded-range and advanced) composition
bounds for the peeling mechanism; we use basic composition, which is looser but simple to audit.
NOTE: scores must already be bounded for Δ to mean anything; the caller clips or normalises them
(e.g. to [0, 1] with Δ = 1) before calling `private_top_k`. The noise grows linearly in k, which is why
the serving layer caps how many results one DP request may return.

Counts use the Laplace mechanism (Dwork, McSherry, Nissim & Smith, 2006): noise of scale Δ/epsilon,
where Δ is the L1 sensitivity. With `bound_contributions(user_ids, m)` applied first, one user adds at
most m to the total of a histogram, so Δ = m. NOTE: this is the textbook floating-point Laplace; it does
not defend against the least-significant-bit attack of Mironov (2012). Clamping to zero and rounding
are post-processing and cost no privacy.

Randomness comes from numpy's PCG64 `Generator`; `make_rng()` seeds it from `secrets` (the OS CSPRNG).
Pass a seeded generator only in tests: a fixed seed makes the noise predictable.

Sticky noise (`keyed_top_k`): the Gumbel draw of each item is a fixed function of a secret key and the
item's id (BLAKE2b keyed hash as a pseudo-random function, turned into a uniform, then -log(-log u)).
For one key the draws are as good as independent Gumbel noise, so one selection is exactly the
mechanism above; asking again with the same key and scores returns the same list, so repetition
releases nothing new. The caller derives the key from everything the scores depend on.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from typing import Sequence

import numpy as np


def make_rng(seed: int | None = None) -> np.random.Generator:
    """Return a numpy Generator, seeded from the OS CSPRNG (`secrets`) unless a seed is given."""
    return np.random.default_rng(secrets.randbits(128) if seed is None else seed)


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a finite number greater than 0, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number greater than 0, got {value!r}")


def _whole(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")


def _check(epsilon: float, sensitivity: float, k: int | None = None) -> None:
    _positive("epsilon", epsilon)
    _positive("sensitivity", sensitivity)
    if k is not None:
        _whole("k", k)


def gumbel_scale(epsilon: float, k: int, sensitivity: float = 1.0) -> float:
    """Return the Gumbel scale 2·Δ·k/ε that makes a one-shot top-k selection ε-DP in total."""
    _check(epsilon, sensitivity, k)
    return 2.0 * sensitivity * k / epsilon


def noisy_scores(
    scores: np.ndarray, k: int, epsilon: float, *, sensitivity: float = 1.0, rng: np.random.Generator
) -> np.ndarray:
    """Return scores plus independent Gumbel noise at the scale for k selections under total ε.

    k is clamped to the number of scores: selecting all n items in noisy order is n peeling rounds.
    """
    scores = np.asarray(scores, dtype=float)
    _check(epsilon, sensitivity, k)
    if scores.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    if len(scores) == 0:
        return scores.copy()
    scale = gumbel_scale(epsilon, min(k, len(scores)), sensitivity)
    return scores + rng.gumbel(loc=0.0, scale=scale, size=len(scores))


def private_top_k(
    scores: np.ndarray, k: int, epsilon: float, *, sensitivity: float = 1.0, rng: np.random.Generator
) -> np.ndarray:
    """Return the indices of k items picked under ε-DP, in noisy order (best first).

    Equivalent to k rounds of the exponential mechanism with ε/k each (Durfee & Rogers, 2019). Returns
    min(k, len(scores)) distinct indices.
    """
    noisy = noisy_scores(scores, k, epsilon, sensitivity=sensitivity, rng=rng)
    return np.argsort(-noisy, kind="stable")[: min(k, len(noisy))]


def keyed_uniforms(key: bytes, labels: Sequence[str]) -> np.ndarray:
    """Return one uniform draw in (0, 1) per label, a fixed function of (key, label).

    BLAKE2b keyed with `key` (at most 64 bytes) is the pseudo-random function; 53 bits of its output
    make the float. One hash per label, about a microsecond each.
    """
    assert 0 < len(key) <= 64, "keyed_uniforms needs a key of 1 to 64 bytes"
    words = [int.from_bytes(hashlib.blake2b(str(label).encode(), key=key, digest_size=8).digest(), "big") >> 11
             for label in labels]
    return (np.array(words, dtype=float) + 0.5) / float(2**53)


def keyed_top_k(
    scores: np.ndarray, labels: Sequence[str], k: int, epsilon: float, *, key: bytes, release_size: int,
    sensitivity: float = 1.0,
) -> np.ndarray:
    """Return the indices of the k best of `scores` plus keyed Gumbel noise (sticky `private_top_k`).

    The noise scale is that of a top-`release_size` selection, so every k up to release_size reads a
    prefix of one ε-DP release: asking for fewer results spends nothing more. Same key, labels and
    scores: same answer.
    """
    scores = np.asarray(scores, dtype=float)
    _whole("release_size", release_size)
    _check(epsilon, sensitivity, k)
    if scores.ndim != 1 or len(scores) != len(labels):
        raise ValueError(f"scores must be one-dimensional with one label each, got {scores.shape} and {len(labels)}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    if len(scores) == 0:
        return np.zeros(0, dtype=int)
    # Not clamped to len(scores): the scale must not depend on which items a filter left.
    scale = gumbel_scale(epsilon, release_size, sensitivity)
    noisy = scores - scale * np.log(-np.log(keyed_uniforms(key, labels)))
    return np.argsort(-noisy, kind="stable")[: min(k, len(noisy))]


def laplace_scale(epsilon: float, sensitivity: float = 1.0) -> float:
    """Return the Laplace scale Δ/ε of an ε-DP release with L1 sensitivity Δ."""
    _check(epsilon, sensitivity)
    return sensitivity / epsilon


def laplace_counts(
    counts: np.ndarray,
    epsilon: float,
    *,
    sensitivity: float = 1.0,
    rng: np.random.Generator,
    clamp_nonnegative: bool = True,
) -> np.ndarray:
    """Return counts plus Laplace noise of scale Δ/ε, as floats; ε-DP for the whole array at once.

    Δ is the L1 sensitivity of the whole array: how much one user can change all counts together
    (max_per_user after `bound_contributions`).
    """
    counts = np.asarray(counts, dtype=float)
    scale = laplace_scale(epsilon, sensitivity)
    if not np.isfinite(counts).all():
        raise ValueError("counts must be finite")
    noisy = counts + rng.laplace(loc=0.0, scale=scale, size=counts.shape)
    return np.maximum(noisy, 0.0) if clamp_nonnegative else noisy


def bound_contributions(user_ids: np.ndarray, max_per_user: int, rng: np.random.Generator) -> np.ndarray:
    """Return a boolean mask keeping at most max_per_user rows per user, chosen uniformly at random.

    Users with max_per_user rows or fewer keep them all. Costs one sort of the rows.
    """
    _whole("max_per_user", max_per_user)
    user_ids = np.asarray(user_ids)
    n = len(user_ids)
    if n == 0:
        return np.zeros(0, dtype=bool)
    _, user = np.unique(user_ids, return_inverse=True)
    user = user.ravel()
    # sort by user, then by a random key: each user's rows come out in a uniformly random order
    order = np.lexsort((rng.random(n), user))
    grouped = user[order]
    starts = np.r_[0, np.flatnonzero(grouped[1:] != grouped[:-1]) + 1]  # first row of each user
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))  # rank within the user's rows
    keep = np.zeros(n, dtype=bool)
    keep[order] = rank < max_per_user
    return keep
