"""Resolving the tenant of a request from its API key, sent either way, and refusing bad keys."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import ApiKey, Scope, hash_key

pytestmark = pytest.mark.django_db


def test_it_accepts_the_x_api_key_header(alice):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=alice.raw_key)
    response = client.get("/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["slug"] == "alice-shop"


def test_it_accepts_an_authorization_bearer_header(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice.raw_key}")
    response = client.get("/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["slug"] == "alice-shop"


def test_each_key_acts_for_its_own_tenant(alice, charlie):
    assert alice.client.get("/api/v1/tenant").json()["slug"] == "alice-shop"
    assert charlie.client.get("/api/v1/tenant").json()["slug"] == "charlie-media"


def test_a_request_without_a_key_gets_401_with_a_challenge(alice):
    response = APIClient().get("/api/v1/items")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "credentials were not provided" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "raw",
    [
        "not-a-key",
        "rk_",
        "rk_123456789012",  # lookup but no secret
        "rk_short_secret",  # lookup of the wrong length
    ],
)
def test_it_refuses_a_malformed_key(alice, raw):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    response = client.get("/api/v1/items")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."


def test_it_refuses_a_key_whose_secret_is_wrong(alice):
    lookup = ApiKey.parse_lookup(alice.raw_key)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=f"rk_{lookup}_{'x' * 43}")
    response = client.get("/api/v1/items")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."


def test_it_refuses_a_revoked_key_with_401(alice):
    key = ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key))
    key.revoke()
    response = alice.client.get("/api/v1/items")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_it_refuses_a_revoked_key_for_writes_and_writes_nothing(alice):
    from reranking.models import Item

    ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key)).revoke()
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "a", "title": "A"}], format="json")
    assert response.status_code == 401
    assert Item.objects.count() == 0


def test_it_stores_only_a_hash_of_the_secret(alice):
    key = ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key))
    assert key.key_hash == hash_key(alice.raw_key)
    stored = [str(value) for value in ApiKey.objects.filter(pk=key.pk).values().get().values()]
    assert all(alice.raw_key not in value for value in stored)
    assert all(alice.raw_key.split("_", 2)[2] not in value for value in stored)


def test_issued_keys_are_prefixed_and_masked(alice):
    key, raw = ApiKey.issue(alice.tenant, "ci", [Scope.READ])
    assert raw.startswith("rk_")
    assert key.masked == f"rk_…{raw[-4:]}"
    assert ApiKey.parse_lookup(raw) == key.lookup


def test_it_records_when_a_key_was_last_used(alice):
    key = ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key))
    assert key.last_used_at is None
    alice.client.get("/api/v1/items")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_it_writes_last_used_at_at_most_once_a_minute(alice, django_assert_num_queries):
    alice.client.get("/api/v1/tenant")  # first use writes last_used_at
    # Then: the key lookup only, no UPDATE.
    with django_assert_num_queries(1):
        assert alice.client.get("/api/v1/tenant").status_code == 200
