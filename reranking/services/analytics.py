"""The dashboard's counts, exact or released with differential privacy (the tenant's `analytics_dp`).

Private release (Laplace mechanism, reranking/dp.py): each user's events in the window are first cut to
at most m = `analytics_max_per_user`, chosen at random (`dp.bound_contributions`), so adding or removing
one user changes each histogram by at most m in L1. The budget ε = `analytics_epsilon` is split evenly
over the three released quantities (basic composition):

- events per day, 30 daily bins ending today: Laplace(m / (ε/3)) on every bin;
- popular items: the bounded event count of EVERY live catalogue item gets Laplace(m / (ε/3)), then the
  top ones by noisy count above zero are shown (post-processing; items nobody touched can appear, as
  they must);
- end users: Laplace(1 / (ε/3)) on the count.

NOTE: the window ends today rather than at the latest event (the exact view's anchor): the latest
event's date is itself one user's data. Interactions with served lists are not released under DP.
One release is kept for RELEASE_SECONDS (cache and privacy ledger), so reloading the page does not
average the noise away; each new release spends ε again and is recorded in the tenant's privacy ledger,
which refuses it when it would exceed the tenant's budget (services/privacy_budget.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone

import numpy as np
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from reranking import dp
from reranking.models import EndUser, Event, Item, PrivacyRelease, PrivacySettings
from tenants.models import Tenant

from . import cache, privacy_budget

CHART_DAYS = 30
POPULAR_SHOWN = 10
RELEASE_SECONDS = 3600
QUANTITIES = 3  # per-day histogram, item histogram, user count: each gets epsilon / 3


@dataclass
class DashboardCounts:
    per_day: list[tuple[str, int]]
    popular: list[tuple[str, int]]  # (item external id, count), most first
    n_users: int | None  # None: not released (over the privacy budget)
    attributed: int | None  # events carrying a recommendation_id; None when not released
    noisy: bool = False
    epsilon: float | None = None
    max_per_user: int | None = None
    scale: float | None = None  # Laplace scale of the event histograms
    released_at: float | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A release read back from the ledger (JSON) holds lists where a fresh one holds pairs.
        self.per_day = [tuple(pair) for pair in self.per_day]
        self.popular = [tuple(pair) for pair in self.popular]


def day_bins(end: date) -> list[date]:
    return [end - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]


def window_start(days: list[date]) -> datetime:
    return datetime.combine(days[0], time.min, tzinfo=dt_timezone.utc)


def dashboard_counts(tenant: Tenant) -> DashboardCounts:
    """Return the dashboard's counts: exact, or the current private release when the tenant asks for it.

    A private release is kept for RELEASE_SECONDS in the cache and in the privacy ledger (its payload),
    so reloads and other processes show the same numbers; a new one is recorded in the ledger and
    refused (no counts shown, nothing spent) when it would go over the tenant's privacy budget.
    """
    options = (
        PrivacySettings.objects.filter(tenant=tenant, analytics_dp=True)
        .values_list("analytics_epsilon", "analytics_max_per_user").first()
    )
    if options is None:
        return exact_counts(tenant)
    epsilon, max_per_user = options
    key = f"recs:analytics:{tenant.pk}:{epsilon}:{max_per_user}"
    try:
        return DashboardCounts(**cache.remember(key, RELEASE_SECONDS, lambda: release(tenant, epsilon, max_per_user)))
    except privacy_budget.BudgetExceeded as exc:
        return DashboardCounts(per_day=[], popular=[], n_users=None, attributed=None, noisy=True, epsilon=epsilon,
                               max_per_user=max_per_user, notes=[str(exc)])


def release(tenant: Tenant, epsilon: float, max_per_user: int) -> dict:
    """Return this hour's private release from the ledger, or make one and record it (spending epsilon)."""
    description = f"dashboard counts (epsilon {epsilon:g}, at most {max_per_user} events per user)"
    kept = privacy_budget.recent_release(tenant, PrivacyRelease.Kind.ANALYTICS, description, RELEASE_SECONDS)
    if kept is not None:
        return kept.payload
    counts = private_counts(tenant, epsilon, max_per_user).__dict__
    privacy_budget.spend_analytics(tenant, description, epsilon, QUANTITIES, counts)
    return counts


