"""POST /items/bulk: create or update up to 10,000 items by item_id, all or nothing."""
from __future__ import annotations

from decimal import Decimal

import pytest

from reranking.models import Item

pytestmark = pytest.mark.django_db

URL = "/api/v1/items/bulk"


def post(ctx, body):
    return ctx.client.post(URL, body, format="json")


def test_it_creates_items_from_a_bare_array(alice):
    response = post(alice, [
        {"item_id": "a", "title": "Apple", "category": "fruit", "tags": ["red", "sweet"], "price": "1.5",
         "attributes": {"origin": "NZ"}, "available": False, "description": "Crisp."},
        {"item_id": 7, "title": "Seven"},
    ])
    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0}
    apple = Item.objects.get(tenant=alice.tenant, external_id="a")
    assert (apple.title, apple.category, apple.tags, apple.price) == ("Apple", "fruit", ["red", "sweet"], Decimal("1.50"))
    assert (apple.attributes, apple.available, apple.description) == ({"origin": "NZ"}, False, "Crisp.")
    assert Item.objects.get(tenant=alice.tenant, external_id="7").title == "Seven"


def test_it_accepts_an_object_holding_items(alice):
    response = post(alice, {"items": [{"item_id": "a", "title": "Apple"}]})
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}


def test_it_updates_changed_items_and_counts_unchanged_ones(alice, catalogue):
    response = post(alice, [
        {"item_id": "sku-1", "title": "Item 1", "category": "books", "price": 1},  # as stored
        {"item_id": "sku-2", "title": "Renamed", "category": "games", "price": 2},
        {"item_id": "sku-9", "title": "New"},
    ])
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 1}
    assert Item.objects.get(tenant=alice.tenant, external_id="sku-2").title == "Renamed"


def test_upserting_an_unchanged_item_changes_nothing(alice, catalogue):
    before = Item.objects.get(tenant=alice.tenant, external_id="sku-1")
    response = post(alice, [{"item_id": "sku-1", "title": " Item 1 ", "category": "books", "price": "1.00"}])
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 1}
    after = Item.objects.get(pk=before.pk)
    assert after.updated_at == before.updated_at


def test_an_update_moves_updated_at(alice, catalogue):
    before = Item.objects.get(tenant=alice.tenant, external_id="sku-1")
    post(alice, [{"item_id": "sku-1", "title": "Item 1", "category": "books", "price": "1.01"}])
    after = Item.objects.get(pk=before.pk)
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at


def test_charlie_upserting_alices_ids_creates_his_own_items(alice, charlie, catalogue, snapshot):
    alices = list(Item.objects.filter(tenant=alice.tenant).order_by("id").values())
    response = post(charlie, [{"item_id": "sku-1", "title": "Charlie's own"}])
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}
    assert Item.objects.get(tenant=charlie.tenant, external_id="sku-1").title == "Charlie's own"
    assert list(Item.objects.filter(tenant=alice.tenant).order_by("id").values()) == alices


def test_the_tenant_comes_from_the_key_never_the_body(alice, charlie):
    response = post(charlie, [{"item_id": "x", "title": "X", "tenant": alice.tenant.pk}])
    assert response.status_code == 400
    assert not Item.objects.filter(tenant=alice.tenant).exists()


