"""The /keys endpoint: issuing (secret shown once), listing, retrieving and revoking keys."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import ApiKey, hash_key

pytestmark = pytest.mark.django_db


def create(ctx, body, **kwargs):
    return ctx.client.post("/api/v1/keys", body, format="json", **kwargs)


def test_it_issues_a_key_and_shows_the_secret_once(alice):
    response = create(alice, {"name": "ci", "scopes": ["read", "ingest"]})
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("rk_")
    assert body["key"] == f"rk_…{body['secret'][-4:]}"
    assert body["scopes"] == ["ingest", "read"]
    key = ApiKey.objects.get(pk=body["id"])
    assert key.tenant == alice.tenant
    assert key.key_hash == hash_key(body["secret"])
    # Never again: neither the list nor the detail shows it.
    assert "secret" not in alice.client.get(f"/api/v1/keys/{key.pk}").json()
    assert all("secret" not in row for row in alice.client.get("/api/v1/keys").json()["results"])


def test_the_issued_secret_works(alice):
    secret = create(alice, {"name": "ci", "scopes": ["read"]}).json()["secret"]
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert client.get("/api/v1/tenant").json()["slug"] == "alice-shop"


def test_it_lists_only_the_tenants_keys(alice, charlie):
    create(alice, {"name": "second", "scopes": ["read"]})
    names = [row["name"] for row in alice.client.get("/api/v1/keys").json()["results"]]
    assert sorted(names) == ["all", "second"]
    assert [row["name"] for row in charlie.client.get("/api/v1/keys").json()["results"]] == ["all"]


def test_deleting_a_key_revokes_it(alice):
    body = create(alice, {"name": "temp", "scopes": ["read"]}).json()
    assert alice.client.delete(f"/api/v1/keys/{body['id']}").status_code == 204
    assert ApiKey.objects.get(pk=body["id"]).revoked_at is not None
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=body["secret"])
    assert client.get("/api/v1/tenant").status_code == 401
    # The revoked key stays listed, marked as revoked.
    assert alice.client.get(f"/api/v1/keys/{body['id']}").json()["revoked_at"] is not None


def test_charlie_gets_404_for_alices_key(alice, charlie):
    key = ApiKey.objects.get(tenant=alice.tenant)
    assert charlie.client.get(f"/api/v1/keys/{key.pk}").status_code == 404
    assert charlie.client.delete(f"/api/v1/keys/{key.pk}").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_a_non_numeric_key_id_is_404(alice):
    assert alice.client.get("/api/v1/keys/abc").status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"scopes": ["read"]}, "name", "required"),
        ({"name": "", "scopes": ["read"]}, "name", "blank"),
        ({"name": "x" * 101, "scopes": ["read"]}, "name", "100 characters"),
        ({"name": "ci"}, "scopes", "required"),
        ({"name": "ci", "scopes": []}, "scopes", "empty"),
        ({"name": "ci", "scopes": "read"}, "scopes", "list"),
        ({"name": "ci", "scopes": ["superuser"]}, "scopes", "not a valid choice"),
        ({"name": ["ci"], "scopes": ["read"]}, "name", "valid string"),
        ({"name": "ci", "scopes": ["read"], "tenant": 1}, "tenant", "Unknown or read-only field"),
        (["ci"], "", "Expected a dictionary"),
    ],
)
def test_it_refuses_a_bad_key_request(alice, body, field, words):
    before = ApiKey.objects.count()
    response = create(alice, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith(field)
    assert words in error["message"]
    assert ApiKey.objects.count() == before


def test_it_refuses_malformed_json(alice):
    before = ApiKey.objects.count()
    response = alice.client.post("/api/v1/keys", '{"name": "ci", ', content_type="application/json")
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["error"]["message"]
    assert ApiKey.objects.count() == before


def test_it_refuses_an_oversize_body_with_413(alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = ApiKey.objects.count()
    response = create(alice, {"name": "x" * 2000, "scopes": ["read"]})
    assert response.status_code == 413
    assert "limit is 1000" in response.json()["error"]["message"]
    assert ApiKey.objects.count() == before
