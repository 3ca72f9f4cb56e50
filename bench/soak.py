"""Soak: mixed traffic on loopback against gunicorn + PostgreSQL + Redis while a real worker retrains.

    .venv/bin/python bench/soak.py [--seconds 180] [--baseline 20] [--get-rps 40] [--rerank-rps 8] [--ingest-rps 4]

Seeds the generated demo shop as a fresh tenant, trains v1 in-process, starts gunicorn as the web
process runs in production and one real Celery worker (OMP_NUM_THREADS=1, as on a shared host), and
keeps that worker retraining the tenant for the whole run (a new run is requested as soon as the last
one finishes). Paced client threads send GET recommendations, POST rerank of 200 candidates and POST
events (batches with unique event_ids). Prints per endpoint: requests, throughput, p50/p99 latency,
errors and 5xx; GET p50/p99 in the first --baseline seconds (no retraining yet) and while a retraining
was running; and lost events (accepted but not stored).
Goals: zero 5xx, zero lost events, GET recommendations p99 < 100 ms during retraining.
Latency is measured from send to answer by paced closed-loop clients (no coordinated-omission correction).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import DEFAULT_REDIS_URL, free_port, setup_django, start_server, start_worker  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/recs_soak_bench"
# Speed, not quality: the point is a worker busy training (and switching versions in) during the soak.
TRAINING = '{"max_epochs": 1, "max_train_lists": 4000}'
BATCH = 20


@dataclass
class Sample:
    at: float  # monotonic send time
    seconds: float
    status: int  # 0: no HTTP answer


@dataclass
class Endpoint:
    name: str
    rate: float  # requests per second over all its threads
    threads: int
    samples: list[Sample] = field(default_factory=list)


def request(port: int, method: str, path: str, key: str, body: bytes | None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"X-Api-Key": key, "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


class Traffic:
    """Paced client threads; ingest batches carry unique event_ids, remembered once accepted."""

    def __init__(self, port: int, key: str, users: list[str], items: list[str], stop: threading.Event) -> None:
        self.port, self.key, self.users, self.items, self.stop = port, key, users, items, stop
        self.accepted: set[str] = set()
        self.lock = threading.Lock()

    def get(self, rng: random.Random, n: int) -> tuple[str, str, bytes | None]:
        return "GET", f"/api/v1/users/{rng.choice(self.users)}/recommendations?k=10", None

    def rerank(self, rng: random.Random, n: int) -> tuple[str, str, bytes | None]:
        body = {"user_id": rng.choice(self.users), "candidates": rng.sample(self.items, 200), "k": 20}
        return "POST", "/api/v1/rerank", json.dumps(body).encode()

    def ingest(self, rng: random.Random, n: int) -> tuple[str, str, bytes | None]:
        events = [
            {"user_id": rng.choice(self.users), "item_id": rng.choice(self.items), "event_type": "click",
             "event_id": f"soak-{rng.random():.12f}-{n}-{i}"}
            for i in range(BATCH)
        ]
        return "POST", "/api/v1/events", json.dumps({"events": events}).encode()

    def run(self, endpoint: Endpoint, make, seed: int) -> None:
        rng = random.Random(seed)
        interval = endpoint.threads / endpoint.rate
        next_at, n = time.monotonic() + rng.random() * interval, 0
        while not self.stop.is_set():
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            next_at += interval
            method, path, body = make(rng, n)
            started = time.monotonic()
            status, raw = request(self.port, method, path, self.key, body)
            endpoint.samples.append(Sample(started, time.monotonic() - started, status))
            if endpoint.name == "POST events" and 200 <= status < 300:
                with self.lock:
                    refused = {e.get("index") for e in json.loads(raw or b"{}").get("errors", [])}  # per-row refusals
                    self.accepted.update(e["event_id"] for i, e in enumerate(json.loads(body)["events"]) if i not in refused)
            n += 1


class Retrainer(threading.Thread):
    """Keep the worker retraining: request a run whenever none is in flight; record when each ran."""

    def __init__(self, tenant, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.tenant, self.stop = tenant, stop
        self.runs: list[int] = []

    def run(self) -> None:
        from django.db import connection

        from reranking.services import training

        try:
            while not self.stop.is_set():
                run, created = training.request_training(self.tenant, trigger="soak")
                if created:
                    self.runs.append(run.pk)
                self.stop.wait(1.0)
        finally:
            connection.close()


def training_intervals(run_ids: list[int], t0_wall: float, t0_mono: float) -> list[tuple[float, float]]:
    """Return the (monotonic start, end) of each run's training and precompute, from its row."""
    from reranking.models import ModelVersion

    spans = []
    for run in ModelVersion.objects.filter(pk__in=run_ids):
        if run.started_at is None:
            continue
        start = run.started_at.timestamp() - t0_wall + t0_mono
        end = (run.finished_at.timestamp() - t0_wall + t0_mono) if run.finished_at else float("inf")
        spans.append((start, end))
    return spans


