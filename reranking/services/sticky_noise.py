"""Sticky noise for served lists: the same request gets the same noised list until its inputs change.

A served list under DP is `dp.keyed_top_k` of the candidates' scores, with each item's Gumbel draw a
fixed function of a key. The key is an HMAC (Django's `salted_hmac`, under SECRET_KEY) of:

- the tenant and the subject (the end user's stored id; "" for anonymous traffic),
- epsilon and the release size (the tenant's `max_results`),
- a digest of the whole scored list the list is chosen from (item ids and scores, rounded to 4
  decimals) before any filter: it changes when the model changes (a new version scores differently)
  or the user's data changes (their precomputed ranking is re-scored after they act, or erased).

Nothing is stored, so every web process (and a restart, or a cache flush) computes the same list:
stickiness cannot be lost to an eviction. Consequences, stated in docs/privacy-budget.md and tested in
tests/privacy/test_sticky_noise.py:

- a repeated request returns the same list and releases nothing new;
- k (up to max_results), page and request filters read the same noisy scores: a smaller k is a prefix;
- a new list state (new model scores, the user's new events) is a new ε release;
- for /rerank the client's candidate list is part of the scored list, so each distinct candidate list
  is its own release.

NOTE: the scores the mechanism sees are rounded to 4 decimals (post-processing), so the output is an
exact function of the digest's input: two processes whose floats differ below that agree.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from django.utils.crypto import salted_hmac

from reranking import dp
from tenants.models import Tenant

DECIMALS = 4
SALT = "reranking.sticky-noise"


def scored_digest(scored: Sequence[tuple[str, float]]) -> str:
    """Return a digest of (item, rounded score) pairs in order: the list state the noise is tied to."""
    h = hashlib.blake2b(digest_size=16)
    for item_id, score in scored:
        h.update(f"{item_id}\x1f{round(float(score), DECIMALS)!r}\x1e".encode())
    return h.hexdigest()


def release_key(tenant: Tenant | int, subject: str, epsilon: float, release_size: int, digest: str) -> bytes:
    """Return the 32-byte key of one release: HMAC under SECRET_KEY of everything the list depends on."""
    tenant_id = getattr(tenant, "pk", tenant)
    value = f"{tenant_id}\x1f{subject}\x1f{float(epsilon)!r}\x1f{int(release_size)}\x1f{digest}"
    return salted_hmac(SALT, value, algorithm="sha256").digest()


def private_top_k(
    tenant: Tenant, subject: str | None, scored: Sequence[tuple[str, float]], pool: Sequence[tuple[str, float]],
    k: int, epsilon: float, release_size: int,
) -> np.ndarray:
    """Return indices into `pool` of the k items released under ε-DP, best first, sticky per list state.

    `scored` is the whole list before filters (it fixes the key and the normalisation); `pool` is the
    part of it the filters kept. Scores are min-max normalised over `scored` (sensitivity 1), so a filter
    does not change any item's normalised score.
    """
    rounded = np.round(np.array([s for _, s in scored], dtype=float), DECIMALS)
    lo, span = (float(rounded.min()), float(rounded.max() - rounded.min()) or 1.0) if len(rounded) else (0.0, 1.0)
    values = np.clip((np.round(np.array([s for _, s in pool], dtype=float), DECIMALS) - lo) / span, 0.0, 1.0)
    key = release_key(tenant, subject or "", epsilon, release_size, scored_digest(scored))
    return dp.keyed_top_k(values, [item_id for item_id, _ in pool], k, epsilon, key=key, release_size=release_size)
