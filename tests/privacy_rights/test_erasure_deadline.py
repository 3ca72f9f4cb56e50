"""The deadline task asks again for the clean retrain of an erasure whose retrain failed."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reranking.models import EndUser, ErasureRecord, ModelVersion, PrivacySettings, RunStatus
from reranking.services import privacy, training
from worker.tasks import retry_overdue_erasures

pytestmark = pytest.mark.django_db


@pytest.fixture
def erased(alice, users, queue) -> ErasureRecord:
    """ann erased; the clean retrain (v3) then failed."""
    user = EndUser.objects.for_tenant(alice.tenant).get(external_id="ann")
    record = privacy.erase_user(alice.tenant, user, privacy.Requester(via="api", api_key_name="ops"))
    training.fail(ModelVersion.objects.for_tenant(alice.tenant).get(number=3), "boom")
    return record


def test_an_overdue_erasure_gets_a_new_clean_retrain(alice, erased):
    PrivacySettings.objects.create(tenant=alice.tenant, erasure_retrain_hours=2)
    ErasureRecord.objects.filter(pk=erased.pk).update(retrain_requested_at=timezone.now() - timedelta(hours=3))

    assert retry_overdue_erasures() == [erased.pk]

    retrain = ModelVersion.objects.for_tenant(alice.tenant).get(status=RunStatus.QUEUED)
    assert retrain.number == 4 and retrain.activate_when_ready and retrain.trigger == "erasure"
    erased.refresh_from_db()
    assert erased.retrain_attempts == 2 and erased.retrain_requested_at > timezone.now() - timedelta(minutes=1)
    assert retry_overdue_erasures() == []  # not again until the next deadline


def test_nothing_is_requested_before_the_deadline(alice, erased):
    PrivacySettings.for_tenant(alice.tenant)  # the default: 24 hours
    ErasureRecord.objects.filter(pk=erased.pk).update(retrain_requested_at=timezone.now() - timedelta(hours=23))
    assert retry_overdue_erasures() == []
    assert not ModelVersion.objects.for_tenant(alice.tenant).filter(status=RunStatus.QUEUED).exists()


def test_a_completed_erasure_is_left_alone(alice, erased):
    ErasureRecord.objects.filter(pk=erased.pk).update(
        retrain_requested_at=timezone.now() - timedelta(days=3), completed_at=timezone.now()
    )
    assert retry_overdue_erasures() == []


def test_a_clean_run_in_flight_is_awaited(alice, erased):
    ErasureRecord.objects.filter(pk=erased.pk).update(retrain_requested_at=timezone.now() - timedelta(days=3))
    training.request_training(alice.tenant, enqueue=False)
    assert retry_overdue_erasures() == []
