"""Serve recommendations and live re-ranking, shaped by the tenant's rules and privacy settings.

Order for every served list: candidates (precomputed ranking, re-scored online when the user acted
since; or a fallback) -> filters -> [DP: private top-k selection on normalised model scores] ->
boosts/buries -> diversity -> pins (reranking/rules.py). Under DP, the rules only re-order the k items
the mechanism selected (post-processing keeps the guarantee) and model scores are not returned.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Sequence

import numpy as np
from django.db.models import Count
from django.utils import timezone

from reranking import rules as engine
from reranking.ml.artifact import CorruptArtifact, History, Reranker
from reranking.models import EndUser, Event, Item, ModelVersion, PrivacySettings, Ranking, Rule, TrainingPolicy
from tenants.models import Tenant

from . import cache, sticky_noise
from .datasets import histories_for
from .precompute import load_model, report_broken_artifact

MAX_K = 100
MAX_CANDIDATES = 500
FRESH_RESCORE = 100  # precomputed items re-scored online when the user acted since the ranking
POPULAR_N = 200
MIN_POPULAR = 50
ACTIVE_TTL = 30  # seconds; activation deletes the key, the TTL covers per-process caches
RULES_TTL = 60
RANKING_TTL = 3600
POPULAR_TTL = 600


class ServingError(ValueError):
    """Bad serving input; `field` names what is wrong (becomes a 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class UnknownUser(LookupError):
    """The user id is not one of this tenant's end users (becomes a 404)."""


@dataclass
class Served:
    items: list[dict]
    strategy: str
    version: int | None
    recommendation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    fresh: bool = False
    removed: list[dict] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    not_applied: list[dict] = field(default_factory=list)
    privacy: dict = field(default_factory=dict)


# ---- cached tenant state ---------------------------------------------------------------------


def active_version(tenant: Tenant) -> dict | None:
    """Return {"id", "number", "artifact_path"} of the active version, cached briefly."""

    def load() -> dict | None:
        row = ModelVersion.objects.for_tenant(tenant).filter(is_active=True).values("id", "number", "artifact_path").first()
        return row or {}

    return cache.remember(cache.active_key(tenant.pk), ACTIVE_TTL, load, local=True) or None


def tenant_rules(tenant: Tenant) -> list[engine.Rule]:
    def load() -> list[dict]:
        return [
            {"id": r.pk, "name": r.name, "kind": r.kind, "params": r.params, "priority": r.priority,
             "enabled": r.enabled, "starts_at": r.starts_at, "ends_at": r.ends_at}
            for r in Rule.objects.for_tenant(tenant).filter(enabled=True)
        ]

    return [engine.Rule(**row) for row in cache.remember(cache.rules_key(tenant.pk), RULES_TTL, load, local=True)]


def privacy_of(tenant: Tenant) -> dict:
    def load() -> dict:
        s = PrivacySettings.for_tenant(tenant)
        return {"dp": s.dp_enabled, "epsilon": s.epsilon, "max_epsilon": s.max_epsilon, "max_results": s.max_results}

    return cache.remember(cache.privacy_key(tenant.pk), RULES_TTL, load, local=True)


def popular_items(tenant: Tenant) -> list[tuple[str, float]]:
    """Return the most interacted-with live items of the last 30 days (all time if that is empty)."""

    def load() -> list[tuple[str, float]]:
        events = Event.objects.for_tenant(tenant).filter(item__is_deleted=False)
        latest = events.order_by("-timestamp").values_list("timestamp", flat=True).first()
        rows = []
        # Recent popularity, widening the window when it holds too few items to fill a page or two.
        for days in (30, 365, None) if latest else ():
            window = events if days is None else events.filter(timestamp__gte=latest - timedelta(days=days))
            counts = window.values("item__external_id").annotate(n=Count("id"))
            rows = list(counts.order_by("-n", "item__external_id")[:POPULAR_N])
            if len(rows) >= MIN_POPULAR:
                break
        ranked = [(row["item__external_id"], float(row["n"])) for row in rows]
        if len(ranked) < POPULAR_N:  # a young catalogue: fill up with the newest items nobody touched yet
            taken = {item for item, _ in ranked}
            newest = Item.objects.for_tenant(tenant).filter(is_deleted=False, available=True).order_by("-created_at", "-id")
            ranked += [(i, 0.0) for i in newest.values_list("external_id", flat=True)[: POPULAR_N * 2] if i not in taken]
        return ranked[:POPULAR_N]

    return [tuple(pair) for pair in cache.remember(cache.popular_key(tenant.pk), POPULAR_TTL, load)]


# ---- candidates ------------------------------------------------------------------------------


def user_pk(tenant: Tenant, user_external_id: str) -> int:
    pk = EndUser.objects.for_tenant(tenant).filter(external_id=user_external_id).values_list("id", flat=True).first()
    if pk is None:
        raise UnknownUser(user_external_id)
    return pk


def cache_reads(tenant: Tenant, user_external_id: str | None) -> list[str]:
    """Return the cache entries recommend() reads for this user (one MGET, or the throttle's round trip)."""
    version = active_version(tenant) if user_external_id is not None else None
    if not version:
        return []
    return [cache.ranking_key(version["id"], user_external_id), cache.last_event_key(tenant.pk, user_external_id)]


def precomputed(
    tenant: Tenant, version: dict, user_external_id: str, prefetched: dict[str, Any] | None = None
) -> dict | None:
    key = cache.ranking_key(version["id"], user_external_id)
    names = [key, cache.last_event_key(tenant.pk, user_external_id)]
    if prefetched is not None and all(name in prefetched for name in names):
        found = {name: prefetched[name] for name in names if prefetched[name] is not None}
    else:
        found = cache.get_many(names)
    ranking = found.get(key)
    if ranking is None:
        row = (
            Ranking.objects.for_tenant(tenant)
            .filter(version_id=version["id"], user_external_id=user_external_id)
            .values("user_id", "items", "computed_at")
            .first()
        )
        if row is None:
            return None
        ranking = {"user_id": row["user_id"], "items": row["items"], "computed_at": row["computed_at"].timestamp()}
        cache.set_many({key: ranking}, RANKING_TTL)
    last = found.get(cache.last_event_key(tenant.pk, user_external_id))
    return {**ranking, "fresh": last is not None and last > ranking["computed_at"]}


def live_model(version: dict) -> Reranker | None:
    """Return the active version's model, or None when its artifact cannot be loaded.

    Callers then fall back (stored ranking order, popularity): a damaged file on disk degrades
    scoring, it does not fail requests. The error is recorded on the version for staff.
    """
    try:
        return load_model(version["artifact_path"])
    except CorruptArtifact as exc:
        report_broken_artifact(version["id"], exc)
        return None


def content_candidates(version: dict, context: list[str], n: int = POPULAR_N) -> list[tuple[str, float]]:
    """Rank items by cosine similarity to the mean text embedding of the context items."""
    model = live_model(version)
    if model is None:
        return []
    index = {item: i for i, item in enumerate(model.item_ids)}
    rows = [index[c] for c in context if c in index]
    if not rows:
        return []
    embeddings = model.item_embeddings  # (N, 384), L2-normalised
    query = embeddings[rows].mean(axis=0)
    scores = embeddings @ query
    scores[rows] = -np.inf
    top = np.argsort(-scores)[:n]
    return [(model.item_ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]


def item_rows(tenant: Tenant, item_ids: Sequence[str]) -> dict[str, dict]:
    """Return the live catalogue rows of these ids; memoised per process for cache.ITEM_MEMO_SECONDS.

    When the tenant's memo expires, the ids it held (the hot ones, up to cache.ITEM_REFRESH_MAX) are
    read again in one query, rather than row by row as later requests miss them.
    """
    now = time.monotonic()
    expires, memo = cache.item_memo.get(tenant.pk) or (0.0, {})
    if expires <= now or len(memo) > cache.ITEM_MEMO_MAX:
        hot = list(memo) if len(memo) <= cache.ITEM_REFRESH_MAX else []
        memo = dict.fromkeys(hot)
        if hot:
            memo.update(fetch_item_rows(tenant, hot))
        cache.item_memo[tenant.pk] = (now + cache.ITEM_MEMO_SECONDS, memo)
    missing = [item_id for item_id in item_ids if item_id not in memo]
    if missing:
        memo.update(dict.fromkeys(missing))
        memo.update(fetch_item_rows(tenant, missing))
    found = {}
    for item_id in item_ids:
        row = memo.get(item_id)
        if row is not None:
            found[item_id] = row
    return found


def fetch_item_rows(tenant: Tenant, item_ids: Sequence[str]) -> dict[str, dict]:
    rows = Item.objects.for_tenant(tenant).filter(external_id__in=item_ids, is_deleted=False).values(
        "external_id", "title", "category", "tags", "attributes", "price", "available", "created_at"
    )
    return {row["external_id"]: row for row in rows}


def first_live(
    tenant: Tenant, scored: list[tuple[str, float]], n: int, rows: dict[str, dict] | None = None
) -> tuple[list[tuple[str, float]], dict[str, dict]]:
    """Return the first n scored items still in the catalogue, and their rows.

    Reads rows in slices a little larger than what is missing, so a page of 10 reads about 30 rows,
    not the whole precomputed list.
    """
    if rows is not None:
        return [(i, s) for i, s in scored if i in rows][:n], rows
    kept: list[tuple[str, float]] = []
    found: dict[str, dict] = {}
    start = 0
    while len(kept) < n and start < len(scored):
        chunk = scored[start : start + 2 * (n - len(kept)) + 10]
        start += len(chunk)
        found.update(item_rows(tenant, [i for i, _ in chunk]))
        kept += [(i, s) for i, s in chunk if i in found]
    return kept[:n], found


# ---- shaping ---------------------------------------------------------------------------------


def filter_rules(filters: dict[str, Any] | None) -> list[engine.Rule]:
    """Turn request filters into filter rules: a request filter is just a rule for one response."""
    if not filters:
        return []
    keep: list[dict] = []
    if filters.get("category"):
        keep.append({"field": "category", "op": "in", "value": list(filters["category"])})
    if filters.get("in_stock"):
        keep.append({"field": "available", "op": "eq", "value": True})
    if filters.get("price_min") is not None:
        keep.append({"field": "price", "op": "gte", "value": filters["price_min"]})
    if filters.get("price_max") is not None:
        keep.append({"field": "price", "op": "lte", "value": filters["price_max"]})
    for name, value in (filters.get("attributes") or {}).items():
        keep.append({"field": f"attributes.{name}", "op": "eq", "value": value})
    if not keep:
        return []
    params = engine.validate_rule("filter", {"when": {"not": {"all": keep}}})
    return [engine.Rule(id="request", name="request filters", kind="filter", params=params, priority=10**6)]


def to_candidates(scored: list[tuple[str, float]], rows: dict[str, dict]) -> list[engine.Candidate]:
    out = []
    for item_id, score in scored:
        row = rows.get(item_id)
        if row is None:
            continue  # deleted since the ranking was computed
        out.append(
            engine.Candidate(
                item_id=item_id, score=score, category=row["category"], tags=row["tags"] or [],
                attributes=row["attributes"] or {}, price=float(row["price"]) if row["price"] is not None else None,
                available=row["available"], created_at=row["created_at"],
            )
        )
    return out


def shape(
    tenant: Tenant, scored: list[tuple[str, float]], *, k: int, offset: int = 0, filters: dict | None = None,
    rules: list[engine.Rule] | None = None, explain: bool = False, epsilon: float | None = None,
    rows: dict[str, dict] | None = None, use_dp: bool = True, subject: str | None = None,
) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Apply filters, DP and rules to a scored list; return (items, removed, not_applied, privacy)."""
    tenant_rules_now = tenant_rules(tenant) if rules is None else rules
    request_filters = filter_rules(filters)
    privacy = privacy_of(tenant) if use_dp else {"dp": False}
    now = timezone.now()
    used = {"dp": privacy["dp"]}
    if not privacy["dp"] and not request_filters and not any(r.is_live(now) for r in tenant_rules_now):
        # Fast path: nothing to apply, so the model's order is the answer (the common case).
        kept, rows = first_live(tenant, scored, offset + k, rows)
        return render_in_order(kept[offset:], rows, offset, explain), [], [], used
    rows = item_rows(tenant, [i for i, _ in scored]) if rows is None else rows
    candidates = to_candidates(scored, rows)
    if privacy["dp"] and candidates:
        eps = privacy["epsilon"] if epsilon is None else epsilon
        if not 0 < eps <= privacy["max_epsilon"]:
            raise ServingError("epsilon", f"Must be greater than 0 and at most {privacy['max_epsilon']:g}.")
        if k > privacy["max_results"] or offset:
            raise ServingError("k", f"Under differential privacy at most {privacy['max_results']} results, first page only.")
        # 1. Hard filters first: they use public item data only.
        filters_only = [r for r in tenant_rules_now + request_filters if r.kind == "filter"]
        kept = engine.apply_rules(candidates, filters_only, now=now)
        survivors = {c.item_id: c for c in candidates}
        pool = [survivors[r.item_id] for r in kept.items]
        if pool:
            # 2. Private top-k on min-max normalised scores (sensitivity 1), then rules as post-processing.
            # Sticky noise (services/sticky_noise.py): the same list state gets the same list, in every process.
            chosen = sticky_noise.private_top_k(tenant, subject, scored, [(c.item_id, c.score) for c in pool],
                                                min(k, len(pool)), eps, privacy["max_results"])
            pool = [pool[i] for i in chosen]
            for rank, c in enumerate(pool):
                c.score = float(len(pool) - rank)  # the noisy order, not the score
        outcome = engine.apply_rules(pool, [r for r in tenant_rules_now if r.kind != "filter"], k=k, now=now)
        outcome.removed = kept.removed + outcome.removed
        used.update({"epsilon": eps, "mechanism": "gumbel-top-k (exponential mechanism)", "max_results": privacy["max_results"],
                     "sticky": True})
    else:
        outcome = engine.apply_rules(candidates, tenant_rules_now + request_filters, k=offset + k, now=now)
    return render(outcome, rows, offset, k, explain, used)


def render(
    outcome: engine.RuleOutcome, rows: dict[str, dict], offset: int, k: int, explain: bool, used: dict
) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Turn a rule outcome into response items (model scores hidden under DP)."""
    items = []
    for ranked in outcome.items[offset : offset + k]:
        item = item_body(ranked.item_id, ranked.position, None if used["dp"] else round(ranked.score, 6),
                         rows[ranked.item_id])
        if explain:
            item["explain"] = {
                "model_score": None if used["dp"] else round(ranked.model_score, 6),
                "model_position": ranked.model_position,
                "effects": [effect_dict(e) for e in ranked.effects],
            }
        items.append(item)
    removed = [{"item_id": item_id, **effect_dict(e)} for item_id, e in outcome.removed] if explain else []
    not_applied = [effect_dict(e) for e in outcome.not_applied] if explain else []
    return items, removed, not_applied, used


def render_in_order(scored: list[tuple[str, float]], rows: dict[str, dict], offset: int, explain: bool) -> list[dict]:
    """Response items for a list no rule touched: what render() gives for it, without the rule outcome."""
    items = []
    for position, (item_id, score) in enumerate(scored, start=offset + 1):
        score = round(score, 6)
        item = item_body(item_id, position, score, rows[item_id])
        if explain:
            item["explain"] = {"model_score": score, "model_position": position, "effects": []}
        items.append(item)
    return items


def item_body(item_id: str, position: int, score: float | None, row: dict) -> dict:
    """One served item as the response shows it (both renderers)."""
    price = row["price"]
    return {
        "item_id": item_id, "position": position, "score": score, "title": row["title"],
        "category": row["category"], "price": float(price) if price is not None else None,
        "available": row["available"],
    }


def effect_dict(effect: engine.Effect) -> dict:
    return {
        "rule_id": effect.rule_id, "rule_name": effect.rule_name, "kind": effect.kind,
        "delta": None if effect.delta is None else round(effect.delta, 6), "detail": effect.detail,
    }


# ---- entry points ----------------------------------------------------------------------------


def recommend(
    tenant: Tenant, user_external_id: str | None, *, k: int = 10, page: int = 1, filters: dict | None = None,
    context: list[str] | None = None, explain: bool = False, epsilon: float | None = None,
    prefetched: dict[str, Any] | None = None,
) -> Served:
    """Return a user's top k: precomputed (re-scored if they just acted), else content or popular.

    `prefetched` holds cache entries named by cache_reads() that were already read (None if missing).
    """
    if not 1 <= k <= MAX_K:
        raise ServingError("k", f"Must be between 1 and {MAX_K}.")
    if page < 1 or (page - 1) * k >= MAX_K * 2:
        raise ServingError("page", "Out of range.")
    version = active_version(tenant)
    ranking = None
    if user_external_id is not None:
        if version:
            ranking = precomputed(tenant, version, user_external_id, prefetched)
        if ranking is None:
            user_pk(tenant, user_external_id)  # 404 for ids that are not this tenant's users
    fresh = False
    if ranking is not None:
        scored = ranking["items"]  # [item, score] pairs, read for this request alone
        strategy = "precomputed"
        model = live_model(version) if ranking["fresh"] else None
        if model is not None:
            history = histories_for(tenant, [ranking["user_id"]])[ranking["user_id"]]
            seen = set(history.item_ids) if TrainingPolicy.for_tenant(tenant).exclude_seen else set()
            rescored = model.rerank(history, [i for i, _ in scored[:FRESH_RESCORE] if i not in seen])
            scored = rescored + [(i, s) for i, s in scored[FRESH_RESCORE:] if i not in seen]
            strategy, fresh = "precomputed+fresh", True
    elif context and version and (content := content_candidates(version, context)):
        scored, strategy = content, "content"
    else:
        scored, strategy = popular_items(tenant), "popular"
        skip = set(context or [])
        if user_external_id is not None and TrainingPolicy.for_tenant(tenant).exclude_seen:
            skip |= set(Event.objects.for_tenant(tenant).filter(user__external_id=user_external_id).values_list("item__external_id", flat=True))
        scored = [(i, s) for i, s in scored if i not in skip]
    items, removed, not_applied, privacy = shape(
        tenant, scored, k=k, offset=(page - 1) * k, filters=filters, explain=explain, epsilon=epsilon,
        subject=user_external_id,
    )
    return Served(
        items=items, strategy=strategy, version=version["number"] if version else None, fresh=fresh,
        removed=removed, not_applied=not_applied, privacy=privacy,
    )


def rerank(
    tenant: Tenant, *, candidates: list[str], user_external_id: str | None = None,
    recent_items: list[str] | None = None, k: int | None = None, explain: bool = False, epsilon: float | None = None,
    use_dp: bool = True, rules: list[engine.Rule] | None = None,
) -> Served:
    """Score a client's candidate list live with the active model; unknown items go last, listed."""
    if not candidates:
        raise ServingError("candidates", "Give at least one item id.")
    if len(candidates) > MAX_CANDIDATES:
        raise ServingError("candidates", f"At most {MAX_CANDIDATES} items; got {len(candidates)}.")
    candidates = list(dict.fromkeys(candidates))
    k = len(candidates) if k is None else k
    if not 1 <= k <= MAX_CANDIDATES:
        raise ServingError("k", f"Must be between 1 and {MAX_CANDIDATES}.")
    if user_external_id is not None:
        history = histories_for(tenant, [user_pk(tenant, user_external_id)])
        history = next(iter(history.values()))
    else:
        history = History(item_ids=list(recent_items or []))
    rows = item_rows(tenant, candidates)
    unknown = [c for c in candidates if c not in rows]
    version = active_version(tenant)
    model = live_model(version) if version else None
    if model is not None:
        scored = model.rerank(history, [c for c in candidates if c in rows])
        strategy = "live"
    else:
        popularity = dict(popular_items(tenant))
        scored = sorted(((c, popularity.get(c, 0.0)) for c in candidates if c in rows), key=lambda p: -p[1])
        strategy = "popular"
    # Catalogue items the model has not seen yet (added since training) follow the scored ones.
    floor = min((s for _, s in scored), default=0.0) - 1.0
    scored_ids = {i for i, _ in scored}
    scored += [(c, floor) for c in candidates if c in rows and c not in scored_ids]
    items, removed, not_applied, privacy = shape(
        tenant, scored, k=min(k, len(scored)) or 1, explain=explain, epsilon=epsilon, rows=rows, use_dp=use_dp,
        rules=rules, subject=user_external_id,
    ) if scored else ([], [], [], {"dp": use_dp and privacy_of(tenant)["dp"]})
    start = len(items)
    items += [{"item_id": c, "position": start + n + 1, "score": None, "unknown": True} for n, c in enumerate(unknown)]
    return Served(
        items=items, strategy=strategy, version=version["number"] if version else None, removed=removed,
        unknown=unknown, not_applied=not_applied, privacy=privacy,
    )


def preview(
    tenant: Tenant, *, user_external_id: str | None = None, candidates: list[str] | None = None,
    rules: list[engine.Rule] | None = None, k: int = 10,
) -> tuple[Served, Served]:
    """Return (before rules, after rules) for a user or a pasted candidate list; `rules` may be drafts."""
    if candidates:
        base = rerank(tenant, candidates=candidates, user_external_id=user_external_id, explain=True, use_dp=False, rules=[])
        scored = [(i["item_id"], i["explain"]["model_score"]) for i in base.items if not i.get("unknown")]
        strategy, version = base.strategy, base.version
    else:
        if user_external_id is None:
            raise ServingError("user_id", "Give a user id or a candidate list.")
        version_row = active_version(tenant)
        ranking = precomputed(tenant, version_row, user_external_id) if version_row else None
        if ranking is None:
            user_pk(tenant, user_external_id)
            scored, strategy = popular_items(tenant), "popular"
        else:
            scored, strategy = [tuple(p) for p in ranking["items"]], "precomputed"
        version = version_row["number"] if version_row else None
    rows = item_rows(tenant, [i for i, _ in scored])
    results = []
    for rule_set in ([], rules):
        items, removed, not_applied, _ = shape(
            tenant, scored, k=k, rules=rule_set, explain=True, rows=rows, use_dp=False
        )
        results.append(Served(items=items, strategy=strategy, version=version, removed=removed, not_applied=not_applied))
    return results[0], results[1]
