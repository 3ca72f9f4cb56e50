"""New users (events, no precomputed ranking) and anonymous sessions are served by the live model."""
from __future__ import annotations

import pytest

from reranking.ml.artifact import Reranker
from reranking.models import EndUser, Item
from reranking.services import precompute, serving
from reranking.services.datasets import histories_for
from reranking.services.ingest import ingest_events

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def top(body: dict) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def test_a_new_user_is_served_from_the_model_over_their_history(shop):
    walked = ["BOO-001-0", "BOO-001-1", "BOO-001-2", "BOO-001-3"]
    ingest_events(shop.tenant, [{"user_id": "newcomer", "item_id": i, "event_type": "click"} for i in walked])
    body = shop.client.get("/api/v1/users/newcomer/recommendations?k=10").json()
    assert body["strategy"] == "live" and body["model_version"] == 1
    popular = top(shop.client.get("/api/v1/recommendations?k=10").json())
    assert top(body) != popular
    assert not set(walked) & set(top(body)), "what the user consumed is excluded"
    # The same list precompute would have stored for this history: same candidates, same scorer.
    model = precompute.load_model("models/v1")
    user = EndUser.objects.get(tenant=shop.tenant, external_id="newcomer")
    expected = model.recommend([histories_for(shop.tenant, [user.pk])[user.pk]], k=10, exclude_seen=True)[0]
    assert top(body) == [i for i, _ in expected]


def test_an_anonymous_session_is_served_from_the_model_over_its_items(shop):
    body = shop.client.get("/api/v1/recommendations?k=5&context=BOO-001-0,BOO-001-1").json()
    assert body["strategy"] == "live"
    assert top(body)[0] == "BOO-001-2", "the next step of the walked product line wins"
    assert not {"BOO-001-0", "BOO-001-1"} & set(top(body))


def test_a_context_the_model_does_not_know_falls_back_to_popular(shop):
    body = shop.client.get("/api/v1/recommendations?k=5&context=nope").json()
    assert body["strategy"] == "popular" and len(body["items"]) == 5


def test_every_process_serves_a_user_who_just_acted_the_same_list(shop, user_id, monkeypatch):
    ingest_events(shop.tenant, [{"user_id": user_id, "item_id": "TOY-002-0", "event_type": "click"}])
    first = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10").json()
    assert first["strategy"] == "precomputed+fresh"
    # Another process: its own memos, and a model whose scores would differ. It serves the stored list.
    from reranking.services import cache

    cache._local.clear()
    cache.forget_items()
    monkeypatch.setattr(Reranker, "rerank", lambda *a, **kw: pytest.fail("the list was re-scored"))
    second = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10").json()
    assert top(second) == top(first)
    # The next event is a new history: scored again.
    monkeypatch.undo()
    ingest_events(shop.tenant, [{"user_id": user_id, "item_id": "TOY-002-1", "event_type": "click"}])
    third = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10").json()
    assert "TOY-002-1" not in top(third)


def test_a_session_posted_as_a_list_gets_the_list_its_context_query_gets(shop):
    """POST /recommendations carries the session's items in the body (a cart, a long visit)."""
    reader = shop.client_with("read")
    posted = reader.post("/api/v1/recommendations", {"session": ["BOO-001-0", "BOO-001-1"], "k": 5}, format="json")
    assert posted.status_code == 200, posted.content
    asked = shop.client.get("/api/v1/recommendations?k=5&context=BOO-001-0,BOO-001-1").json()
    assert posted.json()["strategy"] == "live"
    assert top(posted.json()) == top(asked)
    assert top(posted.json())[0] == "BOO-001-2"


def test_a_posted_session_takes_filters_as_json(shop):
    body = shop.client.post("/api/v1/recommendations", {
        "session": ["BOO-001-0", "BOO-001-1"], "k": 10, "category": ["Toys"], "placement": "cart",
    }, format="json").json()
    assert body["placement"] == "cart" and len(body["items"]) == 10
    categories = set(Item.objects.filter(tenant=shop.tenant, external_id__in=top(body)).values_list("category", flat=True))
    assert categories == {"Toys"}


def test_a_posted_user_request_is_the_users_list(shop, user_id):
    posted = shop.client.post(f"/api/v1/users/{user_id}/recommendations", {"k": 10}, format="json").json()
    asked = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10").json()
    assert posted["strategy"] == asked["strategy"] == "precomputed"
    assert top(posted) == top(asked)


@pytest.mark.parametrize("body, field", [
    ({"session": ["BOO-001-0"], "contxt": "x"}, "contxt"),
    ({"session": "BOO-001-0"}, "session"),
    ({"session": [f"i{n}" for n in range(201)]}, "session"),
    ({"k": 0}, "k"),
    ({"price_min": 5, "price_max": 1}, "price_min"),
    ({"attributes": {" ": "x"}}, "attributes"),
    ({"placement": "home page"}, "placement"),
])
def test_a_bad_posted_request_is_refused_naming_the_field(shop, body, field):
    response = shop.client.post("/api/v1/recommendations", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["detail"]


def test_a_posted_request_for_an_unknown_user_is_a_404(shop):
    response = shop.client.post("/api/v1/users/nobody-here/recommendations", {"k": 5}, format="json")
    assert response.status_code == 404
