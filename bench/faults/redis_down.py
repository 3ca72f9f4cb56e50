"""Fault: Redis stopped while gunicorn serves and ingests; then started again.

    .venv/bin/python bench/faults/redis_down.py [--seconds 6]

Runs gunicorn on PostgreSQL (DATABASE_URL, default a bench database) with the cache and broker on a
private redis-server on a free port (the shared Redis is never touched), kills that Redis with
SIGKILL mid-traffic, and checks: GET recommendations and POST rerank keep answering 200 from
PostgreSQL, every ingest answers 2xx or 503 (never another 5xx), every accepted event is stored
exactly once, and the cache is used again once Redis is back.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import free_port, start_server  # noqa: E402
from bench.faults.common import DEFAULT_BENCH_DB, Checks, accepted_ids, call, make_shop, setup, statuses  # noqa: E402
from bench.faults.servers import PrivateRedis  # noqa: E402


def traffic(port: int, shop, seconds: float, tag: str, accepted: set[str]) -> dict[str, list]:
    """Mixed requests for `seconds`; ingest batches carry unique event_ids, recorded when accepted."""
    rng = random.Random(tag)
    replies: dict[str, list] = {"get": [], "rerank": [], "ingest": []}
    deadline, batch = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        user = rng.choice(shop.users)
        replies["get"].append(call(port, "GET", f"/api/v1/users/{user}/recommendations?k=10", shop.key))
        candidates = rng.sample(shop.items, min(100, len(shop.items)))
        replies["rerank"].append(call(port, "POST", "/api/v1/rerank", shop.key, {"user_id": user, "candidates": candidates}))
        ids = [f"{tag}-{batch}-{n}" for n in range(20)]
        events = [{"user_id": rng.choice(shop.users), "item_id": rng.choice(shop.items), "event_type": "click",
                   "event_id": event_id} for event_id in ids]
        reply = call(port, "POST", "/api/v1/events", shop.key, {"events": events})
        replies["ingest"].append(reply)
        if 200 <= reply.status < 300:
            accepted.update(accepted_ids(ids, reply.body))
        batch += 1
    return replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="traffic before, during and after the outage")
    args = parser.parse_args()
    checks = Checks("redis_down")
    with PrivateRedis() as redis:
        env = setup(os.environ.get("FAULTS_DATABASE_URL", DEFAULT_BENCH_DB), redis.url(0), redis.url(1))
        shop = make_shop("faults-redis")
        from reranking.models import Event

        port = free_port()
        server = start_server(port, env)
        accepted: set[str] = set()
        try:
            before = traffic(port, shop, args.seconds, "before", accepted)
            redis.stop()
            print(f"killed the private Redis on port {redis.port}", flush=True)
            during = traffic(port, shop, args.seconds, "during", accepted)
            health = call(port, "GET", "/health", shop.key)
            redis.start()
            print("started Redis again on the same port", flush=True)
            time.sleep(6)  # the cache's skip window after a failure (cache.DOWN_SECONDS)
            after = traffic(port, shop, args.seconds, "after", accepted)
            health_after = call(port, "GET", "/health", shop.key)
        finally:
            server.terminate()
            server.wait(timeout=30)
        for phase, replies in (("before", before), ("during", during), ("after", after)):
            print(f"{phase:>7}: " + ", ".join(f"{name} {statuses(r)}" for name, r in replies.items()), flush=True)

        print("checks:")
        for phase, replies in (("Redis up", before), ("Redis down", during), ("Redis back", after)):
            checks.check(replies["get"] and all(r.status == 200 for r in replies["get"]),
                         f"{phase}: all {len(replies['get'])} GET recommendations answered 200")
            checks.check(replies["rerank"] and all(r.status == 200 for r in replies["rerank"]),
                         f"{phase}: all {len(replies['rerank'])} POST rerank answered 200")
            ingest = replies["ingest"]
            checks.check(all(200 <= r.status < 300 or r.status == 503 for r in ingest),
                         f"{phase}: every ingest answered 2xx or 503 ({statuses(ingest)})")
        served = {r.body.get("strategy") for r in during["get"]}
        checks.check(served <= {"precomputed", "precomputed+fresh"},
                     f"Redis down: recommendations came from the precomputed rankings in PostgreSQL ({served})")
        checks.check(health.status == 200 and health.body.get("cache", "").startswith("error"),
                     f"Redis down: /health says the cache is down but answers 200 ({health.body.get('cache')})")
        checks.check(health_after.body.get("cache") == "ok", "Redis back: /health reports the cache ok again")
        ours = Event.objects.for_tenant(shop.tenant).filter(event_id__regex=r"^(before|during|after)-")
        stored = set(ours.values_list("event_id", flat=True))
        checks.check(stored == accepted, f"events stored ({len(stored)}) == events accepted ({len(accepted)}), none lost or extra")
        shop.tenant.delete()
    checks.finish()


if __name__ == "__main__":
    main()
