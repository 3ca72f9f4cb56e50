"""Benchmark what the served-recommendation log and pseudonymous ids add to GET recommendations.

    .venv/bin/python bench/served_log.py [--requests 2000]

In-process on PostgreSQL + Redis (no gunicorn, no training): seeds the generated demo shop as a fresh
tenant with an active version whose rankings are written directly, then times GET recommendations
through Django's full request stack with the log hook on and off (interleaved rounds, so a busy machine
affects both alike), the hook alone (id lookup + one RPUSH) with pseudonymous ids off and on, and the
beat task's flush to PostgreSQL. Goal: the hook adds < 5% to a GET recommendations request.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, setup_django  # noqa: E402

ROUNDS = 5


def per_call_us(call, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="GET requests per configuration")
    args = parser.parse_args()
    redis = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    setup_django(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), REDIS_URL=redis,
                 RECS_TENANT_RATE="100000000/min", RECS_KEY_RATE="100000000/min")
    from django.conf import settings
    from django.test import Client

    from reranking.demo_data import generate
    from reranking.models import EndUser, ModelVersion, PrivacySettings, Ranking, RunStatus
    from reranking.services import identity, served_log, serving
    from reranking.services.catalogue import upsert_items
    from reranking.services.ingest import ingest_events
    from tenants.models import ApiKey, Scope, Tenant

    tenant = Tenant.objects.create(slug=f"bench-served-{int(time.time())}", name="Served-log bench")
    items, events = generate()
    upsert_items(tenant, items)
    for start in range(0, len(events), 10_000):
        ingest_events(tenant, events[start : start + 10_000])
    version = ModelVersion.objects.create(tenant=tenant, number=1, status=RunStatus.SUCCEEDED, rankings_ready=True,
                                          is_active=True, artifact_path="none")
    top = [[item, float(100 - n)] for n, (item, _) in enumerate(serving.popular_items(tenant)[:100])]
    Ranking.objects.bulk_create(
        Ranking(tenant=tenant, version=version, user=user, user_external_id=user.external_id, items=top)
        for user in EndUser.objects.for_tenant(tenant)
    )
    _, key = ApiKey.issue(tenant, "bench", [Scope.READ])
    users = list(EndUser.objects.for_tenant(tenant).values_list("external_id", flat=True))
    client = Client(HTTP_X_API_KEY=key, HTTP_HOST="localhost")
    client.get(f"/api/v1/users/{users[0]}/recommendations?k=10")  # warm caches
    record = served_log.record
    client_redis = served_log.redis_client()
    client_redis.delete(settings.RECS_SERVED_LOG_KEY)

    def get_many(n: int) -> float:
        pick = random.Random(7)
        started = time.perf_counter()
        for _ in range(n):
            response = client.get(f"/api/v1/users/{pick.choice(users)}/recommendations?k=10")
            assert response.status_code == 200, response.content
        return (time.perf_counter() - started) / n * 1000

    timings: dict[str, list[float]] = {"hook on": [], "hook off": []}
    try:
        for _ in range(ROUNDS):
            served_log.record = record
            timings["hook on"].append(get_many(args.requests // ROUNDS))
            served_log.record = lambda *a, **k: None
            timings["hook off"].append(get_many(args.requests // ROUNDS))
        served_log.record = record
        served = serving.recommend(tenant, users[0], k=10)
        hook_plain = per_call_us(lambda: record(tenant, identity.stored_user_id(tenant, users[0]), served), 2000)
        row = PrivacySettings.for_tenant(tenant)
        row.pseudonymous_ids = True
        identity.save_settings(tenant, lambda: row.save() or row)  # converts the users and rankings
        hook_hashed = per_call_us(lambda: record(tenant, identity.stored_user_id(tenant, users[0]), served), 2000)
        buffered = client_redis.llen(settings.RECS_SERVED_LOG_KEY)
        started = time.perf_counter()
        stored = served_log.flush()
        flush_s = time.perf_counter() - started
    finally:
        served_log.record = record
        client_redis.delete(settings.RECS_SERVED_LOG_KEY)
        tenant.delete()

    on, off = statistics.median(timings["hook on"]), statistics.median(timings["hook off"])
    print(f"\n{len(users)} users, {args.requests} GET requests per configuration in {ROUNDS} interleaved rounds "
          "(in-process; a shared machine: compare the ratio, not the absolute figures)")
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'GET recommendations, hook off (ms)':<44}{off:>12.3f}")
    print(f"{'GET recommendations, hook on (ms)':<44}{on:>12.3f}")
    print(f"{'hook alone, ids as sent (us)':<44}{hook_plain:>12.1f}")
    print(f"{'hook alone, pseudonymous ids (us)':<44}{hook_hashed:>12.1f}")
    print(f"{'flush to PostgreSQL (rows/s)':<44}{stored / flush_s:>12.0f}  ({stored} of {buffered} buffered)")
    added = on / off - 1
    print(f"GET with hook / without: {on / off:.3f} (goal: adds < 5%: {'met' if added < 0.05 else 'MISSED'})")


if __name__ == "__main__":
    main()
