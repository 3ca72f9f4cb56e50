"""A broker that refuses the training message must not leave the tenant blocked by a queued run."""
from __future__ import annotations

import pytest
from django.utils import timezone

from reranking.models import ModelVersion, RunStatus
from reranking.services import training
from worker import tasks

pytestmark = pytest.mark.django_db


def test_an_unreachable_queue_fails_the_run_and_says_so(alice, monkeypatch, django_capture_on_commit_callbacks):
    def refuse(*args):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.train_reranker, "delay", refuse)
    with pytest.raises(training.QueueUnavailable, match="unavailable"):
        with django_capture_on_commit_callbacks(execute=True):
            training.request_training(alice.tenant)
    run = ModelVersion.objects.for_tenant(alice.tenant).get()
    assert run.status == RunStatus.FAILED and "broker down" in run.error

    monkeypatch.setattr(tasks.train_reranker, "delay", lambda *args: None)
    with django_capture_on_commit_callbacks(execute=True):
        _, created = training.request_training(alice.tenant)
    assert created


def test_a_queued_run_nobody_claimed_is_sent_again(alice, monkeypatch, settings):
    sent = []
    monkeypatch.setattr(tasks.train_reranker, "delay", lambda *args: sent.append(args))
    run, _ = training.request_training(alice.tenant, enqueue=False)
    ModelVersion.objects.filter(pk=run.pk).update(created_at=timezone.now() - timezone.timedelta(hours=1))
    settings.RECS_QUEUED_RESEND_SECONDS = 600
    training.reap_stale_runs()
    assert sent == [(alice.tenant.pk, run.pk)]
