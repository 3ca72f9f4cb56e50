"""Online metrics: what served lists earned, per day, placement, strategy and model version.

Rates are per impression (a served list): click-through rate is the share of lists with at least one
attributed click, conversion rate the share with at least one attributed conversion. Each comes with
a 95% Wilson score interval (statsmodels), which behaves at small counts and at 0% where the normal
approximation does not.

Comparisons between two groups (A/B arms, a version against the previous one) must not treat a
user's lists as independent: one user who clicks a lot, served 50 lists, would make any split look
significant. The p-value is a permutation test that reshuffles users between the groups (scipy), and
the 95% interval of the difference is that of least squares on the per-list outcome with errors
clustered by user (statsmodels). Anonymous lists count as one unit each.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone
import numpy as np
from scipy.stats import permutation_test
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.proportion import proportion_confint

from reranking.models import ModelVersion
from tenants.models import Tenant

from . import impressions as attribution

GROUPS = ("day", "placement", "strategy", "model_version", "endpoint")
CONFIDENCE = 0.95
MAX_DAYS = 366


@dataclass
class Tally:
    """Counts for one group of impressions."""

    impressions: int = 0
    clicked: int = 0  # impressions with at least one attributed click
    converted: int = 0  # impressions with at least one attributed conversion
    clicks: int = 0
    conversions: int = 0
    revenue: float = 0.0
    users: set = field(default_factory=set)
    # Per list: (unit, clicked, converted); the unit is the user (a list of its own when anonymous).
    lists: list = field(default_factory=list)

    def add(self, row: dict, outcome: attribution.Outcome | None) -> None:
        self.impressions += 1
        if row["user_id"] is not None:
            self.users.add(row["user_id"])
        clicked = converted = False
        if outcome is not None:
            self.clicks += outcome.clicks
            self.conversions += outcome.conversions
            self.revenue += outcome.revenue
            clicked, converted = outcome.clicks > 0, outcome.conversions > 0
            self.clicked += clicked
            self.converted += converted
        unit = f"u{row['user_id']}" if row["user_id"] is not None else f"r{row['recommendation_id']}"
        self.lists.append((unit, clicked, converted))

    def outcomes(self, which: int) -> list[tuple[str, bool]]:
        """Return (unit, success) per list: which=1 for clicks, 2 for conversions."""
        return [(entry[0], entry[which]) for entry in self.lists]

    def as_dict(self) -> dict:
        return {
            "impressions": self.impressions, "users_reached": len(self.users), "clicks": self.clicks,
            "clicked_impressions": self.clicked, "conversions": self.conversions,
            "converted_impressions": self.converted, "revenue": round(self.revenue, 2),
            "ctr": rate(self.clicked, self.impressions), "conversion_rate": rate(self.converted, self.impressions),
        }


def rate(successes: int, trials: int) -> dict:
    """Return a rate in percent with its 95% Wilson interval (None without trials), rounded for people."""
    if trials == 0:
        return {"percent": None, "low": None, "high": None}
    low, high = proportion_confint(successes, trials, alpha=1 - CONFIDENCE, method="wilson")
    return {"percent": round(100 * successes / trials, 2), "low": round(100 * low, 2), "high": round(100 * high, 2)}


def compare(a: list[tuple[str, bool]], b: list[tuple[str, bool]]) -> dict:
    """Compare B's rate with A's from (unit, success) per list: difference in points, 95% interval, p-value.

    The p-value is a permutation test over units (scipy.stats.permutation_test: users, not lists, are
    what was randomised), so it holds with few users and many repeat visits. The interval is that of the
    OLS difference with errors clustered by unit (statsmodels). None when either side is empty, nothing
    varies, or either side has fewer than two units (one user per arm is no evidence, and
    permutation_test refuses it).
    """
    empty = {"difference": None, "low": None, "high": None, "p_value": None}
    if not a or not b:
        return empty
    y = np.array([s for _, s in a] + [s for _, s in b], dtype=float)
    x = np.r_[np.zeros(len(a)), np.ones(len(b))]
    diff = y[len(a):].mean() - y[: len(a)].mean()
    labels = [f"a{u}" for u, _ in a] + [f"b{u}" for u, _ in b]  # a unit seen in both arms counts once per arm
    names, units = np.unique(labels, return_inverse=True)
    in_b = np.array([name.startswith("b") for name in names])
    if y.min() == y.max() or min(in_b.sum(), (~in_b).sum()) < 2:
        return {**empty, "difference": round(100 * diff, 2)}
    fit = OLS(y, np.column_stack([np.ones_like(x), x])).fit(
        cov_type="cluster", cov_kwds={"groups": units}, use_t=True
    )
    low, high = fit.conf_int(alpha=1 - CONFIDENCE)[1]
    successes = np.bincount(units, weights=y)
    lists = np.bincount(units).astype(float)

    def rate_difference(first, second, axis=-1):
        return successes[second].sum(axis) / lists[second].sum(axis) - successes[first].sum(axis) / lists[first].sum(axis)

    test = permutation_test((np.flatnonzero(~in_b), np.flatnonzero(in_b)), rate_difference, vectorized=True,
                            permutation_type="independent", n_resamples=9999, random_state=0)
    return {"difference": round(100 * diff, 2), "low": round(100 * low, 2), "high": round(100 * high, 2),
            "p_value": float(test.pvalue)}


def day_range(since: date | None, until: date | None) -> tuple[date, date]:
    """Return the (first, last) day to report: the last 30 days by default; at most MAX_DAYS."""
    until = until or timezone.localdate()
    since = since or until - timedelta(days=29)
    if since > until:
        raise ValueError("since: must not be after until.")
    if (until - since).days >= MAX_DAYS:
        raise ValueError(f"since: at most {MAX_DAYS} days at once.")
    return since, until


def span(since: date, until: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return datetime.combine(since, time.min, tz), datetime.combine(until + timedelta(days=1), time.min, tz)


def key_of(row: dict, group_by: tuple[str, ...]) -> tuple:
    return tuple(timezone.localtime(row["served_at"]).date().isoformat() if g == "day" else row[g] for g in group_by)


def tallies(tenant: Tenant, rows: list[dict], key, outcomes: dict | None = None) -> dict:
    """Attribute the rows' events (unless `outcomes` already holds them) and count them per key(row)."""
    outcomes = attribution.attribute(tenant, rows) if outcomes is None else outcomes
    out: dict = defaultdict(Tally)
    for row in rows:
        out[key(row)].add(row, outcomes.get(row["recommendation_id"]))
    return out


