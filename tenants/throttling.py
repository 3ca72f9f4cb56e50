"""Request rate limits per tenant and per API key, both checked in one cache round trip.

All of a tenant's keys share one budget (one tenant cannot starve the others), and each key has its
own, smaller one (a leaked or runaway key cannot use up its tenant's). Past either, DRF answers 429
with Retry-After.

Each budget is a fixed-window counter: the first request starts a window of the rate's period, every
request counts one, and a request that would pass either limit is refused and not counted, so refused
requests use no budget. Retry-After is the time left in the fuller window. A fixed window may let up
to twice the rate through across a window boundary; DRF's sliding log is exact but stores (and
re-pickles) every timestamp of the period on every request, which costs more than serving the request.
On Redis both counters are counted in one round trip of plain commands (INCR, then PEXPIRE ... NX,
which needs Redis 7.0 or newer, so a counter always gets its window even if it expired between the
two); a refused request is uncounted in a second round trip, so while it is in flight another
request at the limit may be refused too. A Lua script did the same atomically, but costs Redis more
CPU per call than the commands themselves. On other caches (the embedded on-disk cache without Redis,
config/cache.py) the counters use get_many/set inside one cache transaction, so every process counts
against the same budgets. If the cache is down, requests pass and it is logged.

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

from config import cache
from config.redis_cache import round_trip

from .models import ApiKey

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (requests, seconds) of a DRF rate string such as "3000/min"."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


def counter_name(scope: str, ident: object) -> str:
    return f"throttle:{scope}:{ident}"


class _Checker:
    """The cache side: Redis gets plain commands over one connection, other caches get/set."""

    def check(self, budgets: list[tuple[str, int, int]], reads: list[str] = ()) -> tuple[float | None, dict]:
        """Count one request against every budget and read `reads` if it is allowed.

        Return (None, {name: value or None}) if allowed, else (seconds to wait, {}).
        """
        backend = caches["default"]
        if not isinstance(backend, RedisCache):
            return self.check_generic(backend, budgets, reads)
        pool = backend._cache.get_client(None, write=True).connection_pool  # the backend's own pool
        counters = [backend.make_key(name) for name, _, _ in budgets]
        commands: list[tuple] = []
        for key, (_, _, seconds) in zip(counters, budgets):
            commands += [("INCR", key), ("PEXPIRE", key, seconds * 1000, "NX")]
        if reads:
            commands.append(("MGET", *(backend.make_key(name) for name in reads)))
        replies = round_trip(pool, commands)
        over = [key for n, (key, (_, limit, _)) in enumerate(zip(counters, budgets)) if replies[2 * n] > limit]
        if over:
            undo = round_trip(pool, [("DECR", key) for key in counters] + [("PTTL", key) for key in over])
            return max(max(undo[len(counters):]), 1) / 1000, {}  # the fuller window's time left
        if not reads:
            return None, {}
        loads = backend._cache._serializer.loads
        return None, {name: None if raw is None else loads(raw) for name, raw in zip(reads, replies[-1])}

    @staticmethod
    def check_generic(backend, budgets: list[tuple[str, int, int]], reads: list[str] = ()) -> tuple[float | None, dict]:
        now = time.time()
        with cache.atomic(backend):  # another process's request must not read the counts in between
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


def budgets_for(tenant, key) -> list[tuple[str, int, int]]:
    """Return (counter, limit, seconds) for each budget a request of this tenant and key counts against."""
    rates = TenantAndKeyThrottle.THROTTLE_RATES
    out = []
    if tenant is not None and rates.get("tenant"):
        out.append((counter_name("tenant", tenant.pk), *parse_rate(rates["tenant"])))
    if isinstance(key, ApiKey) and rates.get("key"):
        out.append((counter_name("key", key.pk), *parse_rate(rates["key"])))
    return out


def decide(tenant, key, reads: list[str] = ()) -> tuple[float | None, dict | None]:
    """Count one request of this tenant and key; return (seconds to wait or None, the entries read).

    The entries are None when they were not read (no budgets, or the cache is down): the caller reads
    them itself. A cache outage lets the request through rather than refusing (or failing) it.
    """
    budgets = budgets_for(tenant, key)
    if not budgets or cache.is_down():  # Redis down: serve unthrottled rather than fail (faults tests)
        return None, None
    try:
        wait, values = _checker.check(budgets, reads)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not refuse (or fail) every request
        cache.mark_down("throttle", exc)  # logs once, then skips Redis for a few seconds
        return None, None
    return wait, (values if reads and wait is None else None)


class TenantAndKeyThrottle(BaseThrottle):
    """Rates come from DEFAULT_THROTTLE_RATES["tenant"] and ["key"]; a missing rate means no limit.

    A request already counted (the recommendations hot path, reranking/api/hot_path.py, counts before
    it hands a request it cannot answer itself to the view) carries its outcome in
    `request._request.throttle_outcome` and is not counted again.
    """

    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    _wait: float | None = None

    def allow_request(self, request, view) -> bool:
        outcome = getattr(request._request, "throttle_outcome", None)
        if outcome is None:
            tenant = getattr(request._request, "tenant", None)
            reads = view.cache_reads(request) if hasattr(view, "cache_reads") else []
            outcome = decide(tenant, request.auth, reads)
        self._wait, values = outcome
        if values is not None:
            request._request.cache_prefetched = values
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait
