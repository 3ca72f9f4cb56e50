"""GET /api/v1/items/{item_id}/similar: behaviour blended with text; works for new items; rules apply."""
from __future__ import annotations

import pytest

from reranking.models import Rule
from reranking.services.catalogue import upsert_items
from reranking.services.embeddings import embed_items

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def top(body: dict) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def test_similar_items_follow_behaviour_and_text(shop):
    body = shop.client.get("/api/v1/items/BOO-001-0/similar?k=5").json()
    assert body["strategy"] == "similar" and len(body["items"]) == 5
    assert "BOO-001-0" not in top(body)
    assert "BOO-001-1" in top(body)[:3], "the next step of the product line"
    assert body["items"][0]["category"] == "Books"


def test_similar_items_are_blended_once_per_item_and_shared(shop, monkeypatch):
    first = top(shop.client.get("/api/v1/items/BOO-001-0/similar?k=5").json())
    from reranking.services import serving

    monkeypatch.setattr(serving, "text_neighbours", lambda *a, **kw: pytest.fail("blended again"))
    assert top(shop.client.get("/api/v1/items/BOO-001-0/similar?k=5").json()) == first


def test_a_new_item_gets_similar_items_and_is_proposed_as_one(shop):
    upsert_items(shop.tenant, [{"item_id": "new-boo", "title": "Hidden River", "category": "Books",
                                "tags": ["novel", "paperback"], "description": "A Books novel, the Hidden River line."}])
    embed_items(shop.tenant)
    body = shop.client.get("/api/v1/items/new-boo/similar?k=10").json()
    assert body["strategy"] == "similar"
    assert sum(i["category"] == "Books" for i in body["items"]) >= 8
    others = shop.client.get("/api/v1/items/BOO-000-0/similar?k=20").json()
    assert "new-boo" in top(others)


def test_a_cart_of_several_items_and_rules_and_filters_apply(shop):
    Rule.objects.create(tenant=shop.tenant, name="no toys", kind="filter",
                        params={"when": {"field": "category", "op": "eq", "value": "Toys"}})
    body = shop.client.get("/api/v1/items/TOY-000-0/similar?k=5&context=TOY-000-1&explain=true").json()
    assert top(body) and not {"TOY-000-0", "TOY-000-1"} & set(top(body))
    assert all(i["category"] != "Toys" for i in body["items"])
    assert body["removed"]
    filtered = shop.client.get("/api/v1/items/TOY-000-0/similar?k=5&category=Books").json()
    assert {i["category"] for i in filtered["items"]} == {"Books"}


def test_unknown_items_and_other_tenants_get_404(shop, charlie):
    assert shop.client.get("/api/v1/items/nope/similar").status_code == 404
    assert charlie.client.get("/api/v1/items/BOO-001-0/similar").status_code == 404
    assert shop.client.get("/api/v1/items/BOO-001-0/similar?k=0").status_code == 400
