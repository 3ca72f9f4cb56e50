"""The log of served lists (impressions), kept cheap for the serving hot path.

Serving appends an entry to a per-process buffer (a deque append: no network, no encoding). A
background thread in each web process pushes what it holds to a Redis list every FLUSH_SECONDS, in one
RPUSH, and the `flush_served_log` beat task moves entries from Redis to PostgreSQL
(ServedRecommendation) in batches every 30 s. An export flushes first so it is complete, except for
lists served in the last FLUSH_SECONDS by other processes. A process that exits normally (gunicorn
restarting a worker, a deploy) pushes its buffer on the way out; one that is killed loses at most
FLUSH_SECONDS of entries.

Best effort, by design: with Redis configured but unreachable, entries are dropped with a warning
rather than slowing or failing requests (the response still carries its recommendation_id, and the
client's events quote it). Without Redis configured at all (the SQLite demo) the entry is written to
the database directly. Entries hold the stored user id (the hash under pseudonymous ids), never more
than the response did. On flush, an entry whose user no longer exists (erased) or who was created
after it was served (erased and seen again) is dropped, so erasure also reaches the buffer.

Every entry, anonymous ones included, also becomes an Impression row (models/experiments.py) in the
same batch: the counts behind online metrics and A/B results (services/online_metrics.py). An erased
user's impressions stay as counts without the user. Placement (`p`, default "default") and the
experiment arm (`x`, `a`) travel in the entry.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import deque
from datetime import datetime, timezone as dt_timezone
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction

from reranking.models import EndUser, Experiment, Impression, ServedRecommendation
from reranking.models.served import DEFAULT_PLACEMENT
from tenants.models import Tenant

from . import cache

log = logging.getLogger(__name__)
# A stalled Redis must not stall serving: give up on the append after this long.
SOCKET_TIMEOUT = 0.25
# How often each process pushes its buffer to Redis, and the size that wakes it early.
FLUSH_SECONDS = 0.5
WAKE_AT = 500
# Past this many entries (Redis down for long) the oldest are dropped rather than filling memory.
PENDING_MAX = 100_000
_client: dict[str, Any] = {}
# (tenant id, stored user id, served, endpoint, unix time); deque appends and pops are thread-safe.
_pending: deque[tuple] = deque(maxlen=PENDING_MAX)
_wake = threading.Event()
_flusher: dict[str, Any] = {"pid": None}
_start_lock = threading.Lock()


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


def entry(tenant_id: int, stored_user_id: str | None, served, endpoint: str, at: float) -> dict:
    arm = getattr(served, "arm", None)
    return {
        "t": tenant_id, "u": stored_user_id, "r": served.recommendation_id, "at": at, "e": endpoint,
        "s": served.strategy, "v": served.version, "i": [item["item_id"] for item in served.items],
        "p": served.placement,
        "x": arm.experiment_id if arm is not None else None, "a": arm.name if arm is not None else "",
    }


def record(tenant: Tenant, stored_user_id: str | None, served, endpoint: str = "recommendations") -> None:
    """Log a served list: an impression always, and for an identified user the list for their export."""
    if redis_client() is None:
        store([entry(tenant.pk, stored_user_id, served, endpoint, time.time())])
        return
    _pending.append((tenant.pk, stored_user_id, served, endpoint, time.time()))
    if _flusher["pid"] != os.getpid():
        start_flusher()
    if len(_pending) >= WAKE_AT:
        _wake.set()


def start_flusher() -> None:
    """Start this process's pushing thread (once per process: a forked child starts its own)."""
    with _start_lock:
        if _flusher["pid"] == os.getpid():
            return
        thread = threading.Thread(target=_flush_forever, name="served-log", daemon=True)
        _flusher.update(pid=os.getpid(), thread=thread)
        thread.start()


def _flush_forever() -> None:
    while True:
        _wake.wait(FLUSH_SECONDS)
        _wake.clear()
        try:
            push_pending()
        except Exception:  # noqa: BLE001 - the thread must outlive any one failure
            log.exception("served log: push failed")


