"""Request rate limits per tenant and per API key, both checked in one cache round trip.

All of a tenant's keys share one budget (one tenant cannot starve the others), and each key has its
own, smaller one (a leaked or runaway key cannot use up its tenant's). Past either, DRF answers 429
with Retry-After.

Each budget is a fixed-window counter: the first request starts a window of the rate's period, every
request counts one, and a request that would pass either limit is refused and not counted, so refused
requests use no budget. Retry-After is the time left in the fuller window. A fixed window may let up
to twice the rate through across a window boundary; DRF's sliding log is exact but stores (and
re-pickles) every timestamp of the period on every request, which costs more than serving the request.
On Redis both counters are checked by one Lua script (atomic, one round trip); on other caches (local
development without Redis) by get_many/set. If the cache is down, requests pass and it is logged.

A view may name cache entries it is about to read (`cache_reads(request)`, e.g. the user's precomputed
ranking); an allowed request gets them from the same round trip, in `request._request.cache_prefetched`
(every name read, None for a missing entry). The view must still read for itself when it is absent.
"""
from __future__ import annotations

import math
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from reranking.services import cache

from .models import ApiKey

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS: the counters, then the entries to read; ARGV: the number of counters, then limit and window (ms)
# of each counter in turn. Returns {refused (0/1), wait ms, the entries read if allowed...}.
CHECK_ALL = """
local n = tonumber(ARGV[1])
local counts = {}
for i = 1, n do
  counts[i] = redis.call('INCR', KEYS[i])
  if counts[i] == 1 or redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1])
  end
end
local refused, wait = 0, 0
for i = 1, n do
  if counts[i] > tonumber(ARGV[2 * i]) then
    refused, wait = 1, math.max(wait, redis.call('PTTL', KEYS[i]))
  end
end
if refused == 1 then
  for i = 1, n do redis.call('DECR', KEYS[i]) end
  return {refused, wait}
end
local out = {0, 0}
for i = n + 1, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) end
return out
"""


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (requests, seconds) of a DRF rate string such as "3000/min"."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


def counter_name(scope: str, ident: object) -> str:
    return f"throttle:{scope}:{ident}"


class _Checker:
    """The cache side: Redis gets the script (loaded once per process), other caches get/set."""

    script = None

    def check(self, budgets: list[tuple[str, int, int]], reads: list[str] = ()) -> tuple[float | None, dict]:
        """Count one request against every budget and read `reads` if it is allowed.

        Return (None, {name: value or None}) if allowed, else (seconds to wait, {}).
        """
        backend = caches["default"]
        if not isinstance(backend, RedisCache):
            return self.check_generic(backend, budgets, reads)
        client = backend._cache.get_client(None, write=True)  # the backend's own pool
        if self.script is None:
            self.script = client.register_script(CHECK_ALL)
        keys = [backend.make_key(name) for name, _, _ in budgets] + [backend.make_key(name) for name in reads]
        args = [len(budgets)] + [value for _, limit, seconds in budgets for value in (limit, seconds * 1000)]
        refused, wait_ms, *values = self.script(keys=keys, args=args, client=client)
        if refused:
            return max(int(wait_ms), 1) / 1000, {}  # Retry-After is at least 1
        loads = backend._cache._serializer.loads
        return None, {name: None if raw is None else loads(raw) for name, raw in zip(reads, values)}

    @staticmethod
    def check_generic(backend, budgets: list[tuple[str, int, int]], reads: list[str] = ()) -> tuple[float | None, dict]:
        now = time.time()
        found = backend.get_many([name for name, _, _ in budgets])
        windows = {}
        for name, limit, seconds in budgets:
            count, ends = found.get(name) or (0, now + seconds)
            windows[name] = (0, now + seconds) if ends <= now else (count, ends)
        waits = [windows[name][1] - now for name, limit, _ in budgets if windows[name][0] + 1 > limit]
        if waits:
            return max(max(waits), 0.001), {}
        for name, (count, ends) in windows.items():
            backend.set(name, (count + 1, ends), math.ceil(ends - now))
        values = backend.get_many(list(reads)) if reads else {}
        return None, {name: values.get(name) for name in reads}


_checker = _Checker()


class TenantAndKeyThrottle(BaseThrottle):
    """Rates come from DEFAULT_THROTTLE_RATES["tenant"] and ["key"]; a missing rate means no limit."""

    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    _wait: float | None = None

    def budgets(self, request) -> list[tuple[str, int, int]]:
        """Return (counter, limit, seconds) for each budget this request counts against."""
        out = []
        tenant = getattr(request._request, "tenant", None)
        if tenant is not None and self.THROTTLE_RATES.get("tenant"):
            out.append((counter_name("tenant", tenant.pk), *parse_rate(self.THROTTLE_RATES["tenant"])))
        if isinstance(request.auth, ApiKey) and self.THROTTLE_RATES.get("key"):
            out.append((counter_name("key", request.auth.pk), *parse_rate(self.THROTTLE_RATES["key"])))
        return out

    def allow_request(self, request, view) -> bool:
        budgets = self.budgets(request)
        if not budgets or cache.is_down():  # Redis down: serve unthrottled rather than fail (faults tests)
            return True
        reads = view.cache_reads(request) if hasattr(view, "cache_reads") else []
        try:
            self._wait, values = _checker.check(budgets, reads)
        except Exception as exc:  # noqa: BLE001 - a cache outage must not refuse (or fail) every request
            cache.mark_down("throttle", exc)  # logs once, then skips Redis for a few seconds
            return True
        if reads and self._wait is None:
            request._request.cache_prefetched = values
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