def report(tenant: Tenant, since: date | None = None, until: date | None = None,
           group_by: tuple[str, ...] = ("day",)) -> dict:
    """Return the tenant's online metrics for the days asked, grouped, with totals and version comparison."""
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise ValueError(f"group_by: unknown {', '.join(unknown)}; use {', '.join(GROUPS)}.")
    since, until = day_range(since, until)
    start, end = span(since, until)
    rows = attribution.impression_rows(tenant, served_at__gte=start, served_at__lt=end)
    outcomes = attribution.attribute(tenant, rows)
    groups = tallies(tenant, rows, lambda row: key_of(row, group_by), outcomes)
    total = Tally()
    for t in groups.values():
        total.impressions += t.impressions
        total.clicked += t.clicked
        total.converted += t.converted
        total.clicks += t.clicks
        total.conversions += t.conversions
        total.revenue += t.revenue
        total.users |= t.users
    ordered = sorted(groups.items(), key=lambda kv: tuple("" if v is None else str(v) for v in kv[0]))
    return {
        "since": since.isoformat(), "until": until.isoformat(), "group_by": list(group_by),
        "attribution_hours": int(attribution.rules_for(tenant).window.total_seconds() // 3600),
        "rows": [{**dict(zip(group_by, key)), **t.as_dict()} for key, t in ordered],
        "total": total.as_dict(),
        "versions": versions_compared(tenant, rows, outcomes),
    }


def versions_compared(tenant: Tenant, rows: list[dict], outcomes: dict) -> dict | None:
    """Compare the active version's CTR with the previous version that served lists (None if not both)."""
    active = ModelVersion.objects.for_tenant(tenant).filter(is_active=True).values_list("number", flat=True).first()
    served = sorted({row["model_version"] for row in rows if row["model_version"] is not None})
    earlier = [n for n in served if active is not None and n < active]
    if active is None or active not in served or not earlier:
        return None
    previous = earlier[-1]
    by_version = tallies(tenant, [r for r in rows if r["model_version"] in (active, previous)],
                         lambda r: r["model_version"], outcomes)
    a, b = by_version[previous], by_version[active]
    return {
        "current": active, "previous": previous, "current_figures": b.as_dict(), "previous_figures": a.as_dict(),
        "ctr_difference": compare(a.outcomes(1), b.outcomes(1)),
        "conversion_difference": compare(a.outcomes(2), b.outcomes(2)),
    }
