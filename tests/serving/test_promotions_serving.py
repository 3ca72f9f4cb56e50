"""Pins and promotions in served lists, and placements: which rules apply, recorded with the list."""
from __future__ import annotations

import pytest

from reranking.models import Item, Ranking, Rule, ServedRecommendation
from reranking.services import served_log

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def url(user: str, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/users/{user}/recommendations" + (f"?{query}" if query else "")


def top(body: dict) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def not_proposed(shop, user_id: str) -> Item:
    """An item the model did not put in the user's stored ranking at all."""
    ranked = {i for i, _ in Ranking.objects.get(user_external_id=user_id, version__is_active=True).items}
    return Item.objects.for_tenant(shop.tenant).exclude(external_id__in=ranked).order_by("id").first()


def test_a_pin_inserts_an_item_the_model_did_not_propose(shop, user_id):
    target = not_proposed(shop, user_id)
    Rule.objects.create(tenant=shop.tenant, name="launch", kind="pin", params={"item_id": target.external_id, "position": 3})
    body = shop.client.get(url(user_id, k=10, explain="true")).json()
    assert top(body)[2] == target.external_id
    assert body["items"][2]["explain"]["effects"][0]["rule_name"] == "launch"


def test_a_filter_that_removes_the_pinned_item_is_explained(shop, user_id):
    target = not_proposed(shop, user_id)
    other = Item.objects.for_tenant(shop.tenant).exclude(category=target.category).values_list("category", flat=True).first()
    Rule.objects.create(tenant=shop.tenant, name="launch", kind="pin", params={"item_id": target.external_id, "position": 1})
    body = shop.client.get(url(user_id, k=10, explain="true", category=other)).json()
    assert target.external_id not in top(body)
    assert any(r["item_id"] == target.external_id and r["kind"] == "filter" for r in body["removed"])
    assert any("removed by filter" in n["detail"] for n in body["not_applied"])


def test_a_promotion_fills_its_share_of_slots_from_its_filter(shop, user_id):
    before = shop.client.get(url(user_id, k=10)).json()
    shown = {i["category"] for i in before["items"]}
    category = Item.objects.for_tenant(shop.tenant).exclude(category__in=shown).values_list("category", flat=True).first()
    Rule.objects.create(tenant=shop.tenant, name="promo", kind="promote",
                        params={"when": {"field": "category", "op": "eq", "value": category}, "slots": 2, "top": 10})
    after = shop.client.get(url(user_id, k=10)).json()
    assert [i["position"] for i in after["items"] if i["category"] == category] == [5, 10]
    assert [i for i in top(after) if i in top(before)] == [i for i in top(before)][:8]


def test_rules_limited_to_a_placement_apply_only_there_and_the_placement_is_recorded(shop, user_id):
    target = not_proposed(shop, user_id)
    Rule.objects.create(tenant=shop.tenant, name="cart pin", kind="pin",
                        params={"item_id": target.external_id, "position": 1, "placements": ["cart"]})
    cart = shop.client.get(url(user_id, k=5, placement="cart")).json()
    assert top(cart)[0] == target.external_id and cart["placement"] == "cart"
    home = shop.client.get(url(user_id, k=5, placement="home")).json()
    plain = shop.client.get(url(user_id, k=5)).json()
    assert target.external_id not in top(home) + top(plain) and plain["placement"] == "default"
    served_log.flush()
    stored = dict(ServedRecommendation.objects.values_list("recommendation_id", "placement"))
    assert stored[cart["recommendation_id"]] == "cart" and stored[plain["recommendation_id"]] == "default"


@pytest.mark.parametrize("placement", ["a%20b", "x" * 51, "caf%C3%A9"])
def test_a_bad_placement_is_a_400_naming_it(shop, user_id, placement):
    response = shop.client.get(url(user_id, placement=placement))
    assert response.status_code == 400 and "placement" in response.json()["error"]["detail"]
