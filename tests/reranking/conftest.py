"""Fixtures of the catalogue and interaction tests."""
from __future__ import annotations

from typing import Callable

import pytest

from reranking.models import EndUser, Event, Item


def database_state() -> dict:
    """Return what a refused request must leave as it was: row counts and every item's state."""
    return {
        "items": sorted(Item.objects.values_list("tenant_id", "external_id", "title", "is_deleted", "updated_at")),
        "users": EndUser.objects.count(),
        "events": Event.objects.count(),
    }


@pytest.fixture
def snapshot() -> Callable[[], dict]:
    return database_state


@pytest.fixture
def events(alice, catalogue) -> list[dict]:
    """Three events of two of alice's end users, stored; returns the rows sent."""
    from reranking.services.ingest import ingest_events

    rows = [
        {"user_id": "ann", "item_id": "sku-1", "event_type": "view", "timestamp": "2026-01-01T10:00:00Z", "event_id": "e1"},
        {"user_id": "ann", "item_id": "sku-2", "event_type": "click", "timestamp": "2026-01-01T10:05:00Z", "event_id": "e2"},
        {"user_id": "ben", "item_id": "sku-3", "event_type": "purchase", "timestamp": "2026-01-02T09:00:00Z", "value": 12.5},
    ]
    assert ingest_events(alice.tenant, rows).stored == 3
    return rows