def summary(samples: list[Sample], seconds: float) -> dict:
    latencies = np.array([s.seconds for s in samples]) * 1000 if samples else np.zeros(1)
    return {
        "n": len(samples), "rps": len(samples) / seconds,
        "p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99)),
        "errors": sum(1 for s in samples if not 200 <= s.status < 300),
        "5xx": sum(1 for s in samples if s.status >= 500 or s.status == 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--get-rps", type=float, default=40.0)
    parser.add_argument("--rerank-rps", type=float, default=8.0)
    parser.add_argument("--ingest-rps", type=float, default=4.0, help=f"batches of {BATCH} events per second")
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds of traffic before retraining starts")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    redis = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    broker = os.environ.get("CELERY_BROKER_URL", redis)
    media = Path(tempfile.mkdtemp(prefix="recs-soak-media-"))
    env = setup_django(
        os.environ.get("SOAK_DATABASE_URL", DEFAULT_DATABASE_URL), REDIS_URL=redis, CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=os.environ.get("CELERY_RESULT_BACKEND", broker), RECS_MEDIA_ROOT=str(media),
        RECS_TENANT_RATE="100000000/min", RECS_KEY_RATE="100000000/min", RECS_TRAINING_OVERRIDES=TRAINING,
    )
    from django.core.management import call_command

    from config.celery_app import app
    from reranking.demo_data import generate
    from reranking.models import EndUser, Event, Item, ModelVersion, RunStatus
    from reranking.services.bulk import import_events, import_items
    from tenants.models import ApiKey, Scope, Tenant

    tenant = Tenant.objects.create(slug=f"soak-{int(time.time())}", name="Soak")
    items, events = generate()
    import_items(tenant, items, progress=False)
    import_events(tenant, events, progress=False)
    print(f"training v1 in-process on {len(events)} events...", flush=True)
    call_command("train_tenant", tenant.slug, stdout=open(os.devnull, "w"))
    _, key = ApiKey.issue(tenant, "soak", [Scope.READ, Scope.INGEST])
    users = list(EndUser.objects.for_tenant(tenant).values_list("external_id", flat=True))
    item_ids = list(Item.objects.for_tenant(tenant).values_list("external_id", flat=True))

    app.control.purge()
    port = free_port()
    server = start_server(port, env)
    worker_log = open(media / "worker.log", "w")
    worker = start_worker("soak", {**env, "OMP_NUM_THREADS": "1"}, log=worker_log)
    stop = threading.Event()
    traffic = Traffic(port, key, users, item_ids, stop)
    endpoints = [
        (Endpoint("GET recommendations", args.get_rps, 4), traffic.get),
        (Endpoint("POST rerank (200)", args.rerank_rps, 2), traffic.rerank),
        (Endpoint("POST events", args.ingest_rps, 2), traffic.ingest),
    ]
    for make in (traffic.get, traffic.rerank):  # warm every gunicorn worker (the model loads on its first re-rank)
        for n in range(8):
            method, path, body = make(random.Random(n), n)
            request(port, method, path, key, body)

    retrainer = Retrainer(tenant, stop)
    t0_wall, t0_mono = time.time(), time.monotonic()
    threads = [
        threading.Thread(target=traffic.run, args=(endpoint, make, 100 * i + j), daemon=True)
        for i, (endpoint, make) in enumerate(endpoints) for j in range(endpoint.threads)
    ]
    print(f"soaking for {args.baseline:.0f} s without, then {args.seconds:.0f} s with retraining: GET {args.get_rps}/s, rerank {args.rerank_rps}/s, "
          f"ingest {args.ingest_rps} batches/s of {BATCH}; the worker retrains throughout", flush=True)
    retrain_from = float("inf")
    for thread in threads:
        thread.start()
    try:
        time.sleep(args.baseline)  # the same traffic without retraining, to compare against
        retrain_from = time.monotonic()
        retrainer.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))
            done = sum(len(e.samples) for e, _ in endpoints)
            print(f"  {time.monotonic() - t0_mono:5.0f} s: {done} requests, {len(retrainer.runs)} retrainings requested",
                  flush=True)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        retrainer.join(timeout=10)
        server.terminate()
        server.wait(timeout=30)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    elapsed = time.monotonic() - t0_mono

    spans = training_intervals(retrainer.runs, t0_wall, t0_mono)
    runs = ModelVersion.objects.filter(pk__in=retrainer.runs)
    finished = runs.filter(status=RunStatus.SUCCEEDED).count()
    stored = set(Event.objects.for_tenant(tenant).filter(event_id__startswith="soak-").values_list("event_id", flat=True))
    lost = len(traffic.accepted - stored)
    extra = len(stored - traffic.accepted)

    print(f"\n{os.cpu_count()} CPUs, gunicorn workers: {env.get('WEB_CONCURRENCY', (os.cpu_count() or 1) + 1)}, "
          f"{elapsed:.0f} s, {len(users)} users, {len(item_ids)} items")
    print(f"{'endpoint':<22}{'requests':>9}{'req/s':>8}{'target':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'5xx':>6}")
    total_5xx = 0
    for endpoint, _ in endpoints:
        r = summary(endpoint.samples, elapsed)
        total_5xx += r["5xx"]
        print(f"{endpoint.name:<22}{r['n']:>9}{r['rps']:>8.1f}{endpoint.rate:>8.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}{r['5xx']:>6}")
    get_samples = endpoints[0][0].samples
    during = [s for s in get_samples if any(a <= s.at <= b for a, b in spans)]
    d = summary(during, elapsed)
    b = summary([s for s in get_samples if s.at < retrain_from], elapsed)
    covered = sum(min(b, t0_mono + elapsed) - max(a, t0_mono) for a, b in spans if b > t0_mono)
    print(f"retraining runs: {len(retrainer.runs)} requested, {finished} succeeded; a run was in flight "
          f"{100 * covered / elapsed:.0f}% of the time")
    print(f"GET recommendations before retraining: {b['n']} requests, p50 {b['p50']:.1f} ms, p99 {b['p99']:.1f} ms")
    print(f"GET recommendations while retraining: {d['n']} requests, p50 {d['p50']:.1f} ms, p99 {d['p99']:.1f} ms "
          f"(p99 {d['p99'] / max(b['p99'], 1e-9):.2f}x the baseline)")
    print(f"events: {len(traffic.accepted)} accepted, {len(stored)} stored, {lost} lost, {extra} stored but never acknowledged")
    print(f"5xx (or no answer): {total_5xx} (goal 0: {'met' if total_5xx == 0 else 'MISSED'})")
    print(f"lost events: {lost} (goal 0: {'met' if lost == 0 else 'MISSED'})")
    print(f"GET p99 during retraining: {d['p99']:.1f} ms (goal < 100: {'met' if d['n'] and d['p99'] < 100 else 'MISSED'})")
    print(f"worker log: {media / 'worker.log'}")
    tenant.delete()
    raise SystemExit(0 if total_5xx == 0 and lost == 0 else 1)


if __name__ == "__main__":
    main()
