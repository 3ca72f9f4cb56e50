"""POST /api/v1/rerank: live scoring of a client's candidate list."""
from __future__ import annotations

import pytest

from reranking.models import Item

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def ids(shop, n: int) -> list[str]:
    return list(Item.objects.for_tenant(shop.tenant).order_by("id").values_list("external_id", flat=True)[:n])


def test_it_orders_known_items_and_lists_unknown_ones_last(shop, user_id):
    candidates = ids(shop, 30) + ["nope-1", "nope-2"]
    response = shop.client.post("/api/v1/rerank", {"user_id": user_id, "candidates": candidates}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["strategy"] == "live" and body["model_version"] == 1
    assert body["unknown"] == ["nope-1", "nope-2"]
    assert [i["item_id"] for i in body["items"][-2:]] == ["nope-1", "nope-2"]
    scores = [i["score"] for i in body["items"][:-2]]
    assert scores == sorted(scores, reverse=True)
    assert {i["item_id"] for i in body["items"]} == set(candidates)


def test_the_same_list_is_ordered_by_the_history(shop):
    candidates = ids(shop, 200)
    books = shop.client.post("/api/v1/rerank", {"recent_items": ["BOO-001-0", "BOO-001-1"], "candidates": candidates}, format="json").json()
    toys = shop.client.post("/api/v1/rerank", {"recent_items": ["TOY-002-0", "TOY-002-1"], "candidates": candidates}, format="json").json()
    assert books["items"][0]["item_id"] != toys["items"][0]["item_id"]
    assert books["items"][0]["item_id"] == "BOO-001-2", "the next step of the walked product line wins"


def test_k_truncates(shop, user_id):
    body = shop.client.post("/api/v1/rerank", {"user_id": user_id, "candidates": ids(shop, 20), "k": 5}, format="json").json()
    assert len(body["items"]) == 5


@pytest.mark.parametrize(
    "payload, status, field",
    [
        ({"candidates": [f"x{n}" for n in range(501)]}, 400, "candidates"),
        ({"candidates": []}, 400, "candidates"),
        ({}, 400, "candidates"),
        ({"candidates": "BOO-000-0"}, 400, "candidates"),
        ({"candidates": ["BOO-000-0"], "user_id": "u00001", "recent_items": ["BOO-000-1"]}, 400, "user_id"),
        ({"candidates": ["BOO-000-0"], "k": 0}, 400, "k"),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(shop, payload, status, field):
    response = shop.client.post("/api/v1/rerank", payload, format="json")
    assert response.status_code == status
    assert response.json()["error"]["message"].startswith(field)


def test_an_unknown_user_gets_404(shop):
    response = shop.client.post("/api/v1/rerank", {"user_id": "ghost", "candidates": ["BOO-000-0"]}, format="json")
    assert response.status_code == 404


def test_charlie_gets_404_for_alices_user_and_sees_alices_items_as_unknown(shop, charlie, user_id):
    assert charlie.client.post("/api/v1/rerank", {"user_id": user_id, "candidates": ["BOO-000-0"]}, format="json").status_code == 404
    body = charlie.client.post("/api/v1/rerank", {"candidates": ["BOO-000-0"]}, format="json").json()
    assert body["unknown"] == ["BOO-000-0"]


def test_a_read_only_key_may_rerank(shop, user_id):
    client = shop.client_with("read")
    assert client.post("/api/v1/rerank", {"user_id": user_id, "candidates": ["BOO-000-0"]}, format="json").status_code == 200
