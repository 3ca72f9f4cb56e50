"""Fault: a Celery worker SIGKILLed mid-precompute, and another mid-training, while gunicorn serves.

    .venv/bin/python bench/faults/worker_kill.py

Broker and cache on a private redis-server (free port); database DATABASE_URL's server, a bench
database. The workers run with a short broker visibility timeout (CELERY_VISIBILITY_TIMEOUT=10) so a
killed worker's unacknowledged task is re-delivered within seconds (production: an hour, and beat's
reaper fails a run whose heartbeat stopped first). Checks, while a client keeps asking for
recommendations: no answer other than 200, every answer comes from a version whose rankings were
complete (v1 until v2 is switched in: never a partial v2), the killed precompute shard is re-delivered
and the ranking ends complete and exactly once, and the killed training is re-delivered and finishes
(attempts == 2).
"""
from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import free_port, start_server, start_worker  # noqa: E402
from bench.faults.common import DEFAULT_BENCH_DB, Checks, call, make_shop, setup  # noqa: E402
from bench.faults.servers import PrivateRedis  # noqa: E402
from bench.faults.servers import wait_until as wait_for  # noqa: E402

SLOW_TRAINING = '{"max_epochs": 200, "patience": 200}'


class Watcher(threading.Thread):
    """Ask for recommendations all along; remember (model version, status, items) per answer."""

    def __init__(self, port: int, shop) -> None:
        super().__init__(daemon=True)
        self.port, self.shop = port, shop
        self.stop = threading.Event()
        self.seen: list[tuple[str, int, int | None, list[str]]] = []

    def run(self) -> None:
        rng = random.Random(5)
        while not self.stop.is_set():
            user = rng.choice(self.shop.users)
            reply = call(self.port, "GET", f"/api/v1/users/{user}/recommendations?k=10", self.shop.key)
            items = [i["item_id"] for i in reply.body.get("items", [])]
            self.seen.append((user, reply.status, reply.body.get("model_version"), items))
            time.sleep(0.02)


