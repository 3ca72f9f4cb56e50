"""GET /users, /users/<user_id> and /users/<user_id>/events: end users, created on their first event."""
from __future__ import annotations

import pytest

from reranking.models import EndUser

pytestmark = pytest.mark.django_db


def test_it_lists_end_users(alice, events):
    body = alice.client.get("/api/v1/users").json()
    assert [row["user_id"] for row in body["results"]] == ["ann", "ben"]


def test_it_retrieves_an_end_user_by_external_id(alice, events):
    response = alice.client.get("/api/v1/users/ann")
    assert response.status_code == 200
    assert response.json()["user_id"] == "ann"


def test_it_lists_a_users_events_newest_first(alice, events):
    body = alice.client.get("/api/v1/users/ann/events").json()
    assert [row["event_id"] for row in body["results"]] == ["e2", "e1"]


def test_an_unknown_user_is_404(alice, events):
    assert alice.client.get("/api/v1/users/zed").status_code == 404
    assert alice.client.get("/api/v1/users/zed/events").status_code == 404


def test_charlie_gets_404_for_alices_user(alice, charlie, events):
    pk = EndUser.objects.get(tenant=alice.tenant, external_id="ann").pk
    for path in ["/api/v1/users/ann", "/api/v1/users/ann/events", f"/api/v1/users/{pk}", f"/api/v1/users/{pk}/events"]:
        assert charlie.client.get(path).status_code == 404, path
    assert charlie.client.get("/api/v1/users").json()["results"] == []


def test_users_are_read_only(alice, events):
    assert alice.client.post("/api/v1/users", {"user_id": "new"}, format="json").status_code == 405
    assert alice.client.delete("/api/v1/users/ann").status_code == 405
