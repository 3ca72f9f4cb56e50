"""Partial updates: PATCH /items/{item_id}, bulk upsert and CSV upload change only the fields sent."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reranking.models import Item

pytestmark = pytest.mark.django_db

FULL = {
    "item_id": "pu-1", "title": "Parka", "description": "Warm and dry", "category": "coats", "tags": ["winter", "outdoor"],
    "attributes": {"colour": "red", "size": 3, "vegan": True}, "price": "129.90", "available": True,
}


@pytest.fixture
def parka(alice) -> Item:
    assert alice.client.post("/api/v1/items/bulk", [FULL], format="json").status_code == 200
    return Item.objects.get(tenant=alice.tenant, external_id="pu-1")


def stored(alice, item_id: str = "pu-1") -> dict:
    return Item.objects.get(tenant=alice.tenant, external_id=item_id).field_values()


def test_bulk_upsert_changes_only_the_fields_present(alice, parka):
    before = stored(alice)
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "pu-1", "available": False}], format="json")
    assert response.json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert stored(alice) == {**before, "available": False}


def test_null_clears_a_field_to_its_default(alice, parka):
    before = stored(alice)
    body = [{"item_id": "pu-1", "description": None, "tags": None, "price": None, "attributes": None}]
    alice.client.post("/api/v1/items/bulk", body, format="json")
    assert stored(alice) == {**before, "description": "", "tags": [], "price": None, "attributes": {}}


def test_a_new_item_needs_a_title_and_nothing_is_written_without_one(alice, parka):
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "pu-1", "price": 1}, {"item_id": "pu-2"}], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["detail"] == [
        {"index": 1, "field": "title", "message": "This field is required for a new item."}
    ]
    assert stored(alice)["price"] == Decimal("129.90")


def test_the_title_cannot_be_cleared(alice, parka):
    response = alice.client.patch("/api/v1/items/pu-1", {"title": None}, format="json")
    assert response.status_code == 400
    assert "title" in response.json()["error"]["detail"]
    assert stored(alice)["title"] == "Parka"


def test_patch_changes_only_the_fields_sent(alice, parka):
    before = stored(alice)
    response = alice.client.patch("/api/v1/items/pu-1", {"price": "99.00", "category": None}, format="json")
    assert response.status_code == 200
    assert response.json()["price"] == "99.00" and response.json()["category"] == ""
    assert stored(alice) == {**before, "price": Decimal("99.00"), "category": ""}


def test_patch_refuses_unknown_fields_and_bad_values_naming_them(alice, parka):
    before = stored(alice)
    for body, field in (({"colour": "blue"}, "colour"), ({"price": "cheap"}, "price"), ({"item_id": "other"}, "item_id")):
        response = alice.client.patch("/api/v1/items/pu-1", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["detail"]
    assert stored(alice) == before


def test_patch_of_an_unknown_or_deleted_item_is_404(alice, parka):
    assert alice.client.patch("/api/v1/items/nope", {"price": 1}, format="json").status_code == 404
    alice.client.delete("/api/v1/items/pu-1")
    assert alice.client.patch("/api/v1/items/pu-1", {"price": 1}, format="json").status_code == 404


def test_charlie_cannot_patch_alices_item(alice, charlie, parka):
    assert charlie.client.patch("/api/v1/items/pu-1", {"price": 1}, format="json").status_code == 404
    assert stored(alice)["price"] == Decimal("129.90")


def test_a_read_only_key_cannot_patch(alice, parka):
    assert alice.client_with("read").patch("/api/v1/items/pu-1", {"price": 1}, format="json").status_code == 403


def upload(ctx, content: str):
    file = SimpleUploadedFile("items.csv", content.encode(), "text/csv")
    return ctx.client.post("/api/v1/items/upload", {"file": file}, format="multipart")


def test_csv_upload_changes_only_the_columns_present(alice, parka):
    before = stored(alice)
    assert upload(alice, "item_id,available\npu-1,false\n").json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert stored(alice) == {**before, "available": False}


def test_a_csv_attribute_column_sets_or_removes_that_attribute_only(alice, parka):
    upload(alice, "item_id,colour,size\npu-1,blue,\n")
    assert stored(alice)["attributes"] == {"colour": "blue", "vegan": True}


def test_export_then_upload_changes_nothing(alice, parka):
    tricky = [
        {"item_id": "f-1", "title": "=SUM(A1:A2)", "description": "-minus", "category": "@home", "tags": ["a,b", "+c"]},
        {"item_id": "f-2", "title": "'=quoted already", "description": "'plain quote", "attributes": {"n": 1.5, "z": None}},
    ]
    alice.client.post("/api/v1/items/bulk", tricky, format="json")
    before = {item_id: stored(alice, item_id) for item_id in ("pu-1", "f-1", "f-2")}
    exported = b"".join(alice.client.get("/api/v1/items/export").streaming_content).decode()
    assert "'=SUM" in exported  # the formula guard is there...
    response = upload(alice, exported)
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 3}  # ...and removed again on upload
    assert {item_id: stored(alice, item_id) for item_id in before} == before


def test_an_edited_export_changes_just_the_edited_cell(alice, parka):
    exported = b"".join(alice.client.get("/api/v1/items/export").streaming_content).decode()
    before = stored(alice)
    assert upload(alice, exported.replace("129.90", "119.90")).json()["updated"] == 1
    assert stored(alice) == {**before, "price": Decimal("119.90")}
