"""Retention: events older than the tenant's period are deleted in short batches; settings are validated."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reranking.models import EndUser, Event, PrivacySettings
from reranking.services.ingest import ingest_events
from worker.tasks import delete_expired_events

pytestmark = pytest.mark.django_db


def events_aged(tenant, days: list[int], user: str = "ann") -> None:
    now = timezone.now()
    rows = [
        {"user_id": user, "item_id": "sku-1", "event_type": "view", "timestamp": (now - timedelta(days=d, minutes=i)).isoformat()}
        for i, d in enumerate(days)
    ]
    assert ingest_events(tenant, rows).stored == len(rows)


def test_only_events_older_than_the_period_are_deleted_in_batches(alice, charlie, catalogue, settings):
    from reranking.services.catalogue import upsert_items

    settings.RECS_RETENTION_BATCH = 2
    events_aged(alice.tenant, [40] * 5 + [10] * 3)
    events_aged(alice.tenant, [50], user="old-only")
    upsert_items(charlie.tenant, [{"item_id": "sku-1", "title": "One"}])
    events_aged(charlie.tenant, [400] * 2)  # charlie keeps everything
    PrivacySettings.objects.create(tenant=alice.tenant, retention_days=30)

    with CaptureQueriesContext(connection) as queries:
        deleted = delete_expired_events()

    assert deleted == {"alice-shop": 6}
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "reranking_event"')]
    assert len(deletes) == 3, "6 old events at 2 per statement"
    ages = [timezone.now() - t for t in Event.objects.for_tenant(alice.tenant).values_list("timestamp", flat=True)]
    assert len(ages) == 3 and all(age < timedelta(days=30) for age in ages)
    assert Event.objects.for_tenant(charlie.tenant).count() == 2
    assert EndUser.objects.for_tenant(alice.tenant).filter(external_id="old-only").exists()  # users may stay
    assert delete_expired_events() == {"alice-shop": 0}


@pytest.mark.parametrize("value", [0, 3651, -1, "soon"])
def test_the_api_refuses_a_retention_outside_1_to_3650_days(alice, value):
    response = alice.client.patch("/api/v1/privacy", {"retention_days": value}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("retention_days")
    assert PrivacySettings.for_tenant(alice.tenant).retention_days is None


def test_the_api_sets_and_clears_retention(alice):
    assert alice.client.patch("/api/v1/privacy", {"retention_days": 365}, format="json").json()["retention_days"] == 365
    assert alice.client.patch("/api/v1/privacy", {"retention_days": None}, format="json").json()["retention_days"] is None
    assert alice.client_with("read").patch("/api/v1/privacy", {"retention_days": 5}, format="json").status_code == 403