def exact_counts(tenant: Tenant, today: date | None = None) -> DashboardCounts:
    """Return the exact counts over the 30 days up to today (the dashboard says when the latest event was)."""
    events = Event.objects.for_tenant(tenant)
    n_users = EndUser.objects.for_tenant(tenant).count()
    if not events.exists():
        return DashboardCounts(per_day=[], popular=[], n_users=n_users, attributed=0)
    days = day_bins(today or timezone.now().date())
    window = events.filter(timestamp__gte=window_start(days))
    counts = {row["day"]: row["n"] for row in window.annotate(day=TruncDate("timestamp")).values("day").annotate(n=Count("id"))}
    popular = (
        window.filter(item__is_deleted=False).values("item__external_id").annotate(n=Count("id"))
        .order_by("-n", "item__external_id")[:POPULAR_SHOWN]
    )
    return DashboardCounts(
        per_day=[(d.isoformat(), counts.get(d, 0)) for d in days],
        popular=[(row["item__external_id"], row["n"]) for row in popular],
        n_users=n_users,
        attributed=window.exclude(recommendation_id="").count(),
    )


def bounded_histogram(users: np.ndarray, bins: np.ndarray, n_bins: int, max_per_user: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Return the count per bin after keeping at most max_per_user rows of each user (at random)."""
    keep = dp.bound_contributions(users, max_per_user, rng)
    return np.bincount(bins[keep], minlength=n_bins).astype(float)


def private_counts(tenant: Tenant, epsilon: float, max_per_user: int, *, rng: np.random.Generator | None = None,
                   today: date | None = None) -> DashboardCounts:
    """Release the counts with Laplace noise (module docstring); reads the window's events once."""
    rng = rng or dp.make_rng()
    days = day_bins(today or timezone.now().date())
    share = epsilon / QUANTITIES
    items = list(Item.objects.for_tenant(tenant).filter(is_deleted=False).order_by("id").values_list("id", "external_id"))
    item_index = {pk: i for i, (pk, _) in enumerate(items)}
    rows = np.array(
        list(
            Event.objects.for_tenant(tenant).filter(timestamp__gte=window_start(days))
            .values_list("user_id", "item_id", "timestamp").iterator(chunk_size=20_000)
        ),
        dtype=object,
    ).reshape(-1, 3)
    users = rows[:, 0].astype(np.int64)
    day_of = {d: i for i, d in enumerate(days)}
    day_bin = np.array([day_of.get(t.date(), -1) for t in rows[:, 2]], dtype=np.int64)
    in_days = day_bin >= 0  # a clock a little ahead of ours: future events are outside the window
    per_day = bounded_histogram(users[in_days], day_bin[in_days], len(days), max_per_user, rng)
    item_bin = np.array([item_index.get(pk, -1) for pk in rows[:, 1]], dtype=np.int64)
    live = in_days & (item_bin >= 0)
    per_item = bounded_histogram(users[live], item_bin[live], len(items), max_per_user, rng)

    noisy_days = dp.laplace_counts(per_day, share, sensitivity=max_per_user, rng=rng)
    noisy_items = dp.laplace_counts(per_item, share, sensitivity=max_per_user, rng=rng) if items else per_item
    noisy_users = dp.laplace_counts(np.array([float(EndUser.objects.for_tenant(tenant).count())]), share, rng=rng)
    top = np.argsort(-noisy_items, kind="stable")[:POPULAR_SHOWN]
    return DashboardCounts(
        per_day=[(d.isoformat(), int(round(v))) for d, v in zip(days, noisy_days)],
        popular=[(items[i][1], int(round(noisy_items[i]))) for i in top if round(noisy_items[i]) > 0],
        n_users=int(round(noisy_users[0])),
        attributed=None,
        noisy=True,
        epsilon=epsilon,
        max_per_user=max_per_user,
        scale=dp.laplace_scale(share, max_per_user),
        released_at=timezone.now().timestamp(),
    )
