"""The privacy ledger: releases compose as Rényi DP says, a release over budget is refused and spends nothing."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from reranking.ml import accounting
from reranking.models import ModelVersion, PrivacyRelease, PrivacySettings
from reranking.services import analytics, privacy_budget
from tests.privacy_rights.test_private_analytics import events_on_last_days, turn_on

pytestmark = pytest.mark.django_db
DELTA = 1e-6
# The orders, written out here rather than imported, so the expected values below do not reuse the module.
ORDERS = np.array([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [80, 128, 256, 512], dtype=float)


def laplace_rdp_by_hand(epsilon: float) -> np.ndarray:
    """Mironov 2017, Table II, for the Laplace mechanism with scale 1/epsilon (sensitivity 1)."""
    a = ORDERS
    inside = a / (2 * a - 1) * np.exp((a - 1) * epsilon) + (a - 1) / (2 * a - 1) * np.exp(-a * epsilon)
    return np.log(inside) / (a - 1)


def to_dp_by_hand(rdp: np.ndarray, delta: float) -> float:
    """Balle et al. 2020, Theorem 21, minimised over the orders (the conversion Opacus uses)."""
    a = ORDERS
    eps = rdp + np.log1p(-1 / a) - (np.log(delta) + np.log(a)) / (a - 1)
    return float(np.nanmin(eps))


def set_budget(tenant, epsilon: float | None, window_days: int | None = None) -> None:
    PrivacySettings.for_tenant(tenant)
    PrivacySettings.objects.filter(tenant=tenant).update(budget_epsilon=epsilon, budget_delta=DELTA,
                                                         budget_window_days=window_days)


def test_many_laplace_releases_compose_as_renyi_dp_says(alice):
    set_budget(alice.tenant, None)
    for _ in range(60):
        privacy_budget.spend(alice.tenant, "analytics", "counts", epsilon=0.1, delta=0.0,
                             components=[{"kind": "laplace", "epsilon": 0.1}])
    expected = to_dp_by_hand(60 * laplace_rdp_by_hand(0.1), DELTA)
    summary = privacy_budget.summary(alice.tenant)
    assert summary.spent_epsilon == pytest.approx(expected, rel=1e-9)
    assert summary.spent_epsilon < 6.0, "tighter than adding the sixty epsilons up"
    assert summary.releases == 60


def test_a_gaussian_training_run_and_laplace_releases_add_up_order_by_order(alice):
    set_budget(alice.tenant, None)
    version = ModelVersion.objects.create(tenant=alice.tenant, number=1)
    # Full-batch DP-SGD (sample rate 1): the Gaussian mechanism's RDP is alpha * steps / (2 sigma^2).
    privacy_budget.spend_training(version, {"epsilon": 3.0, "delta": 1e-5, "noise_multiplier": 4.0,
                                            "sample_rate": 1.0, "steps": 10})
    privacy_budget.spend(alice.tenant, "analytics", "counts", epsilon=0.5, delta=0.0,
                         components=[{"kind": "laplace", "epsilon": 0.5 / 3, "count": 3}])
    rdp = ORDERS * 10 / (2 * 4.0**2) + 3 * laplace_rdp_by_hand(0.5 / 3)
    assert privacy_budget.summary(alice.tenant).spent_epsilon == pytest.approx(to_dp_by_hand(rdp, DELTA), rel=1e-9)
    assert PrivacyRelease.objects.get(kind="training").version == version


def test_pure_releases_never_compose_above_their_sum():
    releases = [accounting.Release(epsilon=2.0, delta=0.0, components=({"kind": "pure", "epsilon": 2.0},))] * 3
    assert accounting.composed_epsilon(releases, DELTA) <= 6.0
    assert accounting.composed_epsilon(releases[:1], DELTA) == 2.0


def test_a_release_over_budget_is_refused_and_nothing_is_spent(alice):
    set_budget(alice.tenant, 1.0)
    privacy_budget.spend(alice.tenant, "analytics", "first", epsilon=0.6, delta=0.0,
                         components=[{"kind": "pure", "epsilon": 0.6}])
    before = privacy_budget.summary(alice.tenant)
    with pytest.raises(privacy_budget.BudgetExceeded, match="Privacy budget exceeded.*over the budget of 1"):
        privacy_budget.spend(alice.tenant, "analytics", "second", epsilon=0.6, delta=0.0,
                             components=[{"kind": "pure", "epsilon": 0.6}])
    after = privacy_budget.summary(alice.tenant)
    assert PrivacyRelease.objects.for_tenant(alice.tenant).count() == 1
    assert after.spent_epsilon == before.spent_epsilon == pytest.approx(0.6)
    assert after.remaining_epsilon == pytest.approx(0.4)


def test_a_rolling_window_forgets_old_releases(alice):
    set_budget(alice.tenant, 1.0, window_days=30)
    old = privacy_budget.spend(alice.tenant, "analytics", "old", epsilon=0.9, delta=0.0,
                               components=[{"kind": "pure", "epsilon": 0.9}])
    PrivacyRelease.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    privacy_budget.spend(alice.tenant, "analytics", "new", epsilon=0.9, delta=0.0,
                         components=[{"kind": "pure", "epsilon": 0.9}])
    assert privacy_budget.summary(alice.tenant).spent_epsilon == pytest.approx(0.9)
    set_budget(alice.tenant, 1.0, window_days=None)  # a lifetime budget counts both
    assert privacy_budget.summary(alice.tenant).spent_epsilon == pytest.approx(1.8)


def test_a_bad_component_is_refused_before_anything_is_written(alice):
    with pytest.raises(ValueError, match="noise_multiplier"):
        privacy_budget.spend(alice.tenant, "training", "bad", epsilon=1.0, delta=1e-6,
                             components=[{"kind": "subsampled_gaussian", "noise_multiplier": 0, "sample_rate": 0.1, "steps": 1}])
    assert not PrivacyRelease.objects.exists()


def test_dashboard_releases_are_recorded_once_and_refused_over_budget(alice, catalogue):
    from django.core.cache import cache

    cache.clear()  # cache keys hold tenant ids, which repeat across test databases
    events_on_last_days(alice.tenant, n_users=5, days=3)
    turn_on(alice.tenant)
    set_budget(alice.tenant, 5.0)
    first = analytics.dashboard_counts(alice.tenant)
    cache.clear()  # another process, or the cache lost: the ledger's copy is shown, not a new release
    again = analytics.dashboard_counts(alice.tenant)
    assert again.per_day == first.per_day and again.n_users == first.n_users
    assert PrivacyRelease.objects.for_tenant(alice.tenant).count() == 1
    PrivacyRelease.objects.update(created_at=timezone.now() - timedelta(hours=2))  # the hour is over
    cache.clear()
    refused = analytics.dashboard_counts(alice.tenant)  # 3 + 3 > 5
    assert refused.n_users is None and refused.per_day == [] and "Privacy budget exceeded" in refused.notes[0]
    assert PrivacyRelease.objects.for_tenant(alice.tenant).count() == 1
    client = Client()
    client.force_login(alice.owner)
    html = client.get(f"/t/{alice.tenant.slug}/").content.decode()
    assert 'id="analytics-refused"' in html and "not released" in html
    assert PrivacyRelease.objects.for_tenant(alice.tenant).count() == 1


def test_the_api_shows_the_budget_and_the_ledger_and_tenants_stay_apart(alice, charlie):
    response = alice.client.patch("/api/v1/privacy", {"budget_epsilon": 10, "budget_window_days": 365}, format="json")
    assert response.status_code == 200, response.content
    privacy_budget.spend(alice.tenant, "analytics", "counts", epsilon=1.0, delta=0.0,
                         components=[{"kind": "laplace", "epsilon": 1.0}])
    body = alice.client.get("/api/v1/privacy").json()
    assert body["budget"]["budget_epsilon"] == 10 and body["budget"]["window_days"] == 365
    assert body["budget"]["spent_epsilon"] == pytest.approx(1.0)
    assert body["budget"]["remaining_epsilon"] == pytest.approx(9.0)
    ledger = alice.client_with("read").get("/api/v1/privacy/ledger").json()
    assert [r["description"] for r in ledger["releases"]] == ["counts"]
    assert ledger["releases"][0]["components"] == [{"kind": "laplace", "epsilon": 1.0}]
    assert charlie.client.get("/api/v1/privacy/ledger").json()["releases"] == []


@pytest.mark.parametrize("body, field", [({"budget_epsilon": 0}, "budget_epsilon"), ({"budget_delta": 0.5}, "budget_delta"),
                                         ({"budget_window_days": 0}, "budget_window_days")])
def test_bad_budget_settings_are_refused_naming_the_field(alice, body, field):
    response = alice.client.patch("/api/v1/privacy", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith(field)


def test_the_privacy_page_shows_the_ledger_and_what_remains(alice):
    set_budget(alice.tenant, 4.0)
    privacy_budget.spend(alice.tenant, "analytics", "dashboard counts (test)", epsilon=1.0, delta=0.0,
                         components=[{"kind": "pure", "epsilon": 1.0}])
    client = Client()
    client.force_login(alice.owner)
    html = client.get(f"/t/{alice.tenant.slug}/privacy/").content.decode()
    assert 'id="privacy-ledger"' in html and "dashboard counts (test)" in html
    assert "Remaining:</strong> ε = 3.000 of 4" in html
