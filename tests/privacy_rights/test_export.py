"""Access requests: GET /api/v1/users/{id}/export and the privacy page's export, with the served-list log."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reranking.models import PrivacySettings, ServedRecommendation
from reranking.services import served_log
from reranking.services.ingest import ingest_events
from worker.tasks import delete_expired_events, flush_served_log

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the log is buffered in the real Redis


@pytest.fixture(autouse=True)
def empty_buffer():
    client = served_log.redis_client()
    if client is None:
        pytest.skip("needs Redis (set REDIS_URL)")
    client.delete(settings.RECS_SERVED_LOG_KEY)
    yield
    client.delete(settings.RECS_SERVED_LOG_KEY)


def buffered() -> int:
    return served_log.redis_client().llen(settings.RECS_SERVED_LOG_KEY)


def test_serving_buffers_one_entry_per_list_and_the_beat_task_stores_them(alice, users):
    first = alice.client.get("/api/v1/users/ann/recommendations").json()
    alice.client.get("/api/v1/recommendations")  # anonymous: nobody could ask for it, nothing logged
    assert buffered() == 1 and not ServedRecommendation.objects.exists()

    assert flush_served_log() == 1
    row = ServedRecommendation.objects.get()
    assert row.user.external_id == "ann" and row.recommendation_id == first["recommendation_id"]
    assert row.items == [item["item_id"] for item in first["items"]] and row.model_version == 1
    assert buffered() == 0 and flush_served_log() == 0


def test_the_export_holds_profile_events_lists_served_and_erasure_status(alice, users):
    served = alice.client.get("/api/v1/users/ann/recommendations").json()
    response = alice.client.get("/api/v1/users/ann/export")
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "ann" and body["profile"]["stored_as_pseudonym"] is False
    assert [(e["item_id"], e["event_type"]) for e in body["events"]] == [
        ("sku-1", "view"), ("sku-2", "click"), ("sku-2", "add_to_cart")
    ]
    # The export flushes the buffer first: the list served a moment ago is in it.
    assert [s["recommendation_id"] for s in body["recommendations_served"]] == [served["recommendation_id"]]
    assert body["recommendations_served"][0]["items"] == [i["item_id"] for i in served["items"]]
    assert sorted(r["model_version"] for r in body["precomputed_rankings"]) == [1, 2]
    assert body["erasure"]["erased"] is False
    assert "ben" not in response.content.decode()  # nobody else's data


def test_another_tenant_and_keys_without_admin_scope_get_nothing(alice, charlie, users):
    assert charlie.client.get("/api/v1/users/ann/export").status_code == 404
    for scope in ("read", "ingest"):
        assert alice.client_with(scope).get("/api/v1/users/ann/export").status_code == 403
    assert alice.client.get("/api/v1/users/nobody/export").status_code == 404


def test_erasure_deletes_the_log_and_drops_what_is_still_buffered(alice, users, queue):
    alice.client.get("/api/v1/users/ann/recommendations")
    flush_served_log()
    alice.client.get("/api/v1/users/ann/recommendations")
    alice.client.get("/api/v1/users/ben/recommendations")
    assert buffered() == 2

    assert alice.client.post("/api/v1/users/ann/erase").status_code == 200
    assert not ServedRecommendation.objects.filter(user__external_id="ann").exists()
    ingest_events(alice.tenant, [{"user_id": "ann", "item_id": "sku-4"}])  # a new "ann" appears after the erasure
    assert flush_served_log() == 1  # ben's; the list served to the erased ann is dropped
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


def test_serving_does_not_fail_when_redis_is_down(alice, users, monkeypatch):
    class Down:
        def rpush(self, *args):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(served_log, "redis_client", lambda: Down())
    assert alice.client.get("/api/v1/users/ann/recommendations").status_code == 200


def test_a_manager_downloads_the_export_from_the_privacy_page_and_a_viewer_cannot(alice, users):
    from django.contrib.auth import get_user_model

    page = reverse("ui:privacy", args=[alice.tenant.slug])
    owner = Client()
    owner.force_login(alice.owner)
    assert 'id="export"' in owner.get(page).content.decode()
    response = owner.post(page, {"action": "export", "export-user_id": "ben"})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    body = json.loads(response.content)
    assert body["user_id"] == "ben" and len(body["events"]) == 3
    unknown = owner.post(page, {"action": "export", "export-user_id": "nobody"})
    assert "No end user with this id in this tenant." in unknown.content.decode()

    viewer = Client()
    viewer.force_login(get_user_model().objects.get(username="bob"))
    assert viewer.post(page, {"action": "export", "export-user_id": "ben"}).status_code == 403


def test_lists_buffered_before_ids_turn_pseudonymous_are_kept_and_exported(alice, users,
                                                                          django_capture_on_commit_callbacks):
    served = alice.client.get("/api/v1/users/ann/recommendations").json()  # also caches "ids as sent"
    with django_capture_on_commit_callbacks(execute=True):  # the switch drops that cache on commit
        assert alice.client.patch("/api/v1/privacy", {"pseudonymous_ids": True}, format="json").status_code == 200
    body = alice.client.get("/api/v1/users/ann/export").json()
    assert body["user_id"] == "ann" and body["profile"]["stored_as_pseudonym"] is True
    assert [s["recommendation_id"] for s in body["recommendations_served"]] == [served["recommendation_id"]]
    assert len(body["events"]) == 3
