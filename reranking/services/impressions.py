"""Attribution: which events a served list earned.

An event counts for an impression when it quotes the list's `recommendation_id`, is about one of the
list's items, has a type the tenant counts (OnlineSettings: clicks, conversions), and happened between
CLOCK_SKEW before the list was served and the tenant's attribution window after it (edges included).
Both sides are read through the tenant's own rows, so a `recommendation_id` from another tenant (or a
made-up one) matches nothing. Computed when figures are asked for, from the impressions flushed so far
(services/served_log.py: at most FLUSH_SECONDS plus one beat interval behind).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reranking.models import Event, Impression, OnlineSettings
from tenants.models import Tenant

# Client clocks run a little behind the server's: an event stamped up to this long before the list
# it quotes was served still counts (a client cannot quote an id before it received it).
CLOCK_SKEW = timedelta(minutes=1)


@dataclass
class Outcome:
    """What one impression earned."""

    clicks: int = 0  # click events on its items
    conversions: int = 0  # conversion events on its items
    revenue: float = 0.0  # sum of the conversions' values
    clicked_items: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Rules:
    window: timedelta
    clicks: frozenset[str]
    conversions: frozenset[str]


def rules_for(tenant: Tenant) -> Rules:
    s = OnlineSettings.for_tenant(tenant)
    return Rules(timedelta(hours=s.attribution_hours), frozenset(s.clicks), frozenset(s.conversions))


def in_window(served_at: datetime, event_at: datetime, window: timedelta) -> bool:
    """Return True when an event at `event_at` may be attributed to a list served at `served_at`."""
    return served_at - CLOCK_SKEW <= event_at <= served_at + window


def attribute(tenant: Tenant, impressions: list[dict], rules: Rules | None = None) -> dict[str, Outcome]:
    """Return what each impression earned, keyed by recommendation_id (impressions that earned nothing are absent).

    `impressions` are rows with recommendation_id, served_at and items. One query reads the tenant's
    events that quote an id, within the span the impressions and the window cover.
    """
    if not impressions:
        return {}
    rules = rules or rules_for(tenant)
    by_id = {row["recommendation_id"]: row for row in impressions}
    start = min(row["served_at"] for row in impressions) - CLOCK_SKEW
    end = max(row["served_at"] for row in impressions) + rules.window
    events = (
        Event.objects.for_tenant(tenant)
        .filter(timestamp__gte=start, timestamp__lte=end, event_type__in=rules.clicks | rules.conversions)
        .exclude(recommendation_id="")
        .values_list("recommendation_id", "item__external_id", "event_type", "value", "timestamp")
    )
    items_of: dict[str, set[str]] = {}
    outcomes: dict[str, Outcome] = {}
    for rec_id, item_id, event_type, value, at in events.iterator(chunk_size=5000):
        row = by_id.get(rec_id)
        if row is None or not in_window(row["served_at"], at, rules.window):
            continue
        items = items_of.get(rec_id)
        if items is None:
            items = items_of[rec_id] = set(row["items"])
        if item_id not in items:
            continue
        outcome = outcomes.setdefault(rec_id, Outcome())
        if event_type in rules.clicks:
            outcome.clicks += 1
            outcome.clicked_items.add(item_id)
        if event_type in rules.conversions:
            outcome.conversions += 1
            outcome.revenue += value or 0.0
    return outcomes


def impression_rows(tenant: Tenant, **filters) -> list[dict]:
    """Return the tenant's impressions matching `filters`, as the rows attribute() and the metrics read."""
    return list(
        Impression.objects.for_tenant(tenant).filter(**filters).values(
            "recommendation_id", "served_at", "items", "placement", "strategy", "model_version", "user_id",
            "experiment_id", "arm", "endpoint",
        )
    )
