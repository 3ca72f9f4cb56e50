"""Fixtures of the web UI tests: logged-in clients for alice (owner), bob (viewer) and charlie (outsider)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Serving caches popularity and rules by tenant id; ids repeat across test databases."""
    from django.core.cache import cache

    cache.clear()


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(alice) -> Client:
    """Alice, owner of alice-shop."""
    return login(alice.owner)


@pytest.fixture
def viewer(alice) -> Client:
    """Bob, a viewer of alice-shop."""
    return login(get_user_model().objects.get(username="bob"))


@pytest.fixture
def outsider(charlie) -> Client:
    """Charlie, owner of another tenant and nothing of alice's."""
    return login(charlie.owner)


@pytest.fixture
def url(alice):
    """url("ui:items", ...) for alice's tenant."""

    def build(name: str, *args) -> str:
        return reverse(name, args=[alice.tenant.slug, *args])

    return build


@pytest.fixture
def no_queue(monkeypatch) -> list:
    """Record training tasks instead of sending them to a broker."""
    sent: list = []
    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def events(alice, catalogue) -> None:
    """A few interactions of two of alice's end users, ann and ben (popularity: sku-2 > sku-1 > others)."""
    from reranking.services.ingest import ingest_events

    rows = [
        {"user_id": "ann", "item_id": "sku-1", "event_type": "view", "timestamp": "2026-01-01T10:00:00Z"},
        {"user_id": "ann", "item_id": "sku-2", "event_type": "click", "timestamp": "2026-01-01T10:05:00Z"},
        {"user_id": "ann", "item_id": "sku-2", "event_type": "add_to_cart", "timestamp": "2026-01-01T10:06:00Z"},
        {"user_id": "ben", "item_id": "sku-2", "event_type": "purchase", "timestamp": "2026-01-02T09:00:00Z"},
        {"user_id": "ben", "item_id": "sku-3", "event_type": "view", "timestamp": "2026-01-02T09:01:00Z"},
        {"user_id": "ben", "item_id": "sku-1", "event_type": "view", "timestamp": "2026-01-02T09:02:00Z"},
    ]
    assert ingest_events(alice.tenant, rows).stored == len(rows)