def kill(proc) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def main() -> None:
    checks = Checks("worker_kill")
    logs = Path(tempfile.mkdtemp(prefix="recs-faults-workers-"))
    with PrivateRedis() as redis:
        env = setup(
            os.environ.get("FAULTS_DATABASE_URL", DEFAULT_BENCH_DB), redis.url(0), redis.url(1),
            CELERY_VISIBILITY_TIMEOUT="10", RECS_RUN_STALE_SECONDS="8", RECS_PRECOMPUTE_SHARD_USERS="6",
        )
        from reranking.models import ModelVersion, PrecomputeShard, Ranking, RunStatus
        from reranking.services import training

        shop = make_shop("faults-kill", n_users=120)
        tenant = shop.tenant
        v1 = ModelVersion.objects.get(tenant=tenant, is_active=True)
        v1_top = {u: [i for i, _ in items[:10]] for u, items in Ranking.objects.filter(version=v1).values_list("user_external_id", "items")}
        port = free_port()
        server = start_server(port, env)
        watcher = Watcher(port, shop)
        watcher.start()
        procs = []
        try:
            # 1. Kill a worker once part of v2's precompute is done.
            w1 = start_worker("w1", env, log=open(logs / "w1.log", "w"))
            procs.append(w1)
            v2, _ = training.request_training(tenant, trigger="faults")
            print(f"v{v2.number} queued; w1 trains it", flush=True)

            def partly_precomputed():
                done = PrecomputeShard.objects.filter(version=v2, done=True).count()
                total = ModelVersion.objects.get(pk=v2.pk).n_shards
                return total and 0 < done < total and (done, total)

            done, total = wait_for(partly_precomputed, 300, "v2's precompute to be under way", interval=0.02)
            kill(w1)
            done = PrecomputeShard.objects.filter(version=v2, done=True).count()
            print(f"SIGKILLed w1 with {done}/{total} shards of v2 done", flush=True)
            v2.refresh_from_db()
            partial = Ranking.objects.filter(version=v2).count()
            checks.check(not v2.is_active and not v2.rankings_ready and 0 < partial < len(shop.users),
                         f"mid-precompute: v2 holds a partial ranking ({partial}/{len(shop.users)} users) and is not active")
            replies = [call(port, "GET", f"/api/v1/users/{u}/recommendations?k=10", shop.key) for u in shop.users]
            checks.check(all(r.status == 200 and r.body.get("model_version") == v1.number for r in replies),
                         f"mid-precompute: all {len(replies)} users are served v1")
            checks.check(all([i["item_id"] for i in r.body["items"]] == v1_top[u] for u, r in zip(shop.users, replies)),
                         "mid-precompute: each user's list is exactly their v1 ranking")

            w2 = start_worker("w2", env, log=open(logs / "w2.log", "w"))
            procs.append(w2)

            def v2_ready():
                v2.refresh_from_db()
                return v2.rankings_ready

            started = time.monotonic()
            wait_for(v2_ready, 120, "v2's precompute to finish on w2", interval=0.5)
            print(f"w2 finished v2's precompute {time.monotonic() - started:.0f} s after it started", flush=True)
            shards = PrecomputeShard.objects.filter(version=v2)
            by_worker = {}
            for worker in shards.values_list("worker", flat=True):
                by_worker[worker.split("@")[0]] = by_worker.get(worker.split("@")[0], 0) + 1
            print(f"v2's shards by worker: {by_worker}", flush=True)
            rows = Ranking.objects.filter(version=v2)
            checks.check(shards.filter(done=True).count() == total and shards.filter(worker__startswith="w2@").exists(),
                         f"re-delivered: all {total} shards done, the rest by w2")
            checks.check(rows.count() == rows.values("user_id").distinct().count() == len(shop.users),
                         f"v2's ranking is complete and exactly once: {rows.count()} rows for {len(shop.users)} users")
            checks.check(v2.status == RunStatus.SUCCEEDED and v2.is_active, f"v2 {v2.status}, active={v2.is_active}")

            # 2. Kill a worker mid-training; the run is re-delivered to a fresh worker and finishes.
            kill(w2)
            w3 = start_worker("w3", {**env, "RECS_TRAINING_OVERRIDES": SLOW_TRAINING}, log=open(logs / "w3.log", "w"))
            procs.append(w3)
            v3, _ = training.request_training(tenant, trigger="faults")

            def training_now():
                v3.refresh_from_db()
                return v3.status == RunStatus.RUNNING and v3.phase.startswith("training")

            wait_for(training_now, 300, "v3 to be training", interval=0.2)
            kill(w3)
            print(f"SIGKILLed w3 while v3 was in phase {v3.phase!r}", flush=True)
            w4 = start_worker("w4", env, log=open(logs / "w4.log", "w"))
            procs.append(w4)

            def v3_finished():
                v3.refresh_from_db()
                return v3.is_finished and (v3.rankings_ready or v3.status != RunStatus.SUCCEEDED)

            wait_for(v3_finished, 300, "v3 to finish on w4", interval=0.5)
            checks.check(v3.status == RunStatus.SUCCEEDED and v3.attempts == 2 and v3.rankings_ready,
                         f"re-delivered training: v3 {v3.status} after {v3.attempts} attempts, rankings ready={v3.rankings_ready}")
            checks.check(Ranking.objects.filter(version=v3).count() == len(shop.users), "v3's ranking is complete")
        finally:
            watcher.stop.set()
            watcher.join(timeout=30)
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)
            server.terminate()
            server.wait(timeout=30)

        complete = set(ModelVersion.objects.filter(tenant=tenant, rankings_ready=True).values_list("number", flat=True))
        complete |= set(ModelVersion.objects.filter(tenant=tenant, status=RunStatus.SUCCEEDED).values_list("number", flat=True))
        statuses = {s for _, s, _, _ in watcher.seen}
        served = {v for _, _, v, _ in watcher.seen}
        checks.check(statuses == {200}, f"the watcher's {len(watcher.seen)} requests all answered 200 ({statuses})")
        checks.check(served <= complete, f"every answer came from a version with complete rankings (served {sorted(served)})")
        print(f"worker logs: {logs}")
        shop.tenant.delete()
    checks.finish()


if __name__ == "__main__":
    main()
