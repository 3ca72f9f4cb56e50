"""Access requests: GET /api/v1/users/{id}/export and the privacy page's export."""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


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
