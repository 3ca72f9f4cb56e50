"""Time every tenant admin page on a tenant of the generated demo shop, by default ~100,000 events.

    .venv/bin/python bench/ui_pages.py [--repeat 20] [--events 100000] [--no-train]

--events sets the size (the demo itself is 600 users, ~12k events; users scale to reach the target).
Seeds the generated demo shop (the `seed_demo` data) as a fresh tenant on PostgreSQL + Redis, trains
and precomputes it in-process (2 epochs: the pages, not the model, are measured) unless --no-train,
adds a rule and a history of versions, then requests each page through Django's full middleware
stack (sessions, auth, CSRF, templates) as the tenant's owner. Prints median / p95 / max server time
and the number of SQL queries per page. Goal: every page under 300 ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, ROOT, setup_django  # noqa: E402

GOAL_MS = 300.0


def pages(slug: str, user: str, item: str, version: int | None) -> dict[str, str]:
    base = f"/t/{slug}"
    found = {
        "dashboard": f"{base}/", "items": f"{base}/items/", "items search": f"{base}/items/?q=lamp",
        "item detail": f"{base}/items/{item}", "upload form": f"{base}/upload/", "rules": f"{base}/rules/",
        "rules + preview (user)": f"{base}/rules/?p-user={user}", "rule form": f"{base}/rules/new/",
        "models": f"{base}/models/", "privacy": f"{base}/privacy/", "keys": f"{base}/keys/",
        "explorer": f"{base}/explorer/", "explorer (user)": f"{base}/explorer/?user={user}",
    }
    found["team"] = f"{base}/team/"
    found["item edit"] = f"{base}/edit-item/{item}"
    if version:
        found["model detail"] = f"{base}/models/{version}/"
        found["model status (JSON)"] = f"{base}/models/{version}/status"
        if version > 1:
            found["model compare"] = f"{base}/models/compare/{version - 1}/{version}/"
    return found


def measure(client, url: str, repeat: int) -> dict:
    from django.db import connection, reset_queries

    client.get(url)  # warm caches and lazy imports, as a running server would be
    times = []
    for _ in range(repeat):
        reset_queries()
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return {"median": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))], "max": times[-1],
            "queries": len(connection.queries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-train", action="store_true",
                        help="skip training: two versions with metrics stand in (no rankings, so no active model)")
    parser.add_argument("--events", type=int, default=100_000, help="about this many events (default 100,000)")
    args = parser.parse_args()
    redis = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    setup_django(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), REDIS_URL=redis, CELERY_BROKER_URL=redis,
        RECS_MEDIA_ROOT=str(ROOT / "var" / "bench-media"), RECS_TRAINING_OVERRIDES='{"max_epochs": 2}',
    )
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from reranking.demo_data import generate
    from reranking.models import ModelVersion, Rule
    from reranking.services.bulk import import_events, import_items
    from tenants.models import ApiKey, Scope
    from tenants.services import ensure_tenant

    settings.DEBUG = True  # record queries (connection.queries); templates are not reloaded per request
    settings.ALLOWED_HOSTS = ["testserver"]
    stamp = int(time.time())
    slug = f"bench-ui-{stamp}"
    tenant = ensure_tenant(slug, "UI bench", f"bench-ui-{stamp}", "pw")
    try:
        items, events = generate(n_users=max(600, round(600 * args.events / 12_000)))
        import_items(tenant, items, progress=False)
        import_events(tenant, events, progress=False)
        with connection.cursor() as cursor:  # what autovacuum does soon after a bulk load, so plans are real
            cursor.execute("ANALYZE reranking_event; ANALYZE reranking_enduser; ANALYZE reranking_item")
        if not args.no_train:
            call_command("train_tenant", slug)
        if args.no_train:
            metrics = {"validation": {"reranker": {"ndcg@10": 0.37}},
                       "methods": [{"name": "reranker", "ndcg@10": 0.37}, {"name": "item_knn", "ndcg@10": 0.30}]}
            for number in (1, 2):
                ModelVersion.objects.create(tenant=tenant, number=number, status="succeeded", metrics=metrics,
                                            n_events=len(events), config={"max_epochs": number})
        Rule.objects.create(tenant=tenant, name="books up", kind="boost",
                            params={"when": {"field": "category", "op": "eq", "value": "Books"}, "weight": 0.2})
        ApiKey.issue(tenant, "bench", [Scope.READ])
        version = ModelVersion.objects.for_tenant(tenant).order_by("-number").values_list("number", flat=True).first()
        client = Client()
        client.force_login(tenant.memberships.get().user)
        user = events[0]["user_id"]
        results = {name: measure(client, url, args.repeat)
                   for name, url in pages(slug, user, items[0]["item_id"], version).items()}
    finally:
        tenant.delete()

    print(f"\n{os.cpu_count()} CPUs, {len(items)} items, {len(events)} events, model: "
          f"{'v' + str(version) if version else 'none'}, {args.repeat} requests per page")
    print(f"{'page':<26}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'queries':>9}")
    for name, r in results.items():
        print(f"{name:<26}{r['median']:>11.1f}{r['p95']:>9.1f}{r['max']:>9.1f}{r['queries']:>9}")
    slowest = max(results, key=lambda name: results[name]["p95"])
    verdict = "met" if results[slowest]["p95"] < GOAL_MS else "MISSED"
    print(f"slowest p95: {slowest} {results[slowest]['p95']:.1f} ms (goal < {GOAL_MS:.0f}: {verdict})")


if __name__ == "__main__":
    main()
