"""Cancel stops training: the loop checks between steps, the task is revoked, the next run starts at once."""
from __future__ import annotations

import time

import pytest

from reranking.ml.train import Cancelled
from reranking.models import ModelVersion, RunStatus
from reranking.services import training

from .conftest import load_small_shop, wait_for


@pytest.mark.django_db
def test_a_progress_report_after_cancel_stops_the_run(alice):
    run = ModelVersion.objects.create(tenant=alice.tenant, number=1, status=RunStatus.RUNNING, phase="training epoch 1/8")
    training.set_progress(run, "training epoch 1/8", 30.0)
    assert training.cancel(run, by=alice.owner)
    with pytest.raises(Cancelled):
        training.set_progress(run, "training epoch 1/8", 31.0)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.activation_note == "Cancelled by alice at phase training epoch 1/8 (30%)."
    assert not training.cancel(run)  # already finished


@pytest.mark.django_db
def test_a_cancelled_run_ends_quietly_in_the_worker(shop, monkeypatch):
    """run_training returns None, leaves the run cancelled (not failed) and saves no artifact."""
    run, _ = training.request_training(shop.tenant, enqueue=False)
    calls = []

    def cancel_midway(phase: str, percent: float) -> None:
        calls.append(phase)
        if phase.startswith("training") and len(calls) > 3:
            training.cancel(run, by=shop.owner)

    assert training.run_training(run.pk, progress=cancel_midway) is None
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and not run.artifact_path and not run.error
    assert run.activation_note.startswith("Cancelled by alice at phase ")


def test_the_training_task_id_is_derived_from_the_run(monkeypatch):
    from celery import Task

    from worker.tasks import train_reranker

    sent = []
    monkeypatch.setattr(Task, "apply_async", lambda self, args=None, kwargs=None, task_id=None, **o: sent.append(task_id))
    train_reranker.delay(7, 42)
    assert sent == [training.task_id(7, 42)] == ["train-7-42"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_real_worker_within_seconds_and_the_next_run_starts(alice, quick_training, workers):
    load_small_shop(alice.tenant)
    # A long training (many epochs), so without a working cancel the worker would stay busy for minutes.
    workers("w1", env={"RECS_TRAINING_OVERRIDES": '{"max_epochs": 200, "patience": 200}'})
    run, _ = training.request_training(alice.tenant)

    def training_now():
        run.refresh_from_db()
        return run.status == RunStatus.RUNNING and run.phase.startswith("training")

    wait_for(training_now, 240, "the run to be training")
    assert training.cancel(run, by=alice.owner)
    cancelled_at = time.monotonic()
    # One worker, concurrency 1: the next run can only start once the cancelled one let go of it.
    nxt, created = training.request_training(alice.tenant)
    assert created and nxt.number == run.number + 1

    def next_started():
        nxt.refresh_from_db()
        return nxt.status == RunStatus.RUNNING

    wait_for(next_started, 10, "the next run to start on the worker freed by the cancel")
    assert time.monotonic() - cancelled_at < 10
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.activation_note.startswith("Cancelled by alice at phase training")
    training.cancel(nxt)
