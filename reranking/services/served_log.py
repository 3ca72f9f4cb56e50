"""The log of lists served to identified end users, kept cheap for the serving hot path.

Serving appends one JSON entry to a Redis list (a single RPUSH, one round trip, no database write);
the `flush_served_log` beat task moves entries to PostgreSQL (ServedRecommendation) in batches every
30 s, and an export flushes first so it is complete.

Best effort, by design: with Redis configured but unreachable, an entry is dropped with a warning
rather than slowing or failing the request (the response still carries its recommendation_id, and the
client's events quote it). Without Redis configured at all (the SQLite demo) the entry is written to
the database directly. Entries hold the stored user id (the hash under pseudonymous ids), never more
than the response did. On flush, an entry whose user no longer exists (erased) or who was created
after it was served (erased and seen again) is dropped, so erasure also reaches the buffer.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.db import transaction

from reranking.models import EndUser, ServedRecommendation
from tenants.models import Tenant

from . import cache

log = logging.getLogger(__name__)
# A stalled Redis must not stall serving: give up on the append after this long.
SOCKET_TIMEOUT = 0.25
_client: dict[str, Any] = {}


def redis_client():
    """Return a shared Redis client for REDIS_URL, or None when Redis is not configured."""
    url = settings.REDIS_URL
    if not url:
        return None
    client = _client.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
        _client[url] = client
    return client


def entry(tenant: Tenant, stored_user_id: str, served, endpoint: str) -> dict:
    return {
        "t": tenant.pk, "u": stored_user_id, "r": served.recommendation_id, "at": time.time(), "e": endpoint,
        "s": served.strategy, "v": served.version, "i": [item["item_id"] for item in served.items],
    }


def record(tenant: Tenant, stored_user_id: str | None, served, endpoint: str = "recommendations") -> None:
    """Log a list served to an identified user (anonymous lists are not logged: nobody could ask for them)."""
    if stored_user_id is None:
        return
    row = entry(tenant, stored_user_id, served, endpoint)
    client = redis_client()
    if client is None:
        store([row])
        return
    if cache.is_down():  # a recent Redis failure: do not pay for another doomed connect per request
        return
    try:
        client.rpush(settings.RECS_SERVED_LOG_KEY, json.dumps(row, separators=(",", ":")))
    except Exception as exc:  # noqa: BLE001 - the log is best effort; serving must not fail for it
        log.warning("served log: dropped an entry, Redis unavailable: %s", exc.__class__.__name__)
        cache.mark_down("served-log append", exc)


def take(client, limit: int) -> list[bytes]:
    """Pop up to `limit` entries from the head of the buffer atomically (LRANGE + LTRIM in MULTI)."""
    pipe = client.pipeline(transaction=True)
    pipe.lrange(settings.RECS_SERVED_LOG_KEY, 0, limit - 1)
    pipe.ltrim(settings.RECS_SERVED_LOG_KEY, limit, -1)
    raw, _ = pipe.execute()
    return raw


def flush(max_batches: int = 100) -> int:
    """Move buffered entries to the database in batches; return how many rows were stored.

    A batch the database refuses is pushed back to the buffer and the flush stops (the next beat retries).
    """
    client = redis_client()
    if client is None:
        return 0
    limit = max(1, settings.RECS_SERVED_LOG_FLUSH_BATCH)
    stored = 0
    for _ in range(max_batches):
        raw = take(client, limit)
        if not raw:
            break
        try:
            stored += store([json.loads(item) for item in raw])
        except Exception:
            client.rpush(settings.RECS_SERVED_LOG_KEY, *raw)
            raise
        if len(raw) < limit:
            break
    return stored


def store(rows: list[dict]) -> int:
    """Write entries to ServedRecommendation, dropping those of users erased since; return rows written."""
    by_tenant: dict[int, list[dict]] = {}
    for row in rows:
        by_tenant.setdefault(row["t"], []).append(row)
    objects = []
    for tenant_id, part in by_tenant.items():
        users = {
            external: (pk, created.timestamp())
            for external, pk, created in EndUser.objects.filter(
                tenant_id=tenant_id, external_id__in={row["u"] for row in part}
            ).values_list("external_id", "id", "created_at")
        }
        for row in part:
            user = users.get(row["u"])
            if user is None or row["at"] < user[1]:
                continue  # erased (and perhaps seen again) since this list was served
            objects.append(
                ServedRecommendation(
                    tenant_id=tenant_id, user_id=user[0], recommendation_id=row["r"][:64],
                    served_at=datetime.fromtimestamp(row["at"], tz=dt_timezone.utc), endpoint=row["e"],
                    strategy=row["s"] or "", model_version=row["v"], items=row["i"],
                )
            )
    with transaction.atomic():
        ServedRecommendation.objects.bulk_create(objects, batch_size=1000)
    return len(objects)
