"""GET /events: the tenant's interactions, newest first, cursor-paginated, filterable by user."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_lists_events_newest_first(alice, events):
    body = alice.client.get("/api/v1/events").json()
    assert [row["item_id"] for row in body["results"]] == ["sku-3", "sku-2", "sku-1"]
    assert body["results"][0] == {
        "user_id": "ben", "item_id": "sku-3", "event_type": "purchase", "value": 12.5,
        "timestamp": "2026-01-02T09:00:00Z", "session_id": "", "event_id": None, "recommendation_id": "",
        "context": None,
    }


def test_it_filters_by_user(alice, events):
    body = alice.client.get("/api/v1/events?user_id=ann").json()
    assert [row["event_id"] for row in body["results"]] == ["e2", "e1"]


def test_it_pages_with_a_cursor(alice, catalogue):
    from reranking.services.ingest import ingest_events

    ingest_events(alice.tenant, [{"user_id": "ann", "item_id": "sku-1", "timestamp": 1_700_000_000 + n} for n in range(130)])
    first = alice.client.get("/api/v1/events").json()
    assert len(first["results"]) == 100 and first["next"]
    second = alice.client.get(first["next"]).json()
    assert len(second["results"]) == 30 and second["next"] is None


def test_charlie_sees_none_of_alices_events(alice, charlie, events):
    assert charlie.client.get("/api/v1/events").json()["results"] == []
    assert charlie.client.get("/api/v1/events?user_id=ann").json()["results"] == []


def test_a_bad_cursor_is_404(alice, events):
    response = alice.client.get("/api/v1/events?cursor=garbage")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid cursor"


def test_a_cursor_with_a_position_that_is_not_a_time_is_a_400_naming_the_cursor(alice, events):
    response = alice.client.get("/api/v1/events?cursor=cD1ub3RhZGF0ZQ==")  # decodes to p=notadate
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["detail"]
