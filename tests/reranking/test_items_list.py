"""GET /items: the tenant's live items, paginated, filtered by category, availability and text."""
from __future__ import annotations

import pytest

from reranking.services.catalogue import upsert_items

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    return [row["item_id"] for row in response.json()["results"]]


def test_it_lists_the_tenants_items_in_creation_order(alice, catalogue):
    response = alice.client.get("/api/v1/items")
    assert response.status_code == 200
    assert ids(response) == catalogue
    assert response.json()["count"] == 6


def test_it_shows_every_field(alice, catalogue):
    row = alice.client.get("/api/v1/items").json()["results"][0]
    assert set(row) == {
        "item_id", "title", "description", "category", "tags", "attributes", "price", "available", "is_deleted",
        "created_at", "updated_at",
    }
    assert row["price"] == "1.00"


def test_it_never_lists_another_tenants_items(alice, charlie, catalogue):
    upsert_items(charlie.tenant, [{"item_id": "clip-1", "title": "Clip"}])
    assert ids(charlie.client.get("/api/v1/items")) == ["clip-1"]
    assert "clip-1" not in ids(alice.client.get("/api/v1/items"))


def test_it_filters_by_category(alice, catalogue):
    assert ids(alice.client.get("/api/v1/items?category=books")) == ["sku-1", "sku-3", "sku-5"]
    assert ids(alice.client.get("/api/v1/items?category=films")) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", ["sku-1", "sku-3"]), ("1", ["sku-1", "sku-3"]), ("false", ["sku-2"]), ("0", ["sku-2"])],
)
def test_it_filters_by_availability(alice, value, expected):
    upsert_items(alice.tenant, [
        {"item_id": "sku-1", "title": "One"},
        {"item_id": "sku-2", "title": "Two", "available": False},
        {"item_id": "sku-3", "title": "Three", "available": True},
    ])
    assert ids(alice.client.get(f"/api/v1/items?available={value}")) == expected


@pytest.mark.parametrize("param", ["available", "include_deleted"])
def test_it_refuses_a_flag_it_cannot_read(alice, catalogue, param):
    response = alice.client.get(f"/api/v1/items?{param}=perhaps")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"{param}: Give true or false."


@pytest.mark.parametrize("value", ["0", "-3", "ten", ""])
def test_it_refuses_a_page_size_it_cannot_read(alice, catalogue, value):
    response = alice.client.get(f"/api/v1/items?page_size={value}")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("page_size: ")


def test_it_searches_titles_case_insensitively(alice):
    upsert_items(alice.tenant, [
        {"item_id": "a", "title": "Red Kettle"},
        {"item_id": "b", "title": "blue kettle"},
        {"item_id": "c", "title": "Teapot", "description": "not a kettle"},
    ])
    assert ids(alice.client.get("/api/v1/items?q=KETTLE")) == ["a", "b"]


def test_filters_combine(alice, catalogue):
    assert ids(alice.client.get("/api/v1/items?category=books&q=item 3")) == ["sku-3"]


def test_it_paginates_with_page_size(alice, catalogue):
    first = alice.client.get("/api/v1/items?page_size=4").json()
    assert [row["item_id"] for row in first["results"]] == catalogue[:4]
    assert first["count"] == 6 and first["previous"] is None and first["next"]
    second = alice.client.get(first["next"]).json()
    assert [row["item_id"] for row in second["results"]] == catalogue[4:]
    assert second["next"] is None


def test_it_caps_page_size(alice):
    upsert_items(alice.tenant, [{"item_id": str(n), "title": "T"} for n in range(600)])
    assert len(alice.client.get("/api/v1/items?page_size=10000").json()["results"]) == 500


def test_it_defaults_to_50_per_page(alice):
    upsert_items(alice.tenant, [{"item_id": str(n), "title": "T"} for n in range(60)])
    assert len(alice.client.get("/api/v1/items").json()["results"]) == 50


def test_a_page_past_the_end_is_404(alice, catalogue):
    response = alice.client.get("/api/v1/items?page=9")
    assert response.status_code == 404
    assert "Invalid page" in response.json()["error"]["message"]


def test_it_hides_deleted_items_unless_asked(alice, catalogue):
    alice.client.delete("/api/v1/items/sku-1")
    assert "sku-1" not in ids(alice.client.get("/api/v1/items"))
    listed = alice.client.get("/api/v1/items?include_deleted=true").json()["results"]
    assert [row["is_deleted"] for row in listed if row["item_id"] == "sku-1"] == [True]
