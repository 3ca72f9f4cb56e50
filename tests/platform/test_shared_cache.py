"""Every web process and worker shares one cache: without Redis the on-disk one (config/cache.py), so
deletes reach them all and counters count across them. The other side runs in real forked processes."""
from __future__ import annotations

import multiprocessing

import pytest
from django.core.cache import cache

from config.cache import is_disk_cache
from reranking.services import cache as recs_cache
from reranking.services import ratelimit
from tenants.throttling import _Checker

pytestmark = [
    pytest.mark.embedded,
    # With Redis every process shares the cache by construction; forking a process that holds a Redis
    # broker connection can also hang in kombu's after-fork cleanup. These tests cover the on-disk cache.
    pytest.mark.skipif(not is_disk_cache(cache), reason="covers the on-disk cache of the embedded default; Redis is configured"),
]


def in_processes(n: int, work) -> list:
    """Run `work()` in n forked processes at once; return what each returned."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=lambda: results.put(work())) for _ in range(n)]
    for proc in procs:
        proc.start()
    out = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    return out


def test_a_delete_in_one_process_is_seen_by_the_others():
    in_processes(1, lambda: cache.set("recs:rank:1:ann", [1, 2, 3], 3600))
    assert in_processes(1, lambda: cache.get("recs:rank:1:ann")) == [[1, 2, 3]]
    in_processes(1, lambda: recs_cache.delete("recs:rank:1:ann"))
    assert in_processes(1, lambda: cache.get("recs:rank:1:ann")) == [None]
    assert cache.get("recs:rank:1:ann") is None


def test_event_limits_count_across_processes():
    limits = ratelimit.Limits(per_minute=15, per_hour=0)

    def send_ten() -> int:
        return sum(ratelimit.take(7, {"ann": 1}, limits, 1_800_000_000.0)["ann"] for _ in range(10))

    assert sum(in_processes(4, send_ten)) == 15


def test_request_throttles_count_across_processes():
    if not is_disk_cache(cache):
        pytest.skip("the get/set fallback runs on the embedded cache; Redis counts with INCR")
    budgets = [("throttle:tenant:7", 25, 60)]

    def ten_requests() -> int:
        return sum(_Checker.check_generic(cache, budgets)[0] is None for _ in range(10))

    assert sum(in_processes(4, ten_requests)) == 25
