"""Shared by the fault scripts: a small trained shop, an HTTP client that never raises, and checks.

Each script prints every check it made as PASS/FAIL and exits 1 if any failed.
"""
from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import ROOT, setup_django  # noqa: E402

# Few epochs: the scenarios test failure handling, not model quality.
QUICK = {"max_epochs": 1, "patience": 1, "max_train_lists": 2000, "crossfit_folds": 2, "n_negatives": 64}
DEFAULT_BENCH_DB = "postgres://postgres@127.0.0.1:5432/recs_faults_bench"


def setup(database_url: str, redis_url: str, broker_url: str | None = None, **extra: str) -> dict:
    """Point Django (and the children it starts) at these services; return the children's env."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # the in-process training's bars would bury the checks
    media = Path(tempfile.mkdtemp(prefix="recs-faults-media-"))
    return setup_django(
        database_url, REDIS_URL=redis_url, CELERY_BROKER_URL=broker_url or redis_url,
        CELERY_RESULT_BACKEND=broker_url or redis_url, RECS_MEDIA_ROOT=str(media),
        RECS_TENANT_RATE="100000000/min", RECS_KEY_RATE="100000000/min", RECS_TRAINING_OVERRIDES=json.dumps(QUICK),
        OMP_NUM_THREADS="1", WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"), **extra,
    )


@dataclass
class Shop:
    tenant: object
    key: str
    users: list[str]
    items: list[str]


def make_shop(prefix: str, n_users: int = 60, train: bool = True) -> Shop:
    """Create a fresh tenant with the generated demo shop, trained and precomputed in-process (v1 active)."""
    from django.core.management import call_command

    from reranking.demo_data import generate
    from reranking.models import EndUser, Item, TrainingPolicy
    from reranking.services.bulk import import_events, import_items
    from tenants.models import ApiKey, Scope, Tenant

    tenant = Tenant.objects.create(slug=f"{prefix}-{int(time.time() * 1000)}", name=prefix)
    # These scenarios check durability under outages, not the shilling defences: a few users send far
    # more than 60 events a minute here, so the per-end-user ingest limits are off for this tenant.
    policy = TrainingPolicy.for_tenant(tenant)
    policy.max_events_per_user_minute = policy.max_events_per_user_hour = 0
    policy.save()
    items, events = generate(seed=3, n_users=n_users, lines_per_category=4)
    import_items(tenant, items, progress=False)
    import_events(tenant, events, progress=False)
    if train:
        call_command("train_tenant", tenant.slug, stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    _, key = ApiKey.issue(tenant, "faults", [Scope.READ, Scope.INGEST, Scope.ADMIN])
    users = list(EndUser.objects.for_tenant(tenant).order_by("id").values_list("external_id", flat=True))
    item_ids = list(Item.objects.for_tenant(tenant).order_by("id").values_list("external_id", flat=True))
    return Shop(tenant=tenant, key=key, users=users, items=item_ids)


def accepted_ids(ids: list[str], body: dict) -> list[str]:
    """The event ids of a 2xx batch that were stored or already known: rows it refused (by index) are not."""
    refused = {error.get("index") for error in body.get("errors", []) if isinstance(error, dict)}
    return [event_id for index, event_id in enumerate(ids) if index not in refused]


@dataclass
class Reply:
    status: int  # 0: no HTTP answer (connection refused or reset)
    body: dict
    seconds: float


def call(port: int, method: str, path: str, key: str, body: dict | None = None, timeout: float = 10.0) -> Reply:
    """Make one request; connection failures come back as status 0, never as an exception."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"X-Api-Key": key, "Content-Type": "application/json"}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return Reply(response.status, parsed, time.perf_counter() - started)
    except OSError as exc:
        return Reply(0, {"exception": repr(exc)}, time.perf_counter() - started)
    finally:
        connection.close()


@dataclass
class Checks:
    title: str
    results: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> bool:
        self.results.append((bool(ok), what))
        print(f"  {'PASS' if ok else 'FAIL'}  {what}", flush=True)
        return bool(ok)

    def finish(self) -> None:
        failed = [what for ok, what in self.results if not ok]
        print(f"{self.title}: {len(self.results) - len(failed)}/{len(self.results)} checks passed", flush=True)
        raise SystemExit(1 if failed else 0)


def statuses(replies: list[Reply]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for reply in replies:
        counts[reply.status] = counts.get(reply.status, 0) + 1
    return dict(sorted(counts.items()))


__all__ = ["ROOT", "QUICK", "DEFAULT_BENCH_DB", "setup", "make_shop", "call", "Reply", "Checks", "statuses"]
