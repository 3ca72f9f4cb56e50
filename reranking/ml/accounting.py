"""Compose differentially private releases with Rényi DP (Mironov, "Rényi Differential Privacy", CSF 2017).

Every release in a tenant's ledger is a list of components, each a mechanism with a known Rényi-DP curve
(order α -> RDP ε(α)); RDP adds up over releases order by order, and the sum is converted once to an
(ε, δ) guarantee with Opacus' conversion (`opacus.accountants.analysis.rdp.get_privacy_spent`, the
Balle et al. 2020 bound, minimised over the orders). The components:

- `{"kind": "subsampled_gaussian", "noise_multiplier": σ, "sample_rate": q, "steps": T}`: DP-SGD;
  Opacus' `compute_rdp` (Mironov, Talwar & Zhang 2019).
- `{"kind": "laplace", "epsilon": ε, "count": n}`: n Laplace releases of scale Δ/ε each; the exact RDP
  of the Laplace mechanism (Mironov 2017, Table II):
  ε(α) = 1/(α-1) · log(α/(2α-1) · e^{(α-1)ε} + (α-1)/(2α-1) · e^{-αε}).
- `{"kind": "pure", "epsilon": ε, "count": n}`: any other ε-DP mechanism (the exponential mechanism of a
  served list): ε(α) = min(ε, α ε²/2), since ε-DP implies ε²/2-zCDP (Bun & Steinke 2016, Prop. 1.4)
  and D_α ≤ D_∞ = ε.

The reported ε is also never above basic composition (the plain sum of each release's ε, valid when the
releases' δs add up to no more than the target δ): both bounds hold, so the smaller one does.

One training run (end-to-end DP: Gaussian first-stage releases, then DP-SGD) is accounted tighter than
RDP allows: `gaussian_epsilon` is the exact (ε, δ) of k Gaussian mechanisms (k releases at noise σ and
sensitivity 1 are one Gaussian mechanism with μ = √k / σ, i.e. μ-GDP; Balle & Wang, ICML 2018, Thm. 8;
Dong, Roth & Su 2019, Cor. 2.13), and `prv_epsilon` composes Gaussian and subsampled-Gaussian mechanisms
with Opacus' PRV accountant (Gopi, Lee & Wutschitz, NeurIPS 2021), an upper bound within `eps_error`.
The run's (ε, δ) so computed is the ε its ledger row carries, and basic composition above then keeps it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from opacus.accountants.analysis import rdp as opacus_rdp
from scipy import optimize, stats

# Opacus' default orders for its RDP accountant, plus a few large ones for small, many-fold releases.
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256, 512])
KINDS = ("subsampled_gaussian", "laplace", "pure")


def laplace_rdp(epsilon: float, orders: Sequence[float] = ORDERS) -> np.ndarray:
    """Return the RDP curve of one Laplace release with ε = Δ / scale (Mironov 2017, Table II)."""
    a = np.asarray(orders, dtype=float)
    # log of the sum of two exponentials, computed stably
    terms = np.logaddexp(np.log(a / (2 * a - 1)) + (a - 1) * epsilon, np.log((a - 1) / (2 * a - 1)) - a * epsilon)
    return terms / (a - 1)


def pure_rdp(epsilon: float, orders: Sequence[float] = ORDERS) -> np.ndarray:
    """Return an RDP curve that every ε-DP mechanism satisfies: min(ε, α ε² / 2)."""
    a = np.asarray(orders, dtype=float)
    return np.minimum(epsilon, a * epsilon**2 / 2)


def component_rdp(component: dict, orders: Sequence[float] = ORDERS) -> np.ndarray:
    """Return the RDP curve of one ledger component (see the module docstring for the kinds)."""
    kind = component.get("kind")
    if kind == "subsampled_gaussian":
        return np.asarray(opacus_rdp.compute_rdp(
            q=float(component["sample_rate"]), noise_multiplier=float(component["noise_multiplier"]),
            steps=int(component["steps"]), orders=list(orders),
        ), dtype=float)
    if kind == "laplace":
        return int(component.get("count", 1)) * laplace_rdp(float(component["epsilon"]), orders)
    if kind == "pure":
        return int(component.get("count", 1)) * pure_rdp(float(component["epsilon"]), orders)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def validate_component(component: dict) -> None:
    """Raise ValueError naming what is wrong with a component (before anything is written)."""
    kind = component.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    numbers = ("noise_multiplier", "sample_rate", "steps") if kind == "subsampled_gaussian" else ("epsilon",)
    for name in numbers:
        value = component.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number greater than 0, got {value!r}")
    if kind == "subsampled_gaussian" and component["sample_rate"] > 1:
        raise ValueError(f"sample_rate must be at most 1, got {component['sample_rate']!r}")


@dataclass(frozen=True)
class Release:
    """One ledger entry as the accountant sees it: its own (ε, δ) and its RDP components."""

    epsilon: float
    delta: float
    components: tuple[dict, ...]


def composed_epsilon(releases: Iterable[Release], delta: float, orders: Sequence[float] = ORDERS) -> float:
    """Return the ε of all releases together at `delta`: min(RDP composition, basic composition)."""
    releases = list(releases)
    if not releases:
        return 0.0
    assert 0 < delta < 1, "composed_epsilon needs 0 < delta < 1"
    rdp = np.zeros(len(orders))
    for release in releases:
        for component in release.components:
            rdp += component_rdp(component, orders)
    with warnings.catch_warnings():  # "optimal order is the largest alpha": basic composition is then tighter
        warnings.simplefilter("ignore", UserWarning)
        eps, _ = opacus_rdp.get_privacy_spent(orders=list(orders), rdp=rdp, delta=delta)
    eps = float(eps)
    if sum(r.delta for r in releases) <= delta:
        eps = min(eps, sum(r.epsilon for r in releases))
    return eps


def gaussian_delta(epsilon: float, mu: float) -> float:
    """Return the exact δ(ε) of a Gaussian mechanism with μ = sensitivity / σ (Balle & Wang 2018, Thm. 8)."""
    return float(stats.norm.cdf(-epsilon / mu + mu / 2) - math.exp(epsilon) * stats.norm.cdf(-epsilon / mu - mu / 2))


def gaussian_epsilon(noise_multiplier: float, count: int, delta: float) -> float:
    """Return the exact ε at `delta` of `count` Gaussian releases of sensitivity 1 and noise σ (one with μ = √count/σ)."""
    assert 0 < delta < 1 and noise_multiplier > 0 and count >= 1, "need 0 < delta < 1, sigma > 0, count >= 1"
    mu = math.sqrt(count) / noise_multiplier
    if gaussian_delta(0.0, mu) <= delta:
        return 0.0
    hi = 1.0
    while gaussian_delta(hi, mu) > delta:
        hi *= 2
    return float(optimize.brentq(lambda e: gaussian_delta(e, mu) - delta, 0.0, hi, xtol=1e-10))


def prv_epsilon(components: Sequence[dict], delta: float, eps_error: float = 0.01) -> float:
    """Return the ε at `delta` of subsampled-Gaussian components (sample rate 1 = plain Gaussian), PRV-composed.

    An upper bound, at most `eps_error` above the true ε of the composition. Costs ~0.1-2 s.
    """
    from opacus.accountants import PRVAccountant

    assert components and all(c.get("kind") == "subsampled_gaussian" for c in components), \
        "prv_epsilon composes subsampled_gaussian components only"
    accountant = PRVAccountant()
    accountant.history = [(float(c["noise_multiplier"]), float(c["sample_rate"]), int(c["steps"])) for c in components]
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # log(1 - q) at q = 1 is -inf inside Opacus; handled there
        warnings.simplefilter("ignore", UserWarning)  # its RDP domain bound: "optimal order is the largest alpha"
        return float(accountant.get_epsilon(delta=delta, eps_error=eps_error))
