"""GET /api/v1/users/<id>/recommendations and the anonymous /api/v1/recommendations."""
from __future__ import annotations

import pytest

from reranking.models import Event, Item, Ranking
from reranking.services.ingest import ingest_events

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def url(user: str, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/users/{user}/recommendations" + (f"?{query}" if query else "")


def test_it_serves_the_precomputed_ranking_in_order(shop, user_id):
    response = shop.client.get(url(user_id, k=5))
    assert response.status_code == 200, response.json()
    body = response.json()
    ranking = Ranking.objects.get(user_external_id=user_id, version__is_active=True)
    assert [i["item_id"] for i in body["items"]] == [i for i, _ in ranking.items[:5]]
    assert body["strategy"] == "precomputed" and body["model_version"] == 1 and not body["fresh"]
    assert len(body["recommendation_id"]) == 32
    assert body["privacy"] == {"dp": False}
    assert [i["position"] for i in body["items"]] == [1, 2, 3, 4, 5]


def test_pages_continue_where_the_first_ended(shop, user_id):
    first = shop.client.get(url(user_id, k=5)).json()["items"]
    second = shop.client.get(url(user_id, k=5, page=2)).json()["items"]
    assert [i["position"] for i in second] == [6, 7, 8, 9, 10]
    assert not {i["item_id"] for i in first} & {i["item_id"] for i in second}


def test_filters_keep_only_matching_items(shop, user_id):
    Item.objects.filter(category="Books").update(available=False)
    body = shop.client.get(url(user_id, k=20, category="Books,Toys", in_stock="true")).json()
    assert body["items"], "some Toys remain"
    assert {i["category"] for i in body["items"]} == {"Toys"}
    priced = shop.client.get(url(user_id, k=20, price_min=50, price_max=150)).json()["items"]
    assert priced and all(50 <= i["price"] <= 150 for i in priced)


def test_fresh_events_rescore_the_list_at_once(shop, user_id):
    before = shop.client.get(url(user_id, k=10)).json()
    clicked = before["items"][0]["item_id"]
    ingest_events(shop.tenant, [{"user_id": user_id, "item_id": clicked, "event_type": "purchase"}])
    after = shop.client.get(url(user_id, k=10)).json()
    assert after["strategy"] == "precomputed+fresh" and after["fresh"]
    assert clicked not in [i["item_id"] for i in after["items"]], "a consumed item is excluded"


def test_anonymous_visitors_without_context_get_popular_items(shop):
    assert shop.client.get("/api/v1/recommendations?k=3").json()["strategy"] == "popular"


def test_explain_shows_model_scores_and_rule_effects(shop, user_id):
    from reranking.models import Rule

    target = shop.client.get(url(user_id, k=10)).json()["items"][5]["item_id"]
    Rule.objects.create(tenant=shop.tenant, name="launch", kind="pin", params={"item_id": target, "position": 1})
    body = shop.client.get(url(user_id, k=10, explain=1)).json()
    top = body["items"][0]
    assert top["item_id"] == target
    assert top["explain"]["model_position"] == 6
    assert top["explain"]["effects"][0]["rule_name"] == "launch"


@pytest.mark.parametrize(
    "params, field",
    [({"k": 0}, "k"), ({"k": 101}, "k"), ({"page": 0}, "page"), ({"price_min": 5, "price_max": 1}, "price_min"),
     ({"k": "ten"}, "k")],
)
def test_bad_parameters_get_a_400_naming_the_field(shop, user_id, params, field):
    response = shop.client.get(url(user_id, **params))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(field)


def test_an_unknown_user_gets_404(shop):
    response = shop.client.get(url("nobody"))
    assert response.status_code == 404 and "nobody" in response.json()["error"]["message"]


def test_charlie_gets_404_for_alices_user(shop, charlie, user_id):
    assert charlie.client.get(url(user_id)).status_code == 404


def test_without_a_model_users_get_popular_items(alice, catalogue):
    ingest_events(alice.tenant, [{"user_id": "u1", "item_id": catalogue[0]}, {"user_id": "u2", "item_id": catalogue[0]},
                                 {"user_id": "u3", "item_id": catalogue[1]}])
    body = alice.client.get(url("u3", k=3)).json()
    assert body["strategy"] == "popular" and body["model_version"] is None
    assert [i["item_id"] for i in body["items"]][0] == catalogue[0]
    assert catalogue[1] not in [i["item_id"] for i in body["items"]], "what u3 consumed is excluded"
    assert len(body["items"]) == 3, "untouched catalogue items fill the list"
