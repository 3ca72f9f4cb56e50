"""The beat task that decides when a tenant retrains."""
from __future__ import annotations

import pytest
from django.utils import timezone

from reranking.models import ModelVersion, RunStatus, TrainingPolicy
from reranking.services.ingest import ingest_events
from worker import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.train_reranker, "delay", lambda *args: sent.append(args))
    return sent


def finished_run(tenant, max_event_id: int) -> ModelVersion:
    return ModelVersion.objects.create(
        tenant=tenant, number=1, status=RunStatus.SUCCEEDED, max_event_id=max_event_id, finished_at=timezone.now()
    )


def test_a_tenant_with_events_and_no_model_is_trained(alice, catalogue):
    TrainingPolicy.for_tenant(alice.tenant)
    ingest_events(alice.tenant, [{"user_id": "u1", "item_id": catalogue[0]}])
    assert tasks.schedule_retraining() == [alice.tenant.slug]


def test_enough_new_events_trigger_a_retrain_and_few_do_not(alice, catalogue):
    policy = TrainingPolicy.for_tenant(alice.tenant)
    policy.retrain_min_new_events = 3
    policy.save()
    ingest_events(alice.tenant, [{"user_id": "u1", "item_id": catalogue[0]}])
    finished_run(alice.tenant, max_event_id=10**9)
    assert tasks.schedule_retraining() == []

    ModelVersion.objects.update(max_event_id=0)
    ingest_events(alice.tenant, [{"user_id": f"u{n}", "item_id": catalogue[1]} for n in range(3)])
    assert tasks.schedule_retraining() == [alice.tenant.slug]


def test_tenants_that_opted_out_are_left_alone(alice, catalogue):
    TrainingPolicy.objects.create(tenant=alice.tenant, auto_retrain=False)
    ingest_events(alice.tenant, [{"user_id": "u1", "item_id": catalogue[0]}])
    assert tasks.schedule_retraining() == []