def push_pending() -> int:
    """Push this process's buffered entries to Redis in one RPUSH; return how many were pushed.

    With Redis down (or marked down after a recent failure) the entries are dropped with a warning.
    """
    batch = []
    while _pending:
        try:
            batch.append(_pending.popleft())
        except IndexError:
            break
    if not batch:
        return 0
    client = redis_client()
    if client is None:
        return 0
    if cache.is_down():  # a recent Redis failure: do not pay for another doomed connect
        log.warning("served log: dropped %d entries, Redis unavailable", len(batch))
        return 0
    values = [orjson.dumps(entry(*row)) for row in batch]
    try:
        client.rpush(settings.RECS_SERVED_LOG_KEY, *values)
    except Exception as exc:  # noqa: BLE001 - the log is best effort; serving must not fail for it
        log.warning("served log: dropped %d entries, Redis unavailable: %s", len(batch), exc.__class__.__name__)
        cache.mark_down("served-log append", exc)
        return 0
    return len(batch)


atexit.register(push_pending)  # a worker that exits normally keeps what it served


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
    push_pending()  # this process's own entries first
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
    """Write entries as impressions and, for identified users, ServedRecommendation rows; return lists stored.

    A user erased since the list was served is dropped from both (the impression keeps the count).
    """
    by_tenant: dict[int, list[dict]] = {}
    for row in rows:
        by_tenant.setdefault(row["t"], []).append(row)
    objects, impressions = [], []
    # A tenant deleted since its lists were served has nothing left to count them against.
    live = set(Tenant.objects.filter(pk__in=list(by_tenant)).values_list("pk", flat=True))
    for tenant_id, part in by_tenant.items():
        if tenant_id not in live:
            continue
        users = {
            external: (pk, created.timestamp())
            for external, pk, created in EndUser.objects.filter(
                tenant_id=tenant_id, external_id__in={row["u"] for row in part if row["u"] is not None}
            ).values_list("external_id", "id", "created_at")
        }
        for row in part:
            user = users.get(row["u"])
            if user is not None and row["at"] < user[1]:
                user = None  # erased and seen again since this list was served
            served_at = datetime.fromtimestamp(row["at"], tz=dt_timezone.utc)
            impressions.append(impression(tenant_id, row, served_at, user[0] if user else None))
            if user is None:
                continue  # anonymous, or erased since this list was served: nothing to export
            objects.append(
                ServedRecommendation(
                    tenant_id=tenant_id, user_id=user[0], recommendation_id=row["r"][:64],
                    served_at=served_at, endpoint=row["e"],
                    strategy=row["s"] or "", model_version=row["v"], items=row["i"],
                    placement=row.get("p") or DEFAULT_PLACEMENT,
                )
            )
    experiments = set(Experiment.objects.filter(pk__in={i.experiment_id for i in impressions if i.experiment_id}).values_list("pk", flat=True))
    for row in impressions:
        if row.experiment_id not in experiments:
            row.experiment_id = None  # deleted since: the count stays, without the arm
    with transaction.atomic():
        ServedRecommendation.objects.bulk_create(objects, batch_size=1000)
        Impression.objects.bulk_create(impressions, batch_size=1000)
    return len(impressions)


def impression(tenant_id: int, row: dict, served_at: datetime, user_id: int | None) -> Impression:
    """Build the impression of one log entry (entries written before placements and arms read defaults)."""
    return Impression(
        tenant_id=tenant_id, recommendation_id=row["r"][:64], served_at=served_at, endpoint=row["e"],
        placement=(row.get("p") or DEFAULT_PLACEMENT)[:64], strategy=row["s"] or "", model_version=row["v"],
        user_id=user_id, experiment_id=row.get("x"), arm=(row.get("a") or "")[:64] if row.get("x") else "",
        items=row["i"],
    )