@pytest.mark.parametrize(
    ("rows", "field", "words"),
    [
        ([{"title": "No id"}], "item_id", "required"),
        ([{"item_id": "a"}], "title", "required"),
        ([{"item_id": "a", "title": "   "}], "title", "required"),
        ([{"item_id": "a", "title": 5}], "title", "string"),
        ([{"item_id": ["a"], "title": "A"}], "item_id", "string or an integer"),
        ([{"item_id": True, "title": "A"}], "item_id", "string or an integer"),
        ([{"item_id": "x" * 201, "title": "A"}], "item_id", "200 characters"),
        ([{"item_id": "a", "title": "t" * 501}], "title", "500 characters"),
        ([{"item_id": "a", "title": "A", "price": "cheap"}], "price", "number"),
        ([{"item_id": "a", "title": "A", "price": -1}], "price", "non-negative"),
        ([{"item_id": "a", "title": "A", "price": True}], "price", "number"),
        ([{"item_id": "a", "title": "A", "tags": [1, 2]}], "tags", "list of strings"),
        ([{"item_id": "a", "title": "A", "attributes": [1]}], "attributes", "JSON object"),
        ([{"item_id": "a", "title": "A", "available": "maybe"}], "available", "true or false"),
        ([{"item_id": "a", "title": "A", "colour": "red"}], "colour", "Unknown field"),
        ([{"item_id": "a", "title": "A"}, {"item_id": "a", "title": "Again"}], "item_id", "Duplicate of row 1"),
        ([{"item_id": "a", "title": "A"}, "not an object"], "item", "JSON object"),
    ],
)
def test_it_refuses_a_batch_with_a_bad_row_and_writes_nothing(alice, catalogue, snapshot, rows, field, words):
    before = snapshot()
    response = post(alice, [{"item_id": "fine", "title": "Fine"}, *rows])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    assert "nothing was written" in error["message"]
    assert f", {field}: " in error["message"] and words in error["message"]
    assert any(row["field"] == field and words in row["message"] for row in error["detail"])
    assert snapshot() == before


def test_it_reports_every_bad_row_by_index(alice):
    response = post(alice, [{"item_id": "a", "title": "A"}, {"item_id": "b"}, {"title": "C"}])
    detail = response.json()["error"]["detail"]
    assert [(row["index"], row["field"]) for row in detail] == [(1, "title"), (2, "item_id")]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"item": [{"item_id": "a", "title": "A"}]}, "Expected a JSON array"),
        ({"items": {"item_id": "a", "title": "A"}}, "Expected a JSON array"),
        ([], "empty"),
        ({"items": []}, "empty"),
        ("just a string", "Expected a JSON array"),
        (None, "Expected a JSON array"),
        ({"items": [{"item_id": "a", "title": "A"}], "mode": "replace"}, "Unknown field 'mode'"),
    ],
)
def test_it_refuses_a_body_that_is_not_a_batch(alice, snapshot, body, words):
    before = snapshot()
    response = post(alice, body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("items: ")
    assert words in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_malformed_json(alice, snapshot):
    before = snapshot()
    response = alice.client.post(URL, '[{"item_id": "a", "title": "A"},', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "Malformed JSON" in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_nan_which_jsonb_cannot_store(alice, snapshot):
    before = snapshot()
    body = '[{"item_id": "a", "title": "A", "attributes": {"weight": NaN}}]'
    response = alice.client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "NaN" in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_nul_characters_which_postgresql_cannot_store(alice, snapshot):
    before = snapshot()
    response = post(alice, [{"item_id": "a", "title": "A\x00B"}, {"item_id": "b", "title": "B", "attributes": {"k": "v\x00"}}])
    assert response.status_code == 400
    detail = response.json()["error"]["detail"]
    assert [(row["index"], row["field"]) for row in detail] == [(0, "title"), (1, "attributes")]
    assert "NUL" in detail[0]["message"]
    assert snapshot() == before


def test_it_refuses_a_form_encoded_body(alice):
    response = alice.client.post(URL, "item_id=a&title=A", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["error"]["message"]


def test_it_refuses_10001_items_and_writes_nothing(alice, snapshot):
    before = snapshot()
    response = post(alice, [{"item_id": str(n), "title": "T"} for n in range(10_001)])
    assert response.status_code == 400
    assert "10001 rows; at most 10000" in response.json()["error"]["message"]
    assert snapshot() == before


@pytest.mark.slow
def test_it_accepts_10000_items(alice):
    response = post(alice, [{"item_id": str(n), "title": f"T{n}"} for n in range(10_000)])
    assert response.json() == {"created": 10_000, "updated": 0, "unchanged": 0}
    assert Item.objects.filter(tenant=alice.tenant).count() == 10_000


def test_it_refuses_an_oversize_body_with_413(alice, settings, snapshot):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    before = snapshot()
    response = post(alice, [{"item_id": str(n), "title": "A long enough title"} for n in range(100)])
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "the limit is 2000" in error["message"]
    assert snapshot() == before
