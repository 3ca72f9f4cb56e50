"""Cache helpers that never fail a request: with the shared cache down, serving falls back to the database."""
from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any, Callable

from django.core.cache import cache

from config.cache import DOWN_SECONDS, _down_until, is_down, mark_down  # noqa: F401 - used through this module

log = logging.getLogger(__name__)
MISSING = object()
# A per-process memo in front of the shared cache (Redis, or the on-disk cache without it; see
# config/cache.py) for small, hot, rarely changing values (tenant settings): it saves a round trip per
# request. `delete` clears the shared entry and this process's memo; other processes see the change
# within LOCAL_SECONDS.
LOCAL_SECONDS = 2.0
_local: dict[str, tuple[float, Any]] = {}
# Catalogue rows served in lists, per process: edits reach served lists within ITEM_MEMO_SECONDS.
# One generation per tenant, expiring whole (and then refreshed in one query), instead of per-row
# expiries that would send a small query on almost every request.
ITEM_MEMO_SECONDS = 10.0
ITEM_MEMO_MAX = 200_000
ITEM_REFRESH_MAX = 20_000  # hot rows read again in one query when a tenant's memo expires
item_memo: dict[int, tuple[float, dict[str, dict | None]]] = {}  # tenant id -> (expires at, id -> row)


def forget_items() -> None:
    """Drop this process's memo of catalogue rows (after an upsert or delete here)."""
    item_memo.clear()


def get_many(keys: list[str]) -> dict[str, Any]:
    if is_down():
        return {}
    try:
        return cache.get_many(keys)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not become a 500
        mark_down("get", exc)
        return {}


def set_many(values: dict[str, Any], timeout: int) -> None:
    if is_down():
        return
    try:
        if len(values) == 1:  # one SET with its expiry; set_many wraps SET and EXPIRE in a transaction
            ((key, value),) = values.items()
            cache.set(key, value, timeout)
        else:
            cache.set_many(values, timeout)
    except Exception as exc:  # noqa: BLE001
        mark_down("set", exc)


def delete(*keys: str) -> None:
    """Delete keys; tried even while the cache looks down, since a stale value outlives the outage."""
    for key in keys:
        _local.pop(key, None)
    try:
        cache.delete_many(list(keys))
    except Exception as exc:  # noqa: BLE001
        mark_down("delete", exc)


def remember(key: str, timeout: int, compute: Callable[[], Any], local: bool = False) -> Any:
    """Return the cached value, computing and storing it on a miss (or when the cache is down).

    With local=True the value is also memoised in this process for LOCAL_SECONDS.
    """
    now = time.monotonic()
    if local:
        hit = _local.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    value = get_many([key]).get(key, MISSING)
    if value is MISSING:
        value = compute()
        set_many({key: value}, timeout)
    if local:
        if len(_local) > 10_000:
            _local.clear()
        _local[key] = (now + LOCAL_SECONDS, value)
    return value


def active_key(tenant_id: int) -> str:
    return f"recs:active:{tenant_id}"


SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def key_part(external_id: str) -> str:
    """Return a cache-safe form of a client's id (any text): itself if plain, else a digest."""
    return external_id if SAFE_ID.match(external_id) else "h" + hashlib.sha1(external_id.encode()).hexdigest()


def ranking_key(version_id: int, user_external_id: str) -> str:
    return f"recs:rank:{version_id}:{key_part(user_external_id)}"


def last_event_key(tenant_id: int, user_external_id: str) -> str:
    return f"recs:last:{tenant_id}:{key_part(user_external_id)}"


def live_user_key(version_id: int, user_external_id: str) -> str:
    """A user without a precomputed ranking: the list the live model gave their history (serving.live_user)."""
    return f"recs:liveuser:{version_id}:{key_part(user_external_id)}"


def fill_key(tenant_id: int, version_id: int, subject: str, filters_digest: str) -> str:
    """A filtered list's fill from the catalogue (serving.held_fill); `subject` names the user or session."""
    return f"recs:fill:{tenant_id}:{version_id}:{subject}:{filters_digest}"


def fill_pool_key(tenant_id: int, filters_digest: str) -> str:
    """The catalogue items a filter's fills are drawn from, shared by every user (serving.fill_pool)."""
    return f"recs:fillpool:{tenant_id}:{filters_digest}"


def seen_key(tenant_id: int, user_external_id: str) -> str:
    return f"recs:seen:{tenant_id}:{key_part(user_external_id)}"


def rules_key(tenant_id: int) -> str:
    return f"recs:rules:{tenant_id}"


def privacy_key(tenant_id: int) -> str:
    return f"recs:privacy:{tenant_id}"


def policy_key(tenant_id: int) -> str:
    return f"recs:policy:{tenant_id}"


def popular_key(tenant_id: int) -> str:
    return f"recs:popular:{tenant_id}"


def ingest_limits_key(tenant_id: int) -> str:
    return f"recs:ingest-limits:{tenant_id}"
