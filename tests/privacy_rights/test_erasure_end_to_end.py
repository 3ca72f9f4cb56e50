"""Erasing an end user, end to end: data and cache gone, audit kept, and a retrain without them activated."""
from __future__ import annotations

import hashlib

import pytest
from django.core.cache import cache
from django.forms.models import model_to_dict

from reranking.models import EndUser, ErasureRecord, Event, ModelVersion, Ranking, RunStatus
from reranking.services import precompute, training
from reranking.services.cache import last_event_key, ranking_key
from reranking.services.datasets import tenant_dataset
from reranking.services.embeddings import live_items
from tests.worker.conftest import QUICK, load_small_shop

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def shop(alice, settings, tmp_path):
    settings.RECS_TRAINING_OVERRIDES = QUICK
    settings.MEDIA_ROOT = tmp_path / "media"
    load_small_shop(alice.tenant)
    return alice


def train_in_process(run: ModelVersion) -> ModelVersion:
    """Train and precompute a queued run here, as the worker would."""
    trained = training.run_training(run.pk)
    assert trained is not None, ModelVersion.objects.get(pk=run.pk).error
    for shard in precompute.plan_shards(trained):
        precompute.run_shard(shard.pk)
    trained.refresh_from_db()
    return trained


def test_an_erased_user_leaves_no_trace_in_data_cache_audit_or_the_active_model(
    shop, queue, django_capture_on_commit_callbacks
):
    tenant = shop.tenant
    run, _ = training.request_training(tenant, enqueue=False)
    v1 = train_in_process(run)
    assert v1.is_active
    user = EndUser.objects.for_tenant(tenant).order_by("id").first()
    other = EndUser.objects.for_tenant(tenant).order_by("id").last()
    ext, n_events = user.external_id, Event.objects.filter(user=user).count()
    assert n_events and Ranking.objects.filter(user=user).count() == 1
    cache.set_many({ranking_key(v1.pk, ext): [["x", 1.0]], last_event_key(tenant.pk, ext): 1.0,
                    ranking_key(v1.pk, other.external_id): [["x", 1.0]]})

    # 1. Erase through the API.
    with django_capture_on_commit_callbacks(execute=True):
        response = shop.client.post(f"/api/v1/users/{ext}/erase")
    assert response.status_code == 200, response.content

    # 2. The user's rows and cache entries are gone; other users' stay.
    assert not EndUser.objects.for_tenant(tenant).filter(external_id=ext).exists()
    assert not Event.objects.for_tenant(tenant).filter(user_id=user.pk).exists()
    assert not Ranking.objects.for_tenant(tenant).filter(user_external_id=ext).exists()
    assert cache.get(ranking_key(v1.pk, ext)) is None and cache.get(last_event_key(tenant.pk, ext)) is None
    assert cache.get(ranking_key(v1.pk, other.external_id)) is not None
    assert shop.client.get(f"/api/v1/users/{ext}/recommendations").status_code == 404

    # 3. The audit record has the counts and nothing that identifies the user.
    record = ErasureRecord.objects.get(tenant=tenant)
    assert (record.events_deleted, record.rankings_deleted, record.via) == (n_events, 1, "api")
    assert record.api_key_name == "all" and record.completed_at is None
    stored = repr(model_to_dict(record)) + response.content.decode()
    for trace in (ext, hashlib.sha256(ext.encode()).hexdigest(), hashlib.md5(ext.encode()).hexdigest()):
        assert trace not in stored

    # 4. Old versions are flagged; a clean retrain was queued to activate whatever its metrics.
    v1.refresh_from_db()
    assert v1.contains_erased_data and v1.is_active  # still serving the others until the retrain is ready
    retrain = ModelVersion.objects.for_tenant(tenant).get(status=RunStatus.QUEUED)
    assert retrain.activate_when_ready and not retrain.contains_erased_data
    assert queue == [(tenant.pk, retrain.pk)]

    # 5. The retrain runs; its snapshot excludes the user, it is activated and completes the erasure.
    v2 = train_in_process(retrain)
    assert v2.is_active and v2.n_users == v1.n_users - 1
    dataset = tenant_dataset(tenant, live_items(tenant), v2.max_event_id)
    assert ext not in dataset.user_ids and dataset.n_users == v2.n_users
    record.refresh_from_db()
    assert record.completed_at is not None and record.version == v2

    # 6. The old version can never come back.
    refused = shop.client.post(f"/api/v1/models/{v1.number}/activate")
    assert refused.status_code == 400 and "contains_erased_data" in refused.json()["error"]["message"]
    with pytest.raises(ValueError, match="contains_erased_data"):
        precompute.activate(v1)
    assert ModelVersion.objects.for_tenant(tenant).get(is_active=True) == v2
