"""Who may erase and read erasure records: admin keys and managers of the user's own tenant only."""
from __future__ import annotations

import pytest

from reranking.models import EndUser, ErasureRecord, Event

pytestmark = pytest.mark.django_db


def still_there(tenant, external_id: str) -> bool:
    return Event.objects.for_tenant(tenant).filter(user__external_id=external_id).exists()


def test_charlie_gets_404_erasing_alices_user(alice, charlie, users, queue):
    response = charlie.client.post("/api/v1/users/ann/erase")
    assert response.status_code == 404
    assert still_there(alice.tenant, "ann") and not ErasureRecord.objects.exists()


def test_an_unknown_user_is_404(alice, users, queue):
    assert alice.client.post("/api/v1/users/nobody/erase").status_code == 404
    assert not ErasureRecord.objects.exists()


@pytest.mark.parametrize("scope", ["read", "ingest"])
def test_keys_without_admin_scope_cannot_erase(alice, users, queue, scope):
    assert alice.client_with(scope).post("/api/v1/users/ann/erase").status_code == 403
    assert still_there(alice.tenant, "ann")


def test_erasure_records_are_listed_for_admins_of_their_tenant_only(alice, charlie, users, queue):
    assert alice.client.post("/api/v1/users/ann/erase").status_code == 200
    listed = alice.client.get("/api/v1/erasures").json()["results"]
    assert [r["events_deleted"] for r in listed] == [3]
    assert listed[0]["via"] == "api" and listed[0]["requested_by"] == "API key 'all'"
    assert charlie.client.get("/api/v1/erasures").json()["results"] == []
    assert charlie.client.get(f"/api/v1/erasures/{listed[0]['id']}").status_code == 404
    assert alice.client_with("read").get("/api/v1/erasures").status_code == 403


def test_a_viewer_cannot_erase_in_the_ui(alice, users, queue, client):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    client.force_login(get_user_model().objects.get(username="bob"))
    url = reverse("ui:privacy", args=[alice.tenant.slug])
    response = client.post(url, {"action": "erase", "user_id": "ann", "confirm": "on"})
    assert response.status_code == 403
    assert EndUser.objects.for_tenant(alice.tenant).filter(external_id="ann").exists()


def test_an_outsider_gets_404_on_alices_privacy_page(alice, charlie, users, queue, client):
    from django.urls import reverse

    client.force_login(charlie.owner)
    response = client.post(reverse("ui:privacy", args=[alice.tenant.slug]), {"action": "erase", "user_id": "ann", "confirm": "on"})
    assert response.status_code == 404
    assert still_there(alice.tenant, "ann")
