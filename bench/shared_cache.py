"""What the shared cache costs: GET recommendations with each cache backend, in one process.

    .venv/bin/python bench/shared_cache.py [--requests 1500] [--redis redis://127.0.0.1:6379/1]

Seeds and trains the demo shop as `make demo` does (platform/demo.sh, small, in a temporary directory,
stopped again), then serves GET /api/v1/users/<id>/recommendations from that SQLite file through Django's
test client (no HTTP, one process, so the figures are the cache's share and not the network's) with:
  locmem  per-process memory: fastest, but wrong with several processes (what the demo used to run);
  disk    DiskCache on SQLite (the embedded default now, config/cache.py): shared by every process;
  redis   when --redis is given and reachable.
Each request counts the throttles and reads the user's ranking and last-event time from the cache.
Prints requests/s and p50/p99 per backend, and the ratio to locmem.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import demo_stack  # noqa: E402


def backends(cache_dir: str, redis_url: str | None) -> dict[str, dict]:
    from config.cache import disk_cache_settings

    out = {"locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "disk": disk_cache_settings(cache_dir)}
    if redis_url:
        out["redis"] = {"BACKEND": "config.redis_cache.RedisCache", "LOCATION": redis_url,
                        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}}
    return out


def measure(key: str, users: list[str], n: int) -> list[float]:
    from django.test import Client

    client = Client(HTTP_X_API_KEY=key)
    for user in users:  # warm: memos, the query memo, the artifact
        assert client.get(f"/api/v1/users/{user}/recommendations?k=10").status_code == 200
    seconds = []
    for i in range(n):
        start = time.perf_counter()
        response = client.get(f"/api/v1/users/{users[i % len(users)]}/recommendations?k=10")
        seconds.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--redis", default=None, help="also measure this Redis (a database of your own)")
    parser.add_argument("--reuse", default=None, help="a directory of an earlier run: skip seeding and training")
    args = parser.parse_args()
    tmp = Path(args.reuse or tempfile.mkdtemp(prefix="recs-cache-bench-"))
    if not (tmp / "var" / "db.sqlite3").exists():
        print(f"seeding and training the demo shop in {tmp} ...", flush=True)
        demo_stack.start(tmp / "var", web=1).stop()
    key = demo_stack.credentials(tmp / "var")["api key"]
    for name in demo_stack.SERVICE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings.local", "RECS_VAR_DIR": str(tmp / "var"),
                       "RECS_TENANT_RATE": "1000000/min", "RECS_KEY_RATE": "1000000/min",
                       "DJANGO_ALLOWED_HOSTS": "testserver"})
    import django

    django.setup()
    from django.test import override_settings

    from reranking.models import Ranking

    users = sorted(set(Ranking.objects.values_list("user_external_id", flat=True)))[:30]
    results = {}
    for name, config in backends(str(tmp / "bench-cache"), args.redis).items():
        with override_settings(CACHES={"default": config}):
            from django.core.cache import cache

            cache.clear()
            seconds = measure(key, users, args.requests)
        results[name] = seconds
    base = len(results["locmem"]) / sum(results["locmem"])
    print(f"GET recommendations, {args.requests} requests per backend, one process, {len(users)} users")
    for name, seconds in results.items():
        rate = len(seconds) / sum(seconds)
        ordered = sorted(seconds)
        print(f"  {name:7} {rate:7.0f} req/s  p50 {statistics.median(ordered) * 1000:6.2f} ms  "
              f"p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:6.2f} ms  ({rate / base:.2f}x locmem)")


if __name__ == "__main__":
    main()
