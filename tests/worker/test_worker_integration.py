"""Real Celery worker processes on the real Redis broker and PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection

from reranking.models import EndUser, ModelVersion, PrecomputeShard, Ranking, RunStatus
from reranking.services import training
from worker.tasks import precompute_rankings

from .conftest import load_small_shop, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def rankings_of(version) -> dict[str, list]:
    return dict(Ranking.objects.filter(version=version).values_list("user_external_id", "items"))


def test_a_killed_worker_leaves_a_failed_run_and_the_old_rankings(alice, quick_training, workers, settings):
    load_small_shop(alice.tenant)
    call_command("train_tenant", alice.tenant.slug)
    old = ModelVersion.objects.get(tenant=alice.tenant, is_active=True)
    old_rankings = rankings_of(old)
    # A slow second training, so it is certainly mid-training when the worker dies.
    (worker,) = workers("w1", env={"RECS_TRAINING_OVERRIDES": '{"max_epochs": 200, "patience": 200}'})
    run, _ = training.request_training(alice.tenant)

    def training_now():
        run.refresh_from_db()
        return run.status == RunStatus.RUNNING and run.phase.startswith(("training", "candidates"))

    wait_for(training_now, 180, "the run to be training")
    worker.kill()

    settings.RECS_RUN_STALE_SECONDS = 2
    time.sleep(3)
    assert training.reap_stale_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped reporting" in run.error
    assert ModelVersion.objects.get(tenant=alice.tenant, is_active=True) == old
    assert rankings_of(old) == old_rankings
    assert not Ranking.objects.filter(version=run).exists()


def test_two_simultaneous_requests_yield_one_run(alice):
    results = []
    barrier = threading.Barrier(2)

    def request():
        barrier.wait()
        try:
            results.append(training.request_training(alice.tenant, enqueue=False))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created for _, created in results) == [False, True]
    assert len({run.pk for run, _ in results}) == 1
    assert ModelVersion.objects.filter(tenant=alice.tenant).count() == 1


def test_two_workers_share_the_precompute_and_match_one_worker(alice, quick_training, workers, settings):
    load_small_shop(alice.tenant, n_users=80)
    settings.RECS_PRECOMPUTE_SHARD_USERS = 5
    call_command("train_tenant", alice.tenant.slug)  # in-process: one worker's result
    version = ModelVersion.objects.get(tenant=alice.tenant, is_active=True)
    single = rankings_of(version)
    assert version.n_shards == 16

    procs = workers("w1", "w2", env={"RECS_PRECOMPUTE_SHARD_USERS": "5"})
    PrecomputeShard.objects.filter(version=version).delete()  # so only the workers' shards count below
    precompute_rankings.delay(alice.tenant.pk, version.pk)

    def all_done():
        done = PrecomputeShard.objects.filter(version=version, done=True)
        return done.count() == 16 and done.exclude(worker="").count() == 16

    try:
        wait_for(all_done, 180, "all 16 shards")
    except AssertionError:
        shards = list(PrecomputeShard.objects.filter(version=version).values_list("index", "done", "worker"))
        raise AssertionError(f"{shards}\n" + "\n".join(p.output()[-1500:] for p in procs))
    hosts = {name.split("@")[0] for name in PrecomputeShard.objects.filter(version=version).values_list("worker", flat=True)}
    assert hosts == {"w1", "w2"}, f"shards ran in {hosts}"
    rows = Ranking.objects.filter(version=version)
    assert rows.count() == rows.values("user_id").distinct().count() == EndUser.objects.for_tenant(alice.tenant).count()
    parallel = rankings_of(version)
    assert parallel.keys() == single.keys()
    # Same items with the same scores; float noise between processes may swap exact ties only.
    for user, items in single.items():
        theirs = dict(parallel[user])
        assert theirs.keys() == dict(items).keys(), user
        assert [theirs[i] for i, _ in items] == pytest.approx([s for _, s in items], abs=1e-4), user


def test_a_gpu_queue_worker_trains_and_a_cpu_queue_worker_precomputes(alice, quick_training, workers):
    """End to end through real workers, split as on several machines (docs/operations.md)."""
    load_small_shop(alice.tenant)
    (gpu,) = workers("gpu", queues="gpu")
    (cpu,) = workers("cpu", queues="cpu")

    run, _ = training.request_training(alice.tenant, trigger="api")

    def finished():
        run.refresh_from_db()
        return run.is_finished and run.rankings_ready

    wait_for(finished, 300, "training on the GPU queue and precompute on the CPU queue")
    assert run.status == RunStatus.SUCCEEDED and run.is_active, run.error
    assert run.attempts == 1 and run.device == "cpu"
    assert run.shards.filter(done=True).count() == run.n_shards >= 1
    assert "Task worker.tasks.train_reranker[" in gpu.output() and "Task worker.tasks.train_reranker[" not in cpu.output()
    hosts = {name.split("@")[0] for name in run.shards.values_list("worker", flat=True)}
    assert hosts == {"cpu"}, f"shards ran in {hosts}"
    assert Ranking.objects.filter(version=run).count() == EndUser.objects.for_tenant(alice.tenant).count()
