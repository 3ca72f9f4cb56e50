"""Fixtures of the web UI tests: logged-in clients for alice (owner), bob (viewer) and charlie (outsider)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from .helpers import load_events


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
    """A few interactions of two of alice's end users, ann and ben (popularity: sku-2 > sku-1 > sku-3)."""
    load_events(alice.tenant)
