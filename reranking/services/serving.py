"""Serve recommendations and live re-ranking, shaped by the tenant's rules and privacy settings.

Order for every served list: candidates (precomputed ranking, re-scored online when the user acted
since; or a fallback) -> filters -> [DP: private top-k selection on normalised model scores] ->
boosts/buries -> diversity -> pins (reranking/rules.py). Under DP, the rules only re-order the k items
the mechanism selected (post-processing keeps the guarantee) and model scores are not returned.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Sequence

import numpy as np
import orjson
from django.db.models import Count
from django.utils import timezone

from reranking import rules as engine
from reranking.ml.artifact import CorruptArtifact, History, Reranker
from reranking.models import (
    EndUser, Event, Item, ItemEmbedding, ModelVersion, PrivacySettings, Ranking, Rule, TrainingPolicy,
)
from reranking.models.served import DEFAULT_PLACEMENT  # where a request naming no placement is served
from tenants.models import Tenant

from . import cache, experiments, sticky_noise
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
SEEN_TTL = 3600  # a user's seen items for popular lists; a new event or an erasure ends it sooner
POPULAR_TTL = 600
LIVE_N = 2 * MAX_K  # items a live list keeps: every page a request may ask for
NEWER_CANDIDATES = 20  # items added since training that join a list, the closest by text to the history
NEWER_QUERY = 20  # most recent history items whose texts the newer items are compared with
# Share of a list's first 10 places given to the best-scored items added since training (exploration
# slots, as Personalize's exploration weight): the scorer never saw them and ranks them low otherwise.
NEWER_EXPLORE = 0.2
NEWER_MAX = 20_000  # items added since training that text-neighbour search covers
NEWER_TTL = 10.0  # seconds a process reuses its list of newer items (embedding runs are debounced anyway)
_newer_memo: dict[tuple[int, int], tuple[float, list[str], list[np.ndarray], dict]] = {}
FILL_N = 300  # catalogue rows one fill reads and scores: bounded work per short list
# A filter's catalogue pool (its popular, then newest matching items) is read once per FILL_POOL_TTL and
# shared by every user and process; each user's fill from it is held FILL_TTL: an item added to the
# catalogue joins filled lists within FILL_POOL_TTL + FILL_TTL (2 minutes, as docs/serving-live.md says).
FILL_POOL_TTL = 30
FILL_TTL = 90
LIVE_TTL = 600  # a list for one exact history; the user's next event makes a new one


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
    placement: str = DEFAULT_PLACEMENT
    arm: experiments.Arm | None = None  # the A/B arm it was served under (services/experiments.py)


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


def excludes_seen(tenant: Tenant) -> bool:
    """Return the training policy's exclude_seen (whether a user's own items are left out of their lists), cached."""

    def load() -> dict:
        return {"exclude_seen": TrainingPolicy.for_tenant(tenant).exclude_seen}

    return cache.remember(cache.policy_key(tenant.pk), RULES_TTL, load, local=True)["exclude_seen"]


def popular_items(tenant: Tenant, prefetched: dict[str, Any] | None = None) -> list[tuple[str, float]]:
    """Return the most interacted-with live items of the last 30 days (all time if that is empty)."""
    key = cache.popular_key(tenant.pk)
    if prefetched and prefetched.get(key) is not None:
        return [tuple(pair) for pair in prefetched[key]]

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

    return [tuple(pair) for pair in cache.remember(key, POPULAR_TTL, load)]


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
    routed = experiments.version_for(experiments.route(tenant, user_external_id), version)
    if routed is None:  # an experiment's popular arm: the user's seen items and the popular list
        return [cache.last_event_key(tenant.pk, user_external_id), cache.seen_key(tenant.pk, user_external_id),
                cache.popular_key(tenant.pk)]
    return [cache.ranking_key(routed["id"], user_external_id), cache.last_event_key(tenant.pk, user_external_id),
            cache.live_user_key(routed["id"], user_external_id)]


def cached(names: list[str], prefetched: dict[str, Any] | None) -> dict[str, Any]:
    """Return the cache entries named that exist: from `prefetched` (the throttle's round trip) when it read
    them all, else in one MGET."""
    if prefetched is not None and all(name in prefetched for name in names):
        return {name: prefetched[name] for name in names if prefetched[name] is not None}
    return cache.get_many(names)


def fresh_entry(tenant: Tenant, key: str, user_external_id: str | None, prefetched: dict[str, Any] | None) -> Any | None:
    """Return the cache entry `key` (a dict with the time "at" it was made) unless the user has acted since
    (the freshness mark ingestion sets is not older); None when it is missing or stale. Without a user id
    (a session) only its TTL ends it."""
    names = [key, *([cache.last_event_key(tenant.pk, user_external_id)] if user_external_id is not None else [])]
    found = cached(names, prefetched)
    entry, last = found.get(key), found.get(names[-1]) if len(names) > 1 else None
    if entry is None or (last is not None and last >= entry["at"]):
        return None
    return entry


def seen_items(tenant: Tenant, user_external_id: str, prefetched: dict[str, Any] | None = None) -> tuple[int, list[str]]:
    """Return (pk, items of the user's recent history) for lists that only leave seen items out: popular
    items for an experiment's holdout or popular arm, or for a tenant without a model.

    Kept in the shared cache until the user acts again (the freshness mark ingestion sets is newer than
    the entry) or is erased (erase_user deletes it), so a request costs one MGET, not two queries.
    Raises UnknownUser for an id that is not one of the tenant's users.
    """
    key = cache.seen_key(tenant.pk, user_external_id)
    entry = fresh_entry(tenant, key, user_external_id, prefetched)
    if entry is not None:
        return entry["user_id"], entry["items"]
    at = time.time()  # before the read: an event stored meanwhile marks the entry stale
    pk = user_pk(tenant, user_external_id)
    items = histories_for(tenant, [pk])[pk].item_ids
    cache.set_many({key: {"user_id": pk, "items": items, "at": at}}, SEEN_TTL)
    return pk, items


def precomputed(
    tenant: Tenant, version: dict, user_external_id: str, prefetched: dict[str, Any] | None = None
) -> dict | None:
    key = cache.ranking_key(version["id"], user_external_id)
    found = cached([key, cache.last_event_key(tenant.pk, user_external_id)], prefetched)
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


def current_stamp(tenant: Tenant, version: dict) -> str:
    """Return newer_stamp without loading the model when no item was added since training (the usual case)."""
    if not newer_rows(tenant, version)[0]:
        return ""
    model = live_model(version)
    return newer_stamp(tenant, version, model) if model is not None else ""


def live_user(tenant: Tenant, version: dict, user_external_id: str, prefetched: dict[str, Any] | None = None) -> dict | None:
    """Return the stored live list of a user without a precomputed ranking, while it still holds: written
    by store_live_user after the live model scored their history, it ends with their next event (the
    freshness mark ingestion sets is newer), with items added to the catalogue since (the newer-items
    stamp), with a change of the seen-items policy, or when the user is erased (erase_user deletes it).

    A held entry answers without a query: no ranking lookup, no user or history read, no scoring.
    """
    entry = fresh_entry(tenant, cache.live_user_key(version["id"], user_external_id), user_external_id, prefetched)
    if entry is None:
        return None
    if entry["exclude"] != excludes_seen(tenant) or entry["stamp"] != current_stamp(tenant, version):
        return None
    return entry


def store_live_user(tenant: Tenant, version: dict, user_external_id: str, entry: dict) -> None:
    cache.set_many({cache.live_user_key(version["id"], user_external_id): entry}, LIVE_TTL)


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


def newer_rows(tenant: Tenant, version: dict) -> tuple[list[str], list[np.ndarray], dict]:
    """Return the live items created since the version was (its training read the catalogue after
    that) that have a text embedding, their vectors, and a dict where newer_items keeps what it derives
    from them. Memoised per process for NEWER_TTL seconds.

    Only items created since are read, so a plain precomputed read costs one small indexed query every
    NEWER_TTL seconds, and loads no model when there are none.
    """
    key = (tenant.pk, version["id"])
    hit = _newer_memo.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2], hit[3]
    since = ModelVersion.objects.filter(pk=version["id"]).values_list("created_at", flat=True).first()
    rows = (
        ItemEmbedding.objects.for_tenant(tenant).filter(item__is_deleted=False, item__created_at__gte=since)
        .order_by("-item_id").values_list("item__external_id", "vector")[:NEWER_MAX]
    ) if since is not None else []
    ids = [item_id for item_id, _ in rows]
    vectors = [np.frombuffer(bytes(vector), dtype=np.float32) for _, vector in rows]
    if len(_newer_memo) > 1000:
        _newer_memo.clear()
    derived: dict = {}
    _newer_memo[key] = (time.monotonic() + NEWER_TTL, ids, vectors, derived)
    return ids, vectors, derived


def newer_items(tenant: Tenant, version: dict, model: Reranker) -> tuple[list[str], np.ndarray]:
    """Return the live items the version was not trained with that have a text embedding, and their
    (M, 384) vectors: the catalogue added since training (see newer_rows)."""
    return newer_derived(tenant, version, model)["items"]


def newer_derived(tenant: Tenant, version: dict, model: Reranker) -> dict:
    """Derive, once per memo refresh rather than per request (a version's model is one artifact), the
    newer items the model does not know with their stacked vectors, and their digest (newer_stamp)."""
    ids, vectors, derived = newer_rows(tenant, version)
    if "items" not in derived:
        rows = [(i, v) for i, v in zip(ids, vectors) if not model.knows(i)]
        matrix = np.stack([v for _, v in rows]) if rows else np.zeros((0, model.item_embeddings.shape[1]), dtype=np.float32)
        unknown_ids = [i for i, _ in rows]
        # One update: a thread of this process reading the memo meanwhile sees all three or none.
        derived.update({
            "items": (unknown_ids, matrix), "counts": newer_counts(tenant, version, unknown_ids),
            "stamp": hashlib.sha1("\n".join(unknown_ids).encode()).hexdigest()[:12] if unknown_ids else "",
        })
    return derived


def text_neighbours(
    tenant: Tenant, version: dict, model: Reranker, query: Sequence[str], n: int = POPULAR_N, newer_only: bool = False
) -> list[tuple[str, float]]:
    """Rank items by cosine similarity of their text to the mean text embedding of `query` (whose
    items may be new), over the version's items and the newer ones (only the newer with `newer_only`)."""
    vectors = text_vectors(tenant, list(query))
    if not vectors:
        return []
    centre = np.mean(list(vectors.values()), axis=0)
    centre = centre / (np.linalg.norm(centre) or 1.0)
    new_ids, new_matrix = newer_items(tenant, version, model)
    ids = new_ids if newer_only else [*model.item_ids, *new_ids]
    scores = new_matrix @ centre if newer_only else np.concatenate([model.item_embeddings @ centre, new_matrix @ centre])
    skip = set(query)
    top = np.argsort(-scores)[: n + len(skip)]
    return [(ids[i], float(scores[i])) for i in top if ids[i] not in skip][:n]


def newer_counts(tenant: Tenant, version: dict, ids: list[str]) -> np.ndarray:
    """Return the events on each of `ids` (items added since training) so far: one grouped query per
    memo refresh, over the newer items' events only."""
    if not ids:
        return np.zeros(0)
    since = ModelVersion.objects.filter(pk=version["id"]).values_list("created_at", flat=True).first()
    counted = dict(
        Event.objects.for_tenant(tenant).filter(item__created_at__gte=since, item__external_id__in=ids)
        .values("item__external_id").annotate(n=Count("id")).values_list("item__external_id", "n")
    ) if since is not None else {}
    return np.array([counted.get(i, 0) for i in ids], dtype=np.float64)


def newer_stamp(tenant: Tenant, version: dict, model: Reranker) -> str:
    """Return a short digest of the items added since training ("" when there are none): it names the
    lists re-scored with them, so a newly embedded item makes new ones."""
    return newer_derived(tenant, version, model)["stamp"]


def with_newer(
    tenant: Tenant, version: dict, model: Reranker, history: History, scored: Sequence, skip: set[str]
) -> list[tuple[str, float]]:
    """Re-score the head of a list over `history`, joined by the items added since training whose text
    is closest to the history's (the text-neighbour source over newer items); the tail follows as it was."""
    new_ids, matrix = newer_items(tenant, version, model)
    head = [i for i, _ in scored[:FRESH_RESCORE] if i not in skip]
    rescored = model.rerank_with_new(history, head, new_ids, matrix, n_near=NEWER_CANDIDATES, query=NEWER_QUERY,
                                     skip=skip, new_counts=newer_derived(tenant, version, model)["counts"],
                                     explore=NEWER_EXPLORE)
    return rescored + [(i, s) for i, s in scored[FRESH_RESCORE:] if i not in skip]


def live_list(
    tenant: Tenant, version: dict, model: Reranker, history: History, exclude_seen: bool, stamp: str
) -> list[tuple[str, float]]:
    """The model's list for a history (what precompute would store), joined by the newer items like it
    when there are any (`stamp`, see with_newer)."""
    ranked = model.recommend([history], k=LIVE_N, exclude_seen=exclude_seen)[0]
    if not stamp:
        return ranked
    return with_newer(tenant, version, model, history, ranked, set(history.item_ids) if exclude_seen else set())


def fused(lists: Sequence[list[tuple[str, float]]], n: int = LIVE_N) -> list[tuple[str, float]]:
    """Blend ranked lists by reciprocal rank fusion (Cormack et al., SIGIR 2009): sum of 1 / (60 + rank)."""
    scores: dict[str, float] = {}
    for ranked in lists:
        for rank, (item_id, _) in enumerate(ranked):
            scores[item_id] = scores.get(item_id, 0.0) + 1.0 / (60 + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])[:n]


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
        # One update (atomic under the GIL): another thread must never read a row as None (not live) in between.
        memo.update({**dict.fromkeys(missing), **fetch_item_rows(tenant, missing)})
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


def named_items(condition: Any) -> list[str]:
    """Return the item ids a condition names with item_id eq/in (in order)."""
    if not isinstance(condition, dict):
        return []
    if condition.get("field") == "item_id" and condition.get("op") in ("eq", "in"):
        value = condition.get("value")
        return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
    nested = condition.get("all") or condition.get("any") or []
    return [item for part in nested for item in named_items(part)]


def promotion_extras(
    tenant: Tenant, rules: list[engine.Rule], now, scored: list[tuple[str, float]]
) -> list[tuple[str, float]]:
    """Return items to add below the scored list so live pins and promotions can place them.

    A pin's item; for a promotion, the items its condition names and the popular items it matches
    (bounded: POPULAR_N rows, already memoised). They score below every proposed item, so they move
    only when a rule moves them (or fill a list the filters left short).
    """
    live = [r for r in rules if r.is_live(now) and r.kind in ("pin", "promote")]
    if not live:
        return []
    have = {i for i, _ in scored}
    wanted: list[str] = []
    for r in live:
        if r.kind == "pin":
            wanted.append(r.params.get("item_id"))
            continue
        wanted += named_items(r.params.get("when"))
        popular = [i for i, _ in popular_items(tenant) if i not in have]
        rows = item_rows(tenant, popular)
        test = engine.compile_condition(r.params["when"])  # as apply_rules tests each candidate
        wanted += [c.item_id for c in to_candidates([(i, 0.0) for i in popular], rows) if test(c, now)]
    wanted = [i for i in dict.fromkeys(wanted) if isinstance(i, str) and i not in have]
    floor = min((s for _, s in scored), default=0.0) - 1.0
    return [(item_id, floor - n * 1e-6) for n, item_id in enumerate(wanted)]


def text_vectors(tenant: Tenant, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Return the text embeddings of these items: the active model's copy for the items it was trained
    with, the stored ItemEmbedding (embedded on upsert) for the others."""
    version = active_version(tenant)
    model = live_model(version) if version else None
    found = model.text_vectors(item_ids) if model is not None else {}
    missing = [i for i in item_ids if i not in found]
    for part in range(0, len(missing), 1000):
        rows = ItemEmbedding.objects.for_tenant(tenant).filter(
            item__external_id__in=missing[part : part + 1000], item__is_deleted=False
        ).values_list("item__external_id", "vector")
        found.update((item_id, np.frombuffer(bytes(vector), dtype=np.float32)) for item_id, vector in rows)
    return found


def needs_embeddings(rules: list[engine.Rule], now) -> bool:
    """Whether a live MMR diversity rule will compare item texts."""
    return any(r.kind == "diversity" and "mmr_lambda" in (r.params or {}) and r.is_live(now) for r in rules)


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
    rows: dict[str, dict] | None = None, use_dp: bool = True, placement: str = DEFAULT_PLACEMENT,
    promote: bool = False, subject: str | None = None,
) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Apply filters, DP and rules to a scored list; return (items, removed, not_applied, privacy).

    Only the rules for `placement` apply. With `promote` (lists the platform proposes, not a client's
    candidate list) pinned and promotable items join the candidates even when the model did not propose
    them (see promotion_extras).
    """
    tenant_rules_now = [r for r in (tenant_rules(tenant) if rules is None else rules) if engine.applies_to(r, placement)]
    request_filters = filter_rules(filters)
    privacy = privacy_of(tenant) if use_dp else {"dp": False}
    now = timezone.now()
    used = {"dp": privacy["dp"]}
    if not privacy["dp"] and not request_filters and not any(r.is_live(now) for r in tenant_rules_now):
        # Fast path: nothing to apply, so the model's order is the answer (the common case).
        kept, rows = first_live(tenant, scored, offset + k, rows)
        return render_in_order(kept[offset:], rows, offset, explain), [], [], used
    if promote and not privacy["dp"]:
        scored = scored + promotion_extras(tenant, tenant_rules_now, now, scored)
        rows = None  # the extras need their rows too
    rows = item_rows(tenant, [i for i, _ in scored]) if rows is None else rows
    candidates = to_candidates(scored, rows)
    if needs_embeddings(tenant_rules_now, now):
        vectors = text_vectors(tenant, [c.item_id for c in candidates])
        for c in candidates:
            c.embedding = vectors.get(c.item_id)
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


# ---- live lists ------------------------------------------------------------------------------


def history_key(version_id: int, kind: str, history: History) -> str:
    """Name a list computed from one history by one version: the same history gets the same entry."""
    payload = orjson.dumps([history.item_ids, history.timestamps or [], history.event_types or []])
    return f"recs:live:{version_id}:{kind}:{hashlib.sha1(payload).hexdigest()}"


def shared_list(
    version: dict, kind: str, history: History, compute: Callable[[Reranker], list[tuple[str, float]]]
) -> list[tuple[str, float]] | None:
    """Return the list `compute(model)` gives for this history, computed once and shared through the cache.

    Every web process answers a user who just acted with the same list: the first to see the new
    history stores it, the others read it (a new event changes the history, and so the key). None
    when the list is not stored and the version's model cannot be loaded.
    """
    key = history_key(version["id"], kind, history)
    found = cache.get_many([key]).get(key)
    if found is None:
        model = live_model(version)
        if model is None:
            return None
        found = compute(model)
        cache.set_many({key: found}, LIVE_TTL)
    return [tuple(pair) for pair in found]


def live_candidates(
    tenant: Tenant, version: dict | None, pk: int | None, context: list[str] | None
) -> tuple[list[tuple[str, float]], str]:
    """Score a user without a precomputed ranking (by their events) or an anonymous session (the
    `context` items) with the active model: the candidate sources and scorer precompute uses.

    Falls back to text similarity, then to popular items, which are the last resort: a request with
    no history the model can use.
    """
    if pk is not None:
        history = histories_for(tenant, [pk])[pk]
        exclude_seen = excludes_seen(tenant)
    else:
        history = History(item_ids=list(context or []))
        exclude_seen = True  # the items a visitor is looking at are not recommendations
    skip = set(history.item_ids) if exclude_seen else set()
    model = live_model(version) if version and history.item_ids else None
    if model is not None:
        def compute(model: Reranker) -> list[tuple[str, float]]:
            if not any(map(model.knows, history.item_ids)):
                return []
            return live_list(tenant, version, model, history, exclude_seen, stamp)

        stamp = newer_stamp(tenant, version, model)
        kind = f"live:{stamp}"
        scored = [(i, s) for i, s in shared_list(version, kind, history, compute) or [] if i not in skip]
        if scored:
            return scored, "live"
        # Only items the model has not seen (new ones): their texts are what is known.
        if content := text_neighbours(tenant, version, model, history.item_ids):
            return [(i, s) for i, s in content if i not in skip], "content"
    return [(i, s) for i, s in popular_items(tenant) if i not in skip], "popular"


def fill_candidates(
    tenant: Tenant, version: dict | None, filters: dict | None, user: int | None, context: list[str] | None,
    scored: list[tuple[str, float]],
) -> list[tuple[str, float]]:
    """Return live catalogue items matching the request's filters that `scored` lacks, best first and
    scored below it, to fill a list the filters (or a deep page) left short.

    Bounded work: at most FILL_N rows -- the filter's popular items first, then its newest -- scored
    by the active model over the request's history (by popularity without a model or a history).
    """
    if user is not None:
        history = histories_for(tenant, [user])[user]
        skip = set(history.item_ids) if excludes_seen(tenant) else set()
    else:
        history, skip = History(item_ids=list(context or [])), set(context or [])
    have = {i for i, _ in scored} | skip
    popularity = dict(popular_items(tenant))
    pool = [i for i in fill_pool(tenant, filters) if i not in have][:FILL_N]
    if not pool:
        return []
    model = live_model(version) if version and history.item_ids else None
    ranked = [i for i, _ in model.rerank(history, pool)] if model is not None else []
    taken = set(ranked)
    ranked += sorted((i for i in pool if i not in taken), key=lambda i: -popularity.get(i, 0.0))
    floor = min((s for _, s in scored), default=0.0) - 1.0
    return [(item_id, floor - n * 1e-6) for n, item_id in enumerate(ranked)]


def filters_digest(filters: dict | None) -> str:
    """Name a request's filters in cache keys: equal filters, in any key order, get one name."""
    return hashlib.sha1(orjson.dumps(filters or {}, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def fill_pool(tenant: Tenant, filters: dict | None) -> list[str]:
    """Return the catalogue items matching the filters that a fill may take: the popular ones (most popular
    first), then the newest; enough that FILL_N remain after a user's list and seen items are left out.

    The same for every user, so it is read once per FILL_POOL_TTL and shared through the cache.
    """
    asked = filters_digest(filters)
    filters = filters or {}

    def load() -> list[str]:
        items = Item.objects.for_tenant(tenant).filter(is_deleted=False)
        if filters.get("category"):
            items = items.filter(category__in=filters["category"])
        if filters.get("in_stock"):
            items = items.filter(available=True)
        if filters.get("price_min") is not None:
            items = items.filter(price__gte=filters["price_min"])
        if filters.get("price_max") is not None:
            items = items.filter(price__lte=filters["price_max"])
        popularity = [i for i, _ in popular_items(tenant)]
        popular = set(items.filter(external_id__in=popularity).values_list("external_id", flat=True))
        # Twice FILL_N: a user's own list and seen items are taken out of the pool afterwards.
        newest = items.order_by("-id").values_list("external_id", flat=True)[:2 * FILL_N]
        return list(dict.fromkeys([*(i for i in popularity if i in popular), *newest]))

    return cache.remember(cache.fill_pool_key(tenant.pk, asked), FILL_POOL_TTL, load)


def held_fill(
    tenant: Tenant, version: dict | None, filters: dict | None, user: int | None, user_external_id: str | None,
    context: list[str] | None, scored: list[tuple[str, float]], prefetched: dict[str, Any] | None,
) -> list[tuple[str, float]]:
    """fill_candidates, kept in the shared cache per (version, user or session, filters) for FILL_TTL
    seconds or until the user's next event: a filtered list is asked for page after page, by every
    process, and its fill reads the catalogue and scores up to FILL_N items.

    The served list is shaped from it on every read, so an item that stopped matching (out of stock,
    deleted) is still filtered out; an item added since shows within FILL_POOL_TTL + FILL_TTL (fill_pool).
    """
    subject = f"u{user}" if user is not None else "c" + hashlib.sha1(orjson.dumps(context or [])).hexdigest()
    asked = filters_digest(filters)
    key = cache.fill_key(tenant.pk, version["id"] if version else 0, subject, asked)
    entry = fresh_entry(tenant, key, user_external_id, prefetched)
    if entry is not None:
        return [tuple(pair) for pair in entry["items"]]
    at = time.time()  # before the reads: an event stored meanwhile ends the entry
    extra = fill_candidates(tenant, version, filters, user, context, scored)
    cache.set_many({key: {"at": at, "items": extra}}, FILL_TTL)
    return extra


# ---- entry points ----------------------------------------------------------------------------


def recommend(
    tenant: Tenant, user_external_id: str | None, *, k: int = 10, page: int = 1, filters: dict | None = None,
    context: list[str] | None = None, explain: bool = False, epsilon: float | None = None,
    prefetched: dict[str, Any] | None = None, placement: str = DEFAULT_PLACEMENT, session_id: str | None = None,
) -> Served:
    """Return a user's top k: precomputed (re-scored if they just acted), else content or popular.

    `prefetched` holds cache entries named by cache_reads() that were already read (None if missing).
    """
    if not 1 <= k <= MAX_K:
        raise ServingError("k", f"Must be between 1 and {MAX_K}.")
    if page < 1 or (page - 1) * k >= MAX_K * 2:
        raise ServingError("page", "Out of range.")
    version = active_version(tenant)
    # A/B experiment (issue 15): the arm may pick another version, or none (popular items).
    arm = experiments.route(tenant, user_external_id, session_id)
    version = experiments.version_for(arm, version)
    ranking = None
    pk = None
    seen_by_user: list[str] | None = None  # for popular items: what they leave out
    held: dict | None = None  # a user without a ranking whose live list still holds (live_user)
    if user_external_id is not None:
        if version:
            held = live_user(tenant, version, user_external_id, prefetched)
            ranking = precomputed(tenant, version, user_external_id, prefetched) if held is None else None
            if ranking is None:
                # 404 for ids that are not this tenant's users
                pk = held["user_id"] if held is not None else user_pk(tenant, user_external_id)
        else:  # popular items (a popular arm, or no model yet): only the seen items are needed
            pk, seen_by_user = seen_items(tenant, user_external_id, prefetched)
    fresh = False
    if ranking is not None:
        scored = ranking["items"]  # [item, score] pairs, read for this request alone
        strategy = "precomputed"
        # The model (memoised per process) is needed only when the user acted or items were added since.
        model = live_model(version) if ranking["fresh"] or newer_rows(tenant, version)[0] else None
        stamp = newer_stamp(tenant, version, model) if model is not None else ""
        if ranking["fresh"] or stamp:
            # The user acted since their ranking, or items were added since training: re-score on read.
            history = histories_for(tenant, [ranking["user_id"]])[ranking["user_id"]]
            seen = set(history.item_ids) if excludes_seen(tenant) else set()

            def rescore(model: Reranker) -> list[tuple[str, float]]:
                return with_newer(tenant, version, model, history, scored, seen)

            kind = f"{'fresh' if ranking['fresh'] else 'new'}:{stamp}"
            rescored = shared_list(version, kind, history, rescore)
            if rescored is not None:
                scored, fresh = rescored, ranking["fresh"]
                strategy = "precomputed+fresh" if fresh else "precomputed+new"
    elif seen_by_user is not None:
        skip = set(seen_by_user) if excludes_seen(tenant) else set()
        scored, strategy = [(i, s) for i, s in popular_items(tenant, prefetched) if i not in skip], "popular"
    elif held is not None:
        scored, strategy = [tuple(pair) for pair in held["items"]], held["strategy"]
    else:
        at, stamp = time.time(), current_stamp(tenant, version) if version else ""  # before the reads
        scored, strategy = live_candidates(tenant, version, pk, context)
        if version and pk is not None:
            store_live_user(tenant, version, user_external_id, {
                "user_id": pk, "items": scored, "strategy": strategy, "at": at, "stamp": stamp,
                "exclude": excludes_seen(tenant)})
    offset = (page - 1) * k
    items, removed, not_applied, privacy = shape(
        tenant, scored, k=k, offset=offset, filters=filters, explain=explain, epsilon=epsilon,
        placement=placement, promote=True, subject=user_external_id,
    )
    if len(items) < k and not privacy["dp"]:
        # Filters (or a page past the list) left it short: fill from the matching catalogue, scored live.
        user = ranking["user_id"] if ranking is not None else pk
        extra = held_fill(tenant, version, filters, user, user_external_id, context, scored, prefetched)
        if extra:
            items, removed, not_applied, privacy = shape(
                tenant, [*scored, *extra], k=k, offset=offset, filters=filters, explain=explain, epsilon=epsilon,
                placement=placement, promote=True,
            )
    return Served(
        items=items, strategy=strategy, version=version["number"] if version else None, fresh=fresh,
        removed=removed, not_applied=not_applied, privacy=privacy, placement=placement, arm=arm,
    )


class UnknownItem(LookupError):
    """The item id is not one of this tenant's live items (becomes a 404)."""


def similar(
    tenant: Tenant, item_ids: list[str], *, k: int = 10, filters: dict | None = None, explain: bool = False,
    epsilon: float | None = None, placement: str = DEFAULT_PLACEMENT,
) -> Served:
    """Return items like these (a product page: one item; a cart: a few), shaped by rules and privacy.

    Behaviour -- the active model's candidate sources (transitions, co-occurrence...) and scorer over
    the items as a session -- blended by rank fusion with text similarity, which covers items newer
    than the model, so a new item gets similar items and is proposed as one. Popular items without a model.
    """
    if not 1 <= k <= MAX_K:
        raise ServingError("k", f"Must be between 1 and {MAX_K}.")
    item_ids = list(dict.fromkeys(item_ids))
    if item_ids[0] not in item_rows(tenant, item_ids[:1]):
        raise UnknownItem(item_ids[0])
    version = active_version(tenant)
    model = live_model(version) if version else None
    blended, strategy = [], "popular"
    if model is not None:
        session = History(item_ids=item_ids)
        stamp = newer_stamp(tenant, version, model)

        def blend(m: Reranker) -> list[tuple[str, float]]:
            behaviour = live_list(tenant, version, m, session, True, stamp) if any(map(m.knows, item_ids)) else []
            return fused([ranked for ranked in (behaviour, text_neighbours(tenant, version, m, item_ids, n=LIVE_N))
                          if ranked])

        # Computed once per item set (and newer-items stamp) and shared by every process, like a live list.
        blended, strategy = shared_list(version, f"similar-blend:{stamp}", session, blend) or [], "similar"
    skip = set(item_ids)
    scored = [(i, s) for i, s in blended if i not in skip]
    if not scored:
        scored, strategy = [(i, s) for i, s in popular_items(tenant) if i not in skip], "popular"
    items, removed, not_applied, privacy = shape(
        tenant, scored, k=k, filters=filters, explain=explain, epsilon=epsilon, placement=placement, promote=True,
    )
    return Served(
        items=items, strategy=strategy, version=version["number"] if version else None, removed=removed,
        not_applied=not_applied, privacy=privacy, placement=placement,
    )


def rerank(
    tenant: Tenant, *, candidates: list[str], user_external_id: str | None = None,
    recent_items: list[str] | None = None, k: int | None = None, explain: bool = False, epsilon: float | None = None,
    use_dp: bool = True, rules: list[engine.Rule] | None = None, placement: str = DEFAULT_PLACEMENT,
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
        newer = [c for c in candidates if c in rows and not model.knows(c)]
        vectors = text_vectors(tenant, newer) if newer else None  # items added since training, embedded
        scored = model.rerank(history, [c for c in candidates if c in rows], new_items=vectors)
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
        rules=rules, placement=placement, subject=user_external_id,
    ) if scored else ([], [], [], {"dp": use_dp and privacy_of(tenant)["dp"]})
    start = len(items)
    # Unknown ids fill what is left of k (never more: a client asking for k gets at most k).
    items += [
        {"item_id": c, "position": start + n + 1, "score": None, "unknown": True}
        for n, c in enumerate(unknown[: max(0, k - start)])
    ]
    return Served(
        items=items, strategy=strategy, version=version["number"] if version else None, removed=removed,
        unknown=unknown, not_applied=not_applied, privacy=privacy, placement=placement,
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
