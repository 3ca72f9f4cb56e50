"""Each webhook event is emitted where it happens: activation, the gate, failed training, erasure, experiments."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reranking.models import ErasureRecord, ModelVersion, RunStatus, WebhookDelivery
from reranking.services import experiments, precompute, training, webhooks

pytestmark = pytest.mark.django_db

ALL = ["model.activated", "model.not_activated", "training.failed", "erasure.completed", "experiment.finished"]


@pytest.fixture
def hooked(alice, receiver):
    """alice's tenant with one endpoint subscribed to everything; charlie's with one too (it must hear nothing)."""
    webhooks.create_endpoint(alice.tenant, receiver.url, ALL)
    return alice


@pytest.fixture(autouse=True)
def charlie_listens(charlie, receiver):
    webhooks.create_endpoint(charlie.tenant, receiver.url, ALL)


def sent(tenant) -> list[tuple[str, dict]]:
    return [(d.event, d.payload["data"]) for d in WebhookDelivery.objects.for_tenant(tenant).order_by("id")]


def version(tenant, number: int, ndcg: float, **fields) -> ModelVersion:
    defaults = {"status": RunStatus.SUCCEEDED, "rankings_ready": True, "metrics": {"validation": {"reranker": {"ndcg@10": ndcg}}}}
    return ModelVersion.objects.create(tenant=tenant, number=number, **{**defaults, **fields})


def test_a_finished_retrain_says_activated_or_not_and_why(hooked, charlie):
    tenant = hooked.tenant
    first = version(tenant, 1, 0.30, status=RunStatus.RUNNING, rankings_ready=False, n_shards=0)
    precompute.maybe_finish(first.pk)
    worse = version(tenant, 2, 0.20, status=RunStatus.RUNNING, rankings_ready=False, n_shards=0)
    precompute.maybe_finish(worse.pk)
    (e1, d1), (e2, d2) = sent(tenant)
    assert e1 == "model.activated" and d1["version"] == 1 and d1["serves"] == "reranker" and d1["validation_ndcg"] == 0.30
    assert e2 == "model.not_activated" and d2["version"] == 2
    assert d2["reason"].startswith("Not activated: validation NDCG@10 0.2 is worse than the active v1's 0.3")
    assert sent(charlie.tenant) == []


def test_a_retrain_on_erased_data_is_not_activated_and_says_so(hooked):
    tenant = hooked.tenant
    stale = version(tenant, 1, 0.3, status=RunStatus.RUNNING, rankings_ready=False, n_shards=0, contains_erased_data=True)
    precompute.maybe_finish(stale.pk)
    assert sent(tenant) == [("model.not_activated", {"version": 1, "reason": precompute.ERASED_NOTE, "serves": "reranker",
                                                      "validation_ndcg": 0.3})]


def test_activating_by_hand_and_completing_an_erasure_are_both_told(hooked):
    tenant = hooked.tenant
    record = ErasureRecord.objects.create(tenant=tenant, via="api", created_at=timezone.now() - timedelta(minutes=5))
    clean = version(tenant, 4, 0.3)
    precompute.activate(clean)
    events = dict(sent(tenant))
    assert events["model.activated"]["version"] == 4
    assert events["erasure.completed"]["erasure"] == record.pk and events["erasure.completed"]["version"] == 4
    record.refresh_from_db()
    assert record.completed_at is not None


def test_failed_training_is_told_with_its_first_line(hooked):
    run, _ = training.request_training(hooked.tenant, enqueue=False)
    assert training.run_training(run.pk) is None  # no items, no events: refused
    assert sent(hooked.tenant) == [("training.failed", {"version": run.number,
                                                        "error": "The tenant has no items or no events to train on."})]


def test_a_run_whose_worker_died_is_told_as_failed(hooked, settings):
    stale = timezone.now() - timedelta(seconds=settings.RECS_RUN_STALE_SECONDS + 60)
    run = version(hooked.tenant, 1, 0.3, status=RunStatus.RUNNING, rankings_ready=False, heartbeat_at=stale)
    assert training.reap_stale_runs() == [run.pk]
    [(event, data)] = sent(hooked.tenant)
    assert event == "training.failed" and data["version"] == 1 and "stopped reporting" in data["error"]


def test_stopping_or_promoting_an_experiment_is_told_once(hooked):
    tenant = hooked.tenant
    version(tenant, 1, 0.3, is_active=True)
    arms = [{"kind": "reranker", "share": 50}, {"kind": "popular", "share": 50}]
    first = experiments.start(tenant, "re-ranker vs popular", arms)
    assert hooked.client.post(f"/api/v1/experiments/{first.pk}/stop").status_code == 200
    second = experiments.start(tenant, "again", arms)
    promoted = hooked.client.post(f"/api/v1/experiments/{second.pk}/promote", {"arm": "reranker"}, format="json")
    assert promoted.status_code == 200
    (e1, d1), (e2, d2) = sent(tenant)
    assert e1 == e2 == "experiment.finished"
    assert d1["experiment"] == first.pk and d1["winner"] == "" and d1["arms"] == ["reranker", "popular"]
    assert d2["experiment"] == second.pk and d2["winner"] == "reranker" and d2["note"].startswith("Promoted reranker")
    assert d2["results"] == f"/api/v1/experiments/{second.pk}"
