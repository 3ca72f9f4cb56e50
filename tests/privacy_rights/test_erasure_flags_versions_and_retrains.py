"""After an erasure every older version is flagged and unusable, and a clean retrain is queued at once."""
from __future__ import annotations

import pytest

from reranking.models import ErasureRecord, ModelVersion, RunStatus
from reranking.services import precompute, privacy, training
from reranking.models import EndUser

pytestmark = pytest.mark.django_db


def erase(tenant, external_id: str) -> ErasureRecord:
    user = EndUser.objects.for_tenant(tenant).get(external_id=external_id)
    return privacy.erase_user(tenant, user, privacy.Requester(via="api", api_key_name="ops"))


def test_a_run_in_flight_is_cancelled_and_a_clean_one_queued(alice, users, queue, django_capture_on_commit_callbacks):
    in_flight, _ = training.request_training(alice.tenant, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        erase(alice.tenant, "ann")
    in_flight.refresh_from_db()
    assert in_flight.status == RunStatus.CANCELLED and in_flight.contains_erased_data
    retrain = ModelVersion.objects.for_tenant(alice.tenant).get(status=RunStatus.QUEUED)
    assert retrain.activate_when_ready and retrain.trigger == "erasure" and not retrain.contains_erased_data
    assert queue == [(alice.tenant.pk, retrain.pk)]
    assert set(ModelVersion.objects.for_tenant(alice.tenant).filter(contains_erased_data=True).values_list("number", flat=True)) == {1, 2, 3}


def test_flagged_versions_cannot_be_activated(alice, users, queue):
    erase(alice.tenant, "ann")
    old = ModelVersion.objects.for_tenant(alice.tenant).get(number=2)
    with pytest.raises(ValueError, match="contains_erased_data"):
        precompute.activate(old)
    with pytest.raises(ValueError, match="contains_erased_data"):
        precompute.request_activation(old)
    response = alice.client.post("/api/v1/models/2/activate")
    assert response.status_code == 400
    assert "contains_erased_data" in response.json()["error"]["message"]
    assert ModelVersion.objects.for_tenant(alice.tenant).get(is_active=True).number == 1  # still serving meanwhile


def test_a_clean_version_replaces_a_flagged_active_one_whatever_the_gate(alice, users, queue):
    record = erase(alice.tenant, "ann")
    ModelVersion.objects.for_tenant(alice.tenant).filter(number=1).update(metrics={"validation": {"reranker": {"ndcg@10": 0.99}}})
    clean = ModelVersion.objects.for_tenant(alice.tenant).get(number=3)
    clean.metrics = {"validation": {"reranker": {"ndcg@10": 0.01}}}
    clean.save(update_fields=["metrics"])
    assert precompute.passes_gate(clean)
    clean.status, clean.rankings_ready = RunStatus.SUCCEEDED, True
    clean.save(update_fields=["status", "rankings_ready"])
    precompute.activate(clean)
    record.refresh_from_db()
    assert record.completed_at is not None and record.version == clean


def test_a_flagged_version_finishing_precompute_is_not_activated(alice, users, queue):
    v1 = ModelVersion.objects.for_tenant(alice.tenant).get(number=1)
    v2 = ModelVersion.objects.for_tenant(alice.tenant).get(number=2)
    ModelVersion.objects.filter(pk=v2.pk).update(rankings_ready=False, activate_when_ready=True)
    erase(alice.tenant, "ann")
    assert precompute.maybe_finish(v2.pk)
    v2.refresh_from_db()
    assert not v2.is_active and "contains_erased_data" in v2.activation_note
    assert ModelVersion.objects.get(pk=v1.pk).is_active


def test_the_erasure_stands_when_the_queue_is_down(alice, users, monkeypatch, django_capture_on_commit_callbacks):
    def down(*args):
        raise ConnectionError("broker down")

    monkeypatch.setattr("worker.tasks.train_reranker.delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        record = erase(alice.tenant, "ann")
    assert record.events_deleted == 3 and record.completed_at is None
    assert not EndUser.objects.for_tenant(alice.tenant).filter(external_id="ann").exists()
    assert ModelVersion.objects.for_tenant(alice.tenant).get(number=3).status == RunStatus.FAILED
