"""Benchmark the worker pipeline on MovieLens: load a tenant, train and precompute through a real worker.

    .venv/bin/python bench/pipeline.py [--data ../shared/datasets/ml-latest-small] [--workers 1]

Uses PostgreSQL (DATABASE_URL, default database recs_bench) and Redis (REDIS_URL) like production,
starts real `celery worker` processes, and prints the time of each phase, the device, and
users/second for precompute. Goal on a 2-core machine: whole pipeline within 4 minutes, precompute
at least 100 users/second.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    DEFAULT_DATA, DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, ROOT, setup_django, start_workers,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (each takes shards)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args()
    redis = args.redis_url
    setup_django(
        args.database_url, REDIS_URL=redis, CELERY_BROKER_URL=redis, CELERY_RESULT_BACKEND=redis,
        RECS_MEDIA_ROOT=str(ROOT / "var" / "bench-media"),
    )

    from config.celery_app import app
    from reranking.importers import movielens_events, movielens_items
    from reranking.models import EndUser, ModelVersion, RunStatus
    from reranking.services.bulk import import_events, import_items
    from reranking.services.training import request_training
    from tenants.models import Tenant

    slug = f"bench-pipeline-{int(time.time())}"
    tenant = Tenant.objects.create(slug=slug, name="MovieLens bench", event_types=["rating", "view"])
    clock = time.perf_counter()
    import_items(tenant, movielens_items(args.data), progress=False)
    events = list(movielens_events(args.data))
    import_events(tenant, events, total=len(events), progress=False)
    load_seconds = time.perf_counter() - clock
    n_users = EndUser.objects.for_tenant(tenant).count()
    print(f"loaded {len(events):,} events of {n_users} users in {load_seconds:.1f}s")

    app.control.purge()
    workers = start_workers(args.workers)
    try:
        clock = time.perf_counter()
        run, _ = request_training(tenant, trigger="bench")
        last = ""
        while True:
            run.refresh_from_db()
            line = f"  {run.status:<9} {run.phase:<24} {run.progress:5.1f}%"
            if line != last:
                print(line, flush=True)
                last = line
            if run.is_finished and (run.rankings_ready or run.status != RunStatus.SUCCEEDED):
                break
            time.sleep(1.0)
        total = time.perf_counter() - clock
    finally:
        for proc in workers:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in workers:
            proc.wait(timeout=30)

    if run.status != RunStatus.SUCCEEDED:
        raise SystemExit(f"run ended {run.status}: {run.error}")
    t = run.timings
    precompute_s = t.get("precompute", float("nan"))
    users = t.get("precompute_users", n_users)
    print()
    print(f"device: {run.device}   workers: {args.workers}   users: {users}   events: {run.n_events:,}")
    print(f"{'phase':<26}{'seconds':>10}")
    for phase in ("embedding", "candidates", "training", "evaluating", "production_fit"):
        if phase in t:
            print(f"{phase:<26}{t[phase]:>10.1f}")
    print(f"{'precompute':<26}{precompute_s:>10.1f}")
    print(f"{'whole pipeline (wall)':<26}{total:>10.1f}   goal <= 240 s: {'met' if total <= 240 else 'MISSED'}")
    rate = users / precompute_s if precompute_s else float("nan")
    print(f"precompute rate: {rate:.0f} users/s   goal >= 100: {'met' if rate >= 100 else 'MISSED'}")
    reranker = next((m for m in run.metrics.get("methods", []) if m["name"] == "reranker"), {})
    print(f"re-ranker test NDCG@10: {reranker.get('ndcg@10', float('nan')):.4f}")
    ModelVersion.objects.filter(tenant=tenant).update(is_active=False)
    tenant.delete()


if __name__ == "__main__":
    main()
