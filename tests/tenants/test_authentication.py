"""Resolving the tenant of a request from its API key, sent either way, and refusing bad keys."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.authentication import LAST_USED_RESOLUTION, forget_keys
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


def last_used_writes(context) -> int:
    return sum(1 for q in context.captured_queries if q["sql"].startswith('UPDATE "tenants_apikey"'))


def test_it_writes_last_used_at_at_most_once_a_minute(alice):
    key = ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key))
    with CaptureQueriesContext(connection) as first:
        alice.client.get("/api/v1/tenant")
    with CaptureQueriesContext(connection) as again:
        for _ in range(3):
            assert alice.client.get("/api/v1/tenant").status_code == 200
    assert (last_used_writes(first), last_used_writes(again)) == (1, 0)
    # Also when the key is read afresh from the database (another process, or after the memo expired).
    forget_keys()
    with CaptureQueriesContext(connection) as reread:
        alice.client.get("/api/v1/tenant")
    assert last_used_writes(reread) == 0
    # A minute later, the next request writes it again.
    stale = timezone.now() - LAST_USED_RESOLUTION - timedelta(seconds=5)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    forget_keys()
    with CaptureQueriesContext(connection) as later:
        alice.client.get("/api/v1/tenant")
    assert last_used_writes(later) == 1
    key.refresh_from_db()
    assert key.last_used_at > stale
