"""Per-end-user event rate limits at ingestion: a shilling defence against bursts from a few end users.

Each end user may add at most the tenant's `max_events_per_user_minute` events per clock minute and
`max_events_per_user_hour` per clock hour (fixed windows, counted on arrival). Rows over either limit
are refused one by one (code `rate_limited`); the earlier rows of the batch keep their place.

Counting is one Redis round trip per batch: a Lua script reads, grants and increments every user's two
counters atomically, so concurrent batches of the same user never both pass. Without Redis the shared
on-disk cache stands in (config/cache.py): the same reads and writes in one cache transaction, so the
counts hold across every process on the machine. With the cache down the limit is not applied
(logged): ingestion keeps storing rather than failing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient

from config.cache import atomic

from .cache import key_part

log = logging.getLogger(__name__)
CODE = "rate_limited"
WINDOWS = (("minute", 60), ("hour", 3600))

# KEYS: two per user (minute counter, hour counter). ARGV: limit per minute, limit per hour, then each
# user's wanted count. Returns each user's granted count; only granted rows are added to the counters.
GRANT_SCRIPT = """
local out = {}
for i = 1, #KEYS / 2 do
  local grant = tonumber(ARGV[2 + i])
  for w = 1, 2 do
    local limit = tonumber(ARGV[w])
    if limit > 0 then
      local used = tonumber(redis.call('GET', KEYS[2 * i - 2 + w]) or '0')
      grant = math.min(grant, math.max(0, limit - used))
    end
  end
  if grant > 0 then
    redis.call('INCRBY', KEYS[2 * i - 1], grant)
    redis.call('EXPIRE', KEYS[2 * i - 1], 120)
    redis.call('INCRBY', KEYS[2 * i], grant)
    redis.call('EXPIRE', KEYS[2 * i], 3660)
  end
  out[i] = grant
end
return out
"""


@dataclass(frozen=True)
class Limits:
    per_minute: int  # 0: no limit
    per_hour: int  # 0: no limit

    @property
    def off(self) -> bool:
        return self.per_minute <= 0 and self.per_hour <= 0

    def message(self) -> str:
        parts = [f"{n} per {name}" for n, (name, _) in zip((self.per_minute, self.per_hour), WINDOWS) if n > 0]
        return (f"Rate limit: this end user sent more than the tenant allows ({' and '.join(parts)}); "
                "the row was not stored. Send it again later.")


def grant_counts(used: dict[str, tuple[int, int]], wanted: dict[str, int], limits: Limits) -> dict[str, int]:
    """Return how many of each user's wanted rows fit, given what they used this minute and hour (pure)."""
    granted = {}
    for user, want in wanted.items():
        grant = want
        for limit, count in zip((limits.per_minute, limits.per_hour), used.get(user, (0, 0))):
            if limit > 0:
                grant = min(grant, max(0, limit - count))
        granted[user] = grant
    return granted


def window_keys(tenant_id: int, user: str, now: float) -> tuple[str, str]:
    part = key_part(user)
    return tuple(f"recs:rate:{tenant_id}:{part}:{name[0]}{int(now // seconds)}" for name, seconds in WINDOWS)


def _redis_client():
    """The raw client of Django's Redis cache, or None with another backend."""
    inner = getattr(cache, "_cache", None)
    return inner.get_client(None, write=True) if isinstance(inner, RedisCacheClient) else None


def take(tenant_id: int, wanted: dict[str, int], limits: Limits, now: float) -> dict[str, int]:
    """Consume quota for each user's wanted rows; return how many each may store."""
    if limits.off or not wanted:
        return dict(wanted)
    users = list(wanted)
    keys = [key for user in users for key in window_keys(tenant_id, user, now)]
    try:
        client = _redis_client()
        if client is not None:
            granted = client.eval(GRANT_SCRIPT, len(keys), *keys, limits.per_minute, limits.per_hour,
                                  *(wanted[u] for u in users))
            return dict(zip(users, (int(g) for g in granted)))
        with atomic():
            counts = cache.get_many(keys)
            used = {u: (counts.get(keys[2 * i], 0), counts.get(keys[2 * i + 1], 0)) for i, u in enumerate(users)}
            granted = grant_counts(used, wanted, limits)
            for i, user in enumerate(users):
                for w, (_, seconds) in enumerate(WINDOWS):
                    cache.set(keys[2 * i + w], used[user][w] + granted[user], seconds * 2)
        return granted
    except Exception as exc:  # noqa: BLE001 - a cache outage must not stop ingestion
        log.warning("event rate limit not applied (cache unavailable): %s", exc)
        return dict(wanted)


def give_back(tenant_id: int, granted: dict[str, int], now: float) -> None:
    """Return quota taken for rows that were then not stored (their transaction failed)."""
    try:
        client = _redis_client()
        with atomic():
            for user, count in granted.items():
                for key in window_keys(tenant_id, user, now) if count > 0 else ():
                    if client is not None:
                        client.decrby(key, count)
                    else:
                        cache.decr(key, count)
    except Exception as exc:  # noqa: BLE001 - best effort: the window expires anyway
        log.warning("event rate limit quota not returned: %s", exc)
