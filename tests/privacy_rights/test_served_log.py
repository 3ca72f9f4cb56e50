"""The served-recommendation log: buffered per process, pushed to Redis, flushed in batches, reached by erasure and retention."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from reranking.models import PrivacySettings, ServedRecommendation
from reranking.services import served_log
from reranking.services.ingest import ingest_events
from worker.tasks import delete_expired_events, flush_served_log

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the log is buffered in the real Redis


def buffered() -> int:
    """Entries waiting in Redis, after this process pushed its own (its thread does so every FLUSH_SECONDS)."""
    served_log.push_pending()
    return served_log.redis_client().llen(settings.RECS_SERVED_LOG_KEY)


def test_serving_buffers_one_entry_per_list_and_the_beat_task_stores_them(alice, users):
    first = alice.client.get("/api/v1/users/ann/recommendations").json()
    alice.client.get("/api/v1/recommendations")  # anonymous: an impression, but nobody could ask for it
    assert buffered() == 2 and not ServedRecommendation.objects.exists()

    assert flush_served_log() == 2  # two impressions, one list to export
    row = ServedRecommendation.objects.get()
    assert row.user.external_id == "ann" and row.recommendation_id == first["recommendation_id"]
    assert row.items == [item["item_id"] for item in first["items"]] and row.model_version == 1
    assert buffered() == 0 and flush_served_log() == 0


def test_erasure_deletes_the_log_and_drops_what_is_still_buffered(alice, users, queue):
    alice.client.get("/api/v1/users/ann/recommendations")
    flush_served_log()
    alice.client.get("/api/v1/users/ann/recommendations")
    alice.client.get("/api/v1/users/ben/recommendations")
    assert buffered() == 2

    assert alice.client.post("/api/v1/users/ann/erase").status_code == 200
    assert not ServedRecommendation.objects.filter(user__external_id="ann").exists()
    ingest_events(alice.tenant, [{"user_id": "ann", "item_id": "sku-4"}])  # a new "ann" appears after the erasure
    assert flush_served_log() == 2  # impressions; the list served to the erased ann is dropped from the log
    assert list(ServedRecommendation.objects.values_list("user__external_id", flat=True)) == ["ben"]
    assert alice.client.get("/api/v1/users/ann/export").json()["recommendations_served"] == []


def test_retention_deletes_old_lists_served(alice, users):
    alice.client.get("/api/v1/users/ann/recommendations")
    alice.client.get("/api/v1/users/ben/recommendations")
    flush_served_log()
    ServedRecommendation.objects.filter(user__external_id="ann").update(served_at=timezone.now() - timedelta(days=40))
    PrivacySettings.objects.filter(tenant=alice.tenant).update(retention_days=30)
    delete_expired_events()
    assert list(ServedRecommendation.objects.values_list("user__external_id", flat=True)) == ["ben"]


def test_serving_makes_no_log_round_trip_and_the_process_thread_pushes_the_entries(alice, users):
    served_log.push_pending()
    alice.client.get("/api/v1/users/ann/recommendations")
    assert len(served_log._pending) == 1  # held in the process, not yet in Redis
    assert served_log._flusher["thread"].is_alive()
    deadline = time.monotonic() + 10 * served_log.FLUSH_SECONDS + 5
    while served_log.redis_client().llen(settings.RECS_SERVED_LOG_KEY) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served_log.redis_client().llen(settings.RECS_SERVED_LOG_KEY) == 1 and not served_log._pending


def test_serving_does_not_fail_when_redis_is_down_and_the_entries_are_dropped(alice, users, monkeypatch, caplog):
    class Down:
        def rpush(self, *args):
            raise ConnectionError("redis is down")

    served_log.push_pending()
    monkeypatch.setattr(served_log, "redis_client", lambda: Down())
    assert alice.client.get("/api/v1/users/ann/recommendations").status_code == 200
    assert served_log.push_pending() == 0 and not served_log._pending
    assert "dropped 1 entries" in caplog.text


def test_lists_buffered_before_ids_turn_pseudonymous_are_kept_and_exported(alice, users,
                                                                          django_capture_on_commit_callbacks):
    served = alice.client.get("/api/v1/users/ann/recommendations").json()  # also caches "ids as sent"
    with django_capture_on_commit_callbacks(execute=True):  # the switch drops that cache on commit
        assert alice.client.patch("/api/v1/privacy", {"pseudonymous_ids": True}, format="json").status_code == 200
    body = alice.client.get("/api/v1/users/ann/export").json()
    assert body["user_id"] == "ann" and body["profile"]["stored_as_pseudonym"] is True
    assert [s["recommendation_id"] for s in body["recommendations_served"]] == [served["recommendation_id"]]
    assert len(body["events"]) == 3
