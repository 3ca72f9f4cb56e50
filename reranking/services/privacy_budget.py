"""The tenant's privacy budget: record every DP release, compose them, refuse what would go over budget.

`spend()` is the one way a release enters the ledger. It holds the tenant's PrivacySettings row lock
while it composes the ledger (within the budget window) with the new release, so two releases at once
cannot both take the last of the budget. Over budget, it raises BudgetExceeded and writes nothing; the
caller then releases nothing (a trained model is discarded, a dashboard shows no counts).

Composition is Rényi DP through Opacus' accountant (reranking/ml/accounting.py) at the tenant's
`budget_delta`. Served lists are not in this ledger: each user's sticky list depends on that user's own
scores (docs/privacy-budget.md says what holds for them).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from reranking.ml import accounting
from reranking.models import ModelVersion, PrivacyRelease, PrivacySettings
from tenants.models import Tenant

LEDGER_SHOWN = 50


class BudgetExceeded(Exception):
    """A release would take the tenant's composed epsilon over its budget; nothing was spent."""


@dataclass(frozen=True)
class BudgetSummary:
    budget_epsilon: float | None
    budget_delta: float
    window_days: int | None
    spent_epsilon: float  # all releases in the window, composed at budget_delta
    remaining_epsilon: float | None
    releases: int


def in_window(tenant: Tenant, privacy: PrivacySettings, now=None):
    releases = PrivacyRelease.objects.for_tenant(tenant)
    if privacy.budget_window_days is not None:
        releases = releases.filter(created_at__gte=(now or timezone.now()) - timedelta(days=privacy.budget_window_days))
    return releases


def as_release(row: PrivacyRelease) -> accounting.Release:
    return accounting.Release(epsilon=row.epsilon, delta=row.delta, components=tuple(row.components))


def composed(tenant: Tenant, privacy: PrivacySettings, extra: list[accounting.Release] = (), now=None) -> float:
    """Return the ε of the window's releases (plus `extra`) composed at the tenant's budget δ."""
    rows = [as_release(r) for r in in_window(tenant, privacy, now)]
    return accounting.composed_epsilon([*rows, *extra], privacy.budget_delta)


def spend(
    tenant: Tenant, kind: str, description: str, *, epsilon: float, delta: float, components: list[dict],
    version: ModelVersion | None = None, payload: dict | None = None,
) -> PrivacyRelease:
    """Record one release if the budget allows it, else raise BudgetExceeded and record nothing."""
    for component in components:
        accounting.validate_component(component)
    release = accounting.Release(epsilon=float(epsilon), delta=float(delta), components=tuple(components))
    with transaction.atomic():
        privacy = PrivacySettings.objects.select_for_update().get(pk=PrivacySettings.for_tenant(tenant).pk)
        if privacy.budget_epsilon is not None:
            after = composed(tenant, privacy, [release])
            if after > privacy.budget_epsilon:
                before = composed(tenant, privacy)
                window = "lifetime" if privacy.budget_window_days is None else f"last {privacy.budget_window_days} days"
                raise BudgetExceeded(
                    f"Privacy budget exceeded: this {kind} release (epsilon {epsilon:.3g}) would take the composed "
                    f"epsilon from {before:.3g} to {after:.3g}, over the budget of {privacy.budget_epsilon:g} "
                    f"({window}, delta {privacy.budget_delta:g}). Nothing was released or spent; raise the "
                    "budget or wait for older releases to leave the window."
                )
        return PrivacyRelease.objects.create(
            tenant=tenant, kind=kind, description=description[:200], epsilon=float(epsilon), delta=float(delta),
            components=list(components), version=version, payload=payload,
        )


def summary(tenant: Tenant) -> BudgetSummary:
    """Return the budget, what the window's releases spend together, and what is left."""
    privacy = PrivacySettings.for_tenant(tenant)
    spent = composed(tenant, privacy)
    remaining = None if privacy.budget_epsilon is None else max(0.0, privacy.budget_epsilon - spent)
    return BudgetSummary(
        budget_epsilon=privacy.budget_epsilon, budget_delta=privacy.budget_delta,
        window_days=privacy.budget_window_days, spent_epsilon=spent, remaining_epsilon=remaining,
        releases=in_window(tenant, privacy).count(),
    )


def ledger(tenant: Tenant, limit: int = LEDGER_SHOWN) -> list[PrivacyRelease]:
    """Return the tenant's latest releases, newest first (all of them, in the window or not)."""
    return list(PrivacyRelease.objects.for_tenant(tenant).select_related("version")[:limit])


# ---- the releases the platform makes ------------------------------------------------------------


def spend_training(version: ModelVersion, privacy: dict | None) -> PrivacyRelease | None:
    """Record a DP training run from its metrics["privacy"]; None for a non-private run.

    Raises BudgetExceeded (nothing recorded) when the run would go over budget: the caller then fails the
    run and never activates its model, so its weights are never released.
    """
    if not privacy:
        return None
    components = privacy.get("components") or [{
        "kind": "subsampled_gaussian", "noise_multiplier": privacy["noise_multiplier"],
        "sample_rate": privacy["sample_rate"], "steps": privacy["steps"],
    }]
    return spend(
        version.tenant, PrivacyRelease.Kind.TRAINING, f"training run v{version.number} ({privacy.get('mode', 'network')})",
        epsilon=privacy["epsilon"], delta=privacy["delta"], components=components, version=version,
    )


def spend_analytics(tenant: Tenant, description: str, epsilon: float, quantities: int, payload: dict) -> PrivacyRelease:
    """Record one private dashboard release: `quantities` Laplace releases of epsilon / quantities each."""
    return spend(
        tenant, PrivacyRelease.Kind.ANALYTICS, description, epsilon=epsilon, delta=0.0,
        components=[{"kind": "laplace", "epsilon": epsilon / quantities, "count": quantities}], payload=payload,
    )


def recent_release(tenant: Tenant, kind: str, description: str, seconds: int) -> PrivacyRelease | None:
    """Return the newest release of this kind and description made in the last `seconds`, if any."""
    since = timezone.now() - timedelta(seconds=seconds)
    return (PrivacyRelease.objects.for_tenant(tenant)
            .filter(kind=kind, description=description, created_at__gte=since, payload__isnull=False).first())
