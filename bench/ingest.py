"""Benchmark event ingestion: the REST API under gunicorn against a plain ORM bulk_create.

    .venv/bin/python bench/ingest.py [--data ../shared/datasets/ml-latest-small] [--clients 3]

Loads the MovieLens movies as one fresh tenant's catalogue, starts a real gunicorn server and POSTs every
rating to /api/v1/events in batches of 10,000 from several client connections at once. Then it writes the
same rows for a second fresh tenant with a plain `Event.objects.bulk_create` and compares the two rates.
Goal: at least 20,000 events/s through the API, and at least half the ORM's rate. Both tenants are
deleted afterwards. Runs on PostgreSQL (DATABASE_URL; the database is created and migrated if missing).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import DEFAULT_DATA, DEFAULT_DATABASE_URL, free_port, setup_django, start_server  # noqa: E402

BATCH = 10_000
GOAL_RATE = 20_000
GOAL_RATIO = 0.5


def post_batches(port: int, key: str, bodies: list[bytes], clients: int) -> list[dict]:
    """POST every body to /api/v1/events over `clients` keep-alive connections; return the responses."""

    def send(chunk: list[bytes]) -> list[dict]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        results = []
        for body in chunk:
            connection.request(
                "POST", "/api/v1/events", body=body, headers={"Content-Type": "application/json", "X-Api-Key": key}
            )
            response = connection.getresponse()
            payload = response.read()
            if response.status != 201:
                raise RuntimeError(f"HTTP {response.status}: {payload[:500]!r}")
            results.append(json.loads(payload))
        connection.close()
        return results

    # Round-robin so every connection has work until the end.
    chunks = [bodies[start::clients] for start in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        return [result for chunk in pool.map(send, chunks) for result in chunk]


def warm_up(port: int, key: str, workers: int) -> None:
    """Touch every worker once, so the timed run does not pay for first-request set-up."""
    for _ in range(workers * 3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/v1/tenant", headers={"X-Api-Key": key})
        connection.getresponse().read()
        connection.close()


def orm_load(tenant, events: list[dict]) -> int:
    """Write the events the plain ORM way: map ids, create the users, one bulk_create."""
    from reranking.models import EndUser, Event, Item

    items = dict(Item.objects.filter(tenant=tenant).values_list("external_id", "id"))
    user_ids = list(dict.fromkeys(row["user_id"] for row in events))
    EndUser.objects.bulk_create([EndUser(tenant=tenant, external_id=ext) for ext in user_ids], batch_size=BATCH)
    users = dict(EndUser.objects.filter(tenant=tenant).values_list("external_id", "id"))
    Event.objects.bulk_create(
        [
            Event(
                tenant=tenant,
                user_id=users[row["user_id"]],
                item_id=items[row["item_id"]],
                event_type=row["event_type"],
                value=row["value"],
                timestamp=datetime.fromtimestamp(row["timestamp"], tz=timezone.utc),
            )
            for row in events
        ],
        batch_size=BATCH,
    )
    return len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="An ml-latest-small (or ml-100k) folder.")
    parser.add_argument("--clients", type=int, default=3, help="Concurrent client connections.")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the web default).")
    args = parser.parse_args()

    extra = {"WEB_CONCURRENCY": str(args.workers)} if args.workers else {}
    env = setup_django(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), **extra)
    from reranking.importers import movielens_events, movielens_items
    from reranking.models import Event, TrainingPolicy
    from reranking.services.bulk import import_items
    from tenants.models import ApiKey, Scope, Tenant
    from tenants.services import ensure_tenant

    items = movielens_items(args.data)
    events = list(movielens_events(args.data))
    run = uuid.uuid4().hex[:8]
    tenants = []
    try:
        for role in ("api", "orm"):
            tenant = ensure_tenant(f"bench-{role}-{run}", f"Ingest benchmark ({role})")  # accepts 'rating'
            import_items(tenant, items, progress=False)
            tenants.append(tenant)
        api_tenant, orm_tenant = tenants
        # A backfill of history through the API: the per-end-user rate limits (a shilling defence for live
        # traffic) would refuse most of it, so this tenant turns them off (0), as an importing tenant would.
        policy = TrainingPolicy.for_tenant(api_tenant)
        policy.max_events_per_user_minute = policy.max_events_per_user_hour = 0
        policy.save()
        _, key = ApiKey.issue(api_tenant, "bench", [Scope.READ, Scope.INGEST])
        bodies = [json.dumps({"events": events[start : start + BATCH]}).encode() for start in range(0, len(events), BATCH)]
        print(f"{len(items)} items, {len(events)} events in {len(bodies)} batches; {os.cpu_count()} CPUs")

        # 1. Through the API, under gunicorn.
        port = free_port()
        server = start_server(port, env)
        try:
            workers = int(env.get("WEB_CONCURRENCY", (os.cpu_count() or 1) + 1))
            warm_up(port, key, workers)
            started = time.perf_counter()
            results = post_batches(port, key, bodies, args.clients)
            api_seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(30)
        stored = sum(result["stored"] for result in results)
        rejected = sum(result["rejected"] for result in results)
        assert stored == len(events) and not rejected, f"stored {stored}, rejected {rejected} of {len(events)}"
        assert Event.objects.filter(tenant=api_tenant).count() == len(events)

        # 2. The plain ORM, in this process.
        started = time.perf_counter()
        orm_load(orm_tenant, events)
        orm_seconds = time.perf_counter() - started
        assert Event.objects.filter(tenant=orm_tenant).count() == len(events)
    finally:
        Tenant.objects.filter(pk__in=[t.pk for t in tenants]).delete()

    api_rate, orm_rate = len(events) / api_seconds, len(events) / orm_seconds
    ratio = api_rate / orm_rate
    for label, seconds, rate in [
        (f"API ({workers} gunicorn workers, {args.clients} clients)", api_seconds, api_rate),
        ("ORM bulk_create", orm_seconds, orm_rate),
    ]:
        print(f"{label:<40} {seconds:6.2f} s {rate:9,.0f} events/s")
    print(f"ratio API / ORM: {ratio:.2f}")
    met = api_rate >= GOAL_RATE and ratio >= GOAL_RATIO
    print(f"goal (>= {GOAL_RATE:,} events/s, ratio >= {GOAL_RATIO}): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
