"""Fixtures of the privacy-rights tests: a recorded task queue and a tenant with users, events and rankings."""
from __future__ import annotations

import pytest

from reranking.models import EndUser, ModelVersion, Ranking, RunStatus
from tests.ui.helpers import load_events


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Erasure deletes cache keys by version id; ids repeat across test databases."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def empty_served_buffer():
    """The served-list buffer holds tenant ids, which repeat across test databases."""
    from django.conf import settings

    from reranking.services import served_log

    served_log._pending.clear()  # lists other tests served in this process, not yet pushed
    client = served_log.redis_client()
    if client is not None:
        client.delete(settings.RECS_SERVED_LOG_KEY)
    yield
    if client is not None:
        client.delete(settings.RECS_SERVED_LOG_KEY)


@pytest.fixture
def queue(monkeypatch) -> list:
    """Record training tasks instead of sending them to a broker: [(tenant_id, run_id), ...]."""
    sent: list = []
    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: sent.append(args))
    return sent


def ready_version(tenant, number: int, *, active: bool = False) -> ModelVersion:
    """A succeeded version with rankings for every end user (no artifact: nothing here loads it)."""
    version = ModelVersion.objects.create(
        tenant=tenant, number=number, status=RunStatus.SUCCEEDED, rankings_ready=True, is_active=active,
        artifact_path=f"models/v{number}", metrics={"validation": {"reranker": {"ndcg@10": 0.3}}},
    )
    Ranking.objects.bulk_create(
        Ranking(tenant=tenant, version=version, user=user, user_external_id=user.external_id, items=[["sku-1", 1.0]])
        for user in EndUser.objects.for_tenant(tenant)
    )
    return version


@pytest.fixture
def users(alice, catalogue) -> ModelVersion:
    """ann (3 events) and ben (3 events) in alice's shop, an active v1 and an inactive v2 with rankings for both."""
    load_events(alice.tenant)
    v1 = ready_version(alice.tenant, 1, active=True)
    ready_version(alice.tenant, 2)
    return v1
