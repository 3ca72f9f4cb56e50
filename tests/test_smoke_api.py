import pytest

pytestmark = pytest.mark.django_db


def test_it_lists_items_for_the_keys_tenant(alice, catalogue):
    response = alice.client.get("/api/v1/items?category=books")
    assert response.status_code == 200
    assert {row["item_id"] for row in response.json()["results"]} == {"sku-1", "sku-3", "sku-5"}


def test_charlie_gets_404_for_alices_item(alice, charlie, catalogue):
    assert charlie.client.get("/api/v1/items/sku-1").status_code == 404
