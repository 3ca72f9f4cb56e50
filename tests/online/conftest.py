"""Fixtures of the closing-the-loop tests: alice's shop with two ready versions that serve different lists."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reranking.models import EndUser, ModelVersion, Ranking, RunStatus
from tests.ui.helpers import load_events

V1_LIST = ["sku-1", "sku-2", "sku-3"]
V2_LIST = ["sku-4", "sku-5", "sku-6"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Serving and experiments cache by tenant and version ids, which repeat across test databases."""
    from django.conf import settings
    from django.core.cache import cache

    from reranking.services import served_log

    cache.clear()
    served_log._pending.clear()
    client = served_log.redis_client()
    if client is not None:
        client.delete(settings.RECS_SERVED_LOG_KEY)
    yield
    served_log._pending.clear()
    if client is not None:
        client.delete(settings.RECS_SERVED_LOG_KEY)


def ready_version(tenant, number: int, items: list[str], *, active: bool = False) -> ModelVersion:
    """A succeeded version whose rankings give every end user `items` (no artifact: nothing here loads it)."""
    version = ModelVersion.objects.create(
        tenant=tenant, number=number, status=RunStatus.SUCCEEDED, rankings_ready=True, is_active=active,
        artifact_path=f"models/v{number}", metrics={"validation": {"reranker": {"ndcg@10": 0.3}}},
    )
    later = timezone.now() + timedelta(days=1)  # newer than any event: never re-scored live
    Ranking.objects.bulk_create(
        Ranking(tenant=tenant, version=version, user=user, user_external_id=user.external_id, computed_at=later,
                items=[[item, float(10 - n)] for n, item in enumerate(items)])
        for user in EndUser.objects.for_tenant(tenant)
    )
    return version


@pytest.fixture
def shop(alice, catalogue) -> dict:
    """ann and ben with events, 40 more users, an active v1 (sku-1..3) and an inactive v2 (sku-4..6)."""
    from reranking.services.ingest import ingest_events

    load_events(alice.tenant)
    ingest_events(alice.tenant, [
        {"user_id": f"u{n}", "item_id": "sku-1", "event_type": "view", "timestamp": "2026-01-03T10:00:00Z"}
        for n in range(40)
    ])
    return {"v1": ready_version(alice.tenant, 1, V1_LIST, active=True), "v2": ready_version(alice.tenant, 2, V2_LIST)}


def impressions():
    """Every impression stored so far (after flushing the served-list log when Redis buffers it)."""
    from reranking.models import Impression
    from reranking.services import served_log

    served_log.flush()
    return Impression.objects.order_by("id")
