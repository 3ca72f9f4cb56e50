"""Scopes: a key may do only what its scopes allow (admin implies the others)."""
from __future__ import annotations

import pytest

from reranking.models import Event, Item
from tenants.models import ApiKey, Scope

pytestmark = pytest.mark.django_db


def forbidden(response, scope: str) -> bool:
    return response.status_code == 403 and f"'{scope}' scope" in response.json()["error"]["message"]


def test_readonly_key_can_read(alice, catalogue):
    reader = alice.client_with(Scope.READ)
    assert reader.get("/api/v1/items").status_code == 200
    assert reader.get("/api/v1/items/sku-1").status_code == 200
    assert reader.get("/api/v1/events").status_code == 200
    assert reader.get("/api/v1/users").status_code == 200
    assert reader.get("/api/v1/tenant").status_code == 200


def test_readonly_key_cannot_ingest(alice, catalogue):
    reader = alice.client_with(Scope.READ)
    response = reader.post("/api/v1/events", [{"user_id": "u1", "item_id": "sku-1"}], format="json")
    assert forbidden(response, "ingest")
    assert Event.objects.count() == 0


def test_readonly_key_cannot_upsert_upload_or_delete_items(alice, catalogue):
    reader = alice.client_with(Scope.READ)
    response = reader.post("/api/v1/items/bulk", [{"item_id": "new", "title": "New"}], format="json")
    assert forbidden(response, "ingest")
    response = reader.post("/api/v1/items/upload", {"file": b"item_id,title\nnew,New\n"}, format="multipart")
    assert forbidden(response, "ingest")
    assert forbidden(reader.delete("/api/v1/items/sku-1"), "ingest")
    assert Item.objects.filter(tenant=alice.tenant, is_deleted=False).count() == len(catalogue)


def test_ingest_key_cannot_read(alice, catalogue):
    writer = alice.client_with(Scope.INGEST)
    assert forbidden(writer.get("/api/v1/items"), "read")


def test_ingest_key_can_ingest_and_upsert(alice, catalogue):
    writer = alice.client_with(Scope.INGEST)
    assert writer.post("/api/v1/events", [{"user_id": "u1", "item_id": "sku-1"}], format="json").status_code == 201
    assert writer.post("/api/v1/items/bulk", [{"item_id": "new", "title": "New"}], format="json").status_code == 200


def test_ingest_key_cannot_manage_keys(alice):
    writer = alice.client_with(Scope.INGEST, Scope.READ)
    before = ApiKey.objects.count()
    assert forbidden(writer.get("/api/v1/keys"), "admin")
    assert forbidden(writer.post("/api/v1/keys", {"name": "mine", "scopes": ["admin"]}, format="json"), "admin")
    some_key = ApiKey.objects.filter(tenant=alice.tenant).first()
    assert forbidden(writer.get(f"/api/v1/keys/{some_key.pk}"), "admin")
    assert forbidden(writer.delete(f"/api/v1/keys/{some_key.pk}"), "admin")
    assert ApiKey.objects.count() == before
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 0


def test_ingest_key_cannot_change_the_tenant(alice):
    writer = alice.client_with(Scope.INGEST, Scope.READ)
    response = writer.patch("/api/v1/tenant", {"name": "Hijacked"}, format="json")
    assert forbidden(response, "admin")
    alice.tenant.refresh_from_db()
    assert alice.tenant.name != "Hijacked"


def test_admin_scope_implies_the_others(alice, catalogue):
    admin = alice.client_with(Scope.ADMIN)
    assert admin.get("/api/v1/items").status_code == 200
    assert admin.post("/api/v1/events", [{"user_id": "u1", "item_id": "sku-1"}], format="json").status_code == 201
