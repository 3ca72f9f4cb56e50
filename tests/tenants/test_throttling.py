"""Per-tenant rate limits: past the rate, 429 with Retry-After; other tenants are unaffected."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from tenants.throttling import TenantRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_rate(monkeypatch, alice, charlie):
    # DRF binds THROTTLE_RATES when the class is defined, so override_settings would not reach it.
    monkeypatch.setattr(TenantRateThrottle, "THROTTLE_RATES", {"tenant": "2/min"})
    # Tenant ids repeat between runs (and on SQLite between tests); start both histories empty. Only
    # these keys: the cache may be a Redis database other processes use.
    keys = [TenantRateThrottle.cache_format % {"scope": "tenant", "ident": ctx.tenant.pk} for ctx in (alice, charlie)]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def test_it_answers_429_with_retry_after_past_the_rate(alice, tiny_rate):
    assert alice.client.get("/api/v1/items").status_code == 200
    assert alice.client.get("/api/v1/items").status_code == 200
    response = alice.client.get("/api/v1/items")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"
    assert "throttled" in response.json()["error"]["message"].lower()


def test_writes_count_against_the_same_budget(alice, tiny_rate):
    from reranking.models import Item

    alice.client.get("/api/v1/items")
    alice.client.get("/api/v1/items")
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "a", "title": "A"}], format="json")
    assert response.status_code == 429
    assert Item.objects.count() == 0


def test_the_budget_is_per_tenant(alice, charlie, tiny_rate):
    alice.client.get("/api/v1/items")
    alice.client.get("/api/v1/items")
    assert alice.client.get("/api/v1/items").status_code == 429
    assert charlie.client.get("/api/v1/items").status_code == 200


def test_unauthenticated_requests_are_refused_not_throttled(alice, tiny_rate, client):
    for _ in range(3):
        assert client.get("/api/v1/items").status_code == 401


def test_each_key_also_has_its_own_budget(alice, monkeypatch):
    from tenants.models import ApiKey
    from tenants.throttling import KeyRateThrottle

    monkeypatch.setattr(KeyRateThrottle, "THROTTLE_RATES", {"key": "2/min"})
    first, second = alice.client_with("read"), alice.client_with("read")
    for client in (first, second):
        key = ApiKey.objects.get(lookup=ApiKey.parse_lookup(client._credentials["HTTP_X_API_KEY"]))
        cache.delete(KeyRateThrottle.cache_format % {"scope": "key", "ident": key.pk})
    assert first.get("/api/v1/items").status_code == 200
    assert first.get("/api/v1/items").status_code == 200
    throttled = first.get("/api/v1/items")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert second.get("/api/v1/items").status_code == 200, "another key of the same tenant is unaffected"
