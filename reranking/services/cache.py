"""Cache helpers that never fail a request: with Redis down, serving falls back to the database."""
from __future__ import annotations

import logging
from typing import Any, Callable

from django.core.cache import cache

log = logging.getLogger(__name__)
MISSING = object()


def get_many(keys: list[str]) -> dict[str, Any]:
    try:
        return cache.get_many(keys)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not become a 500
        log.warning("cache get failed: %s", exc)
        return {}


def set_many(values: dict[str, Any], timeout: int) -> None:
    try:
        cache.set_many(values, timeout)
    except Exception as exc:  # noqa: BLE001
        log.warning("cache set failed: %s", exc)


def delete(*keys: str) -> None:
    try:
        cache.delete_many(list(keys))
    except Exception as exc:  # noqa: BLE001
        log.warning("cache delete failed: %s", exc)


def remember(key: str, timeout: int, compute: Callable[[], Any]) -> Any:
    """Return the cached value, computing and storing it on a miss (or when the cache is down)."""
    value = get_many([key]).get(key, MISSING)
    if value is MISSING:
        value = compute()
        set_many({key: value}, timeout)
    return value


def active_key(tenant_id: int) -> str:
    return f"recs:active:{tenant_id}"


def ranking_key(version_id: int, user_external_id: str) -> str:
    return f"recs:rank:{version_id}:{user_external_id}"


def last_event_key(tenant_id: int, user_external_id: str) -> str:
    return f"recs:last:{tenant_id}:{user_external_id}"


def rules_key(tenant_id: int) -> str:
    return f"recs:rules:{tenant_id}"


def privacy_key(tenant_id: int) -> str:
    return f"recs:privacy:{tenant_id}"


def popular_key(tenant_id: int) -> str:
    return f"recs:popular:{tenant_id}"
