"""GET and DELETE /items/<item_id>: addressed by the tenant's own id; delete is soft."""
from __future__ import annotations

import pytest

from reranking.models import Event, Item
from reranking.services.catalogue import upsert_items

pytestmark = pytest.mark.django_db


def test_it_retrieves_an_item_by_its_external_id(alice, catalogue):
    response = alice.client.get("/api/v1/items/sku-3")
    assert response.status_code == 200
    assert response.json()["title"] == "Item 3"


def test_it_accepts_a_trailing_slash(alice, catalogue):
    assert alice.client.get("/api/v1/items/sku-3/").status_code == 200


def test_an_unknown_item_is_404_in_the_error_format(alice, catalogue):
    response = alice.client.get("/api/v1/items/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_charlie_gets_404_for_alices_item_by_external_id(alice, charlie, catalogue):
    assert charlie.client.get("/api/v1/items/sku-1").status_code == 404
    assert charlie.client.delete("/api/v1/items/sku-1").status_code == 404
    assert not Item.objects.get(tenant=alice.tenant, external_id="sku-1").is_deleted


def test_charlie_gets_404_for_alices_item_by_database_id(alice, charlie, catalogue):
    pk = Item.objects.get(tenant=alice.tenant, external_id="sku-1").pk
    assert charlie.client.get(f"/api/v1/items/{pk}").status_code == 404
    assert charlie.client.delete(f"/api/v1/items/{pk}").status_code == 404
    assert not Item.objects.get(pk=pk).is_deleted


def test_charlie_sees_his_own_item_with_the_same_id(alice, charlie, catalogue):
    upsert_items(charlie.tenant, [{"item_id": "sku-1", "title": "Charlie's"}])
    assert charlie.client.get("/api/v1/items/sku-1").json()["title"] == "Charlie's"
    assert alice.client.get("/api/v1/items/sku-1").json()["title"] == "Item 1"


def test_delete_is_soft_and_hides_the_item(alice, catalogue, events):
    response = alice.client.delete("/api/v1/items/sku-1")
    assert response.status_code == 204
    item = Item.objects.get(tenant=alice.tenant, external_id="sku-1")
    assert item.is_deleted
    assert Event.objects.filter(item=item).exists()  # history stays
    assert alice.client.get("/api/v1/items/sku-1").status_code == 404
    assert alice.client.delete("/api/v1/items/sku-1").status_code == 404


def test_events_for_a_deleted_item_are_refused(alice, catalogue):
    alice.client.delete("/api/v1/items/sku-1")
    response = alice.client.post("/api/v1/events", [{"user_id": "u", "item_id": "sku-1"}], format="json")
    assert response.json()["error"]["detail"]["errors"][0]["message"] == "Unknown item 'sku-1'."


def test_re_upserting_revives_a_deleted_item(alice, catalogue):
    alice.client.delete("/api/v1/items/sku-1")
    response = alice.client.post(
        "/api/v1/items/bulk", [{"item_id": "sku-1", "title": "Item 1", "category": "books", "price": 1}], format="json"
    )
    assert response.json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert alice.client.get("/api/v1/items/sku-1").json()["is_deleted"] is False


def test_the_collection_cannot_be_deleted_or_replaced(alice, catalogue):
    assert alice.client.delete("/api/v1/items").status_code == 405
    assert alice.client.put("/api/v1/items/sku-1", {"title": "X"}, format="json").status_code == 405
    assert Item.objects.filter(tenant=alice.tenant, is_deleted=False).count() == 6
