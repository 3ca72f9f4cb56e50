"""Private analytics: the dashboard's counts exact when off, Laplace-noised with bounded contributions when on."""
from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reranking import dp
from reranking.models import PrivacySettings
from reranking.services import analytics
from reranking.services.ingest import ingest_events

pytestmark = pytest.mark.django_db
EPSILON, M = 3.0, 10  # each of the three released quantities gets epsilon / 3 = 1, so the event scale is M


def events_on_last_days(tenant, n_users: int, days: int, item: str = "sku-1", prefix: str = "u") -> None:
    """Each of n_users views `item` once a day on each of the last `days` days (today included)."""
    now = timezone.now()
    rows = [
        {"user_id": f"{prefix}{u}", "item_id": item, "timestamp": (now - timedelta(days=d)).replace(hour=0, minute=30).isoformat()}
        for u in range(n_users) for d in range(days)
    ]
    assert ingest_events(tenant, rows).stored == len(rows)


def turn_on(tenant, epsilon: float = EPSILON, max_per_user: int = M) -> None:
    PrivacySettings.for_tenant(tenant)
    PrivacySettings.objects.filter(tenant=tenant).update(
        analytics_dp=True, analytics_epsilon=epsilon, analytics_max_per_user=max_per_user
    )


def test_counts_are_exact_when_the_option_is_off(alice, catalogue):
    events_on_last_days(alice.tenant, n_users=4, days=3)
    counts = analytics.dashboard_counts(alice.tenant)
    assert not counts.noisy and counts.n_users == 4 and counts.attributed == 0
    assert [n for _, n in counts.per_day[-3:]] == [4, 4, 4] and sum(n for _, n in counts.per_day) == 12
    assert counts.popular == [("sku-1", 12)]


def test_noise_has_the_laplace_scale_of_epsilon_and_the_contribution_bound(alice, catalogue):
    # 100 users x 1 event a day for 10 days: each user has exactly M events, so the bounded counts are the
    # exact ones (100 a day) and far from zero, where clamping would bias the noise.
    events_on_last_days(alice.tenant, n_users=100, days=M)
    rng = dp.make_rng(7)
    noise, user_noise = [], []
    for _ in range(150):
        released = analytics.private_counts(alice.tenant, EPSILON, M, rng=rng)
        noise.extend(n - 100 for _, n in released.per_day[-M:])
        user_noise.append(released.n_users - 100)
    noise = np.array(noise, dtype=float)
    scale = M / (EPSILON / 3)
    assert released.noisy and released.scale == pytest.approx(scale)
    # Laplace(b): mean |x| = b, standard deviation = b * sqrt(2) (rounding to whole counts adds ~1/12 variance).
    assert abs(noise.mean()) < 0.1 * scale
    assert np.abs(noise).mean() == pytest.approx(scale, rel=0.08)
    assert noise.std() == pytest.approx(scale * np.sqrt(2), rel=0.08)
    assert np.abs(noise).max() > 2 * scale  # not a constant offset
    assert np.abs(user_noise).mean() == pytest.approx(3 / EPSILON, abs=0.35)  # user count: sensitivity 1


def test_one_users_burst_moves_a_count_by_at_most_the_bound(alice, catalogue):
    events_on_last_days(alice.tenant, n_users=20, days=1, item="sku-2")
    tight = 100.0  # a large epsilon: scale 3 * M / 100 = 0.3, so the release is close to the bounded counts
    before = analytics.private_counts(alice.tenant, tight, M, rng=dp.make_rng(1))
    rows = [{"user_id": "burst", "item_id": "sku-3", "timestamp": timezone.now().isoformat()} for _ in range(500)]
    assert ingest_events(alice.tenant, rows).stored == 500
    after = analytics.private_counts(alice.tenant, tight, M, rng=dp.make_rng(1))

    popular = dict(after.popular)
    assert popular["sku-3"] <= M + 2 and popular["sku-2"] >= 18  # 500 events count as at most M
    assert after.per_day[-1][1] - before.per_day[-1][1] <= M + 4


def test_bounded_histogram_caps_every_user_at_m_in_l1():
    rng = dp.make_rng(3)
    users = np.r_[np.arange(50), np.full(1000, 99)]  # 50 users with one row, one user with 1000
    bins = np.r_[rng.integers(0, 5, 50), np.zeros(1000, dtype=int)]
    with_burst = analytics.bounded_histogram(users, bins, 5, M, rng)
    without = analytics.bounded_histogram(users[:50], bins[:50], 5, M, rng)
    assert np.abs(with_burst - without).sum() == M


def test_the_dashboard_labels_noisy_counts_and_keeps_one_release(alice, catalogue):
    events_on_last_days(alice.tenant, n_users=5, days=2)
    client = Client()
    client.force_login(alice.owner)
    page = reverse("ui:dashboard", args=[alice.tenant.slug])
    exact = client.get(page).content.decode()
    assert 'id="noisy-counts"' not in exact and "(noisy)" not in exact and 'id="popular"' in exact

    turn_on(alice.tenant)
    noisy = client.get(page).content.decode()
    assert 'id="noisy-counts"' in noisy and "approximate" in noisy and "End users (noisy)" in noisy
    assert "hidden under private analytics" in noisy
    # Reloading does not draw fresh noise that could be averaged away.
    numbers = released_numbers(noisy)
    assert len(numbers) > 30 and released_numbers(client.get(page).content.decode()) == numbers


def released_numbers(html: str) -> list[str]:
    return re.findall(r'<div class="stat">(-?\d+)</div>|<title>([^<]*)</title>|<td class="num">(-?\d+)</td>', html)


def test_a_tenant_without_events_gets_a_release_too(alice, catalogue):
    released = analytics.private_counts(alice.tenant, EPSILON, M, rng=dp.make_rng(5))
    assert len(released.per_day) == 30 and all(n >= 0 for _, n in released.per_day)
    assert len(released.popular) <= len(catalogue) and all(n > 0 for _, n in released.popular)
    assert released.n_users >= 0 and released.noisy
