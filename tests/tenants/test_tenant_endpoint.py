"""The /tenant endpoint: the key's own tenant; admins change its name and accepted event types."""
from __future__ import annotations

import pytest

from tenants.models import DEFAULT_EVENT_TYPES, Tenant

pytestmark = pytest.mark.django_db


def test_it_shows_the_keys_tenant(alice):
    body = alice.client.get("/api/v1/tenant").json()
    assert body["slug"] == "alice-shop"
    assert body["event_types"] == list(DEFAULT_EVENT_TYPES)


def test_an_admin_changes_name_and_event_types(alice):
    response = alice.client.patch("/api/v1/tenant", {"name": "Alice's", "event_types": ["view", "like", "view"]}, format="json")
    assert response.status_code == 200
    alice.tenant.refresh_from_db()
    assert alice.tenant.name == "Alice's"
    assert alice.tenant.event_types == ["view", "like"]


def test_a_patch_changes_only_the_callers_tenant(alice, charlie):
    alice.client.patch("/api/v1/tenant", {"name": "Alice's"}, format="json")
    assert Tenant.objects.get(slug="charlie-media").name == "Charlie-Media"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"event_types": []}, "event_types", "non-empty list"),
        ({"event_types": "view"}, "event_types", "list"),
        ({"event_types": ["Bad Type"]}, "event_types", "not a valid event type"),
        ({"event_types": [3]}, "event_types", "not a valid event type"),
        ({"name": ""}, "name", "blank"),
        ({"colour": "red"}, "colour", "Unknown or read-only field"),
    ],
)
def test_it_refuses_a_bad_patch(alice, body, field, words):
    response = alice.client.patch("/api/v1/tenant", body, format="json")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith(field) and words in message
    alice.tenant.refresh_from_db()
    assert alice.tenant.event_types == list(DEFAULT_EVENT_TYPES)


def test_the_slug_cannot_be_changed(alice):
    response = alice.client.patch("/api/v1/tenant", {"slug": "charlie-media"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("slug: Unknown or read-only field")
    alice.tenant.refresh_from_db()
    assert alice.tenant.slug == "alice-shop"


def test_it_refuses_malformed_json(alice):
    response = alice.client.patch("/api/v1/tenant", "{name", content_type="application/json")
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["error"]["message"]
