"""The cache every process shares, and what callers need to survive its outage.

With REDIS_URL set the cache is Redis. Without it (the embedded demo, `make test` with no services) it
is DiskCache's Django backend: SQLite files under RECS_VAR_DIR/cache that every process on the machine
opens, so a delete in one process (an erasure, a privacy or rule change) is seen by every other at
once, and counters (throttles, per-end-user event limits) count across processes. `atomic()` makes a
read-modify-write of several entries one transaction there; on Redis callers use commands that are
atomic themselves.

A failed cache call marks the cache down for DOWN_SECONDS, so a request pays for at most one doomed
round trip; callers then serve from the database.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from django.core.cache import caches

log = logging.getLogger(__name__)

DOWN_SECONDS = 5.0
_down_until = [0.0]


def is_down() -> bool:
    """Return True while a recent cache failure says the cache is unavailable."""
    return time.monotonic() < _down_until[0]


def mark_down(action: str, exc: Exception) -> None:
    if not is_down():
        log.warning("cache %s failed, skipping the cache for %.0f s: %s", action, DOWN_SECONDS, exc)
    _down_until[0] = time.monotonic() + DOWN_SECONDS


def disk_cache_settings(directory: str) -> dict:
    """Return the CACHES entry of the embedded shared cache (no Redis).

    https://grantjenks.com/docs/diskcache/djangocache.html
    """
    return {
        "BACKEND": "diskcache.DjangoCache",
        "LOCATION": directory,
        # One SQLite file: a transaction (`atomic`) locks one file instead of one per shard, and a few
        # web processes never write often enough to need more.
        "SHARDS": 1,
        # How long one call waits for another process's write lock before retrying (sets) or missing
        # (gets); WAL readers never wait.
        "DATABASE_TIMEOUT": 1.0,
        "OPTIONS": {"size_limit": 512 * 2**20},
    }


def is_disk_cache(backend) -> bool:
    return type(getattr(backend, "_cache", None)).__name__ == "FanoutCache"


@contextlib.contextmanager
def atomic(backend=None) -> Iterator[None]:
    """Run the enclosed reads and writes of the cache as one transaction across processes (DiskCache).

    Other backends run them as they are: Redis callers use atomic commands instead, and the
    per-process LocMem cache (only ever configured by hand) has nothing to coordinate with.
    """
    backend = backend or caches["default"]
    if is_disk_cache(backend):
        with backend._cache.transact():
            yield
    else:
        yield
