"""New users (events, no precomputed ranking) and anonymous sessions are served by the live model."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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


def lookups(queries) -> list[str]:
    """The queries a new user's list needs without the cache: their ranking, their id, their events."""
    return [q["sql"] for q in queries if 'FROM "reranking_ranking"' in q["sql"] or 'FROM "reranking_event"' in q["sql"]
            or q["sql"].startswith('SELECT "reranking_enduser"."id" AS "id" FROM "reranking_enduser"')]


def test_a_new_users_list_is_kept_until_their_next_event(shop, monkeypatch):
    """A user without a ranking is scored once per history: later reads need no query and no scoring."""
    ingest_events(shop.tenant, [{"user_id": "returning", "item_id": i, "event_type": "click"}
                                for i in ("BOO-001-0", "BOO-001-1")])
    first = shop.client.get("/api/v1/users/returning/recommendations?k=10").json()
    assert first["strategy"] == "live"
    monkeypatch.setattr(Reranker, "recommend", lambda *a, **kw: pytest.fail("the list was scored again"))
    with CaptureQueriesContext(connection) as queries:
        again = shop.client.get("/api/v1/users/returning/recommendations?k=10").json()
    assert (again["strategy"], top(again)) == ("live", top(first))
    assert not lookups(queries.captured_queries), "the held list needs no ranking, user or history read"
    monkeypatch.undo()
    ingest_events(shop.tenant, [{"user_id": "returning", "item_id": top(first)[0], "event_type": "click"}])
    after = shop.client.get("/api/v1/users/returning/recommendations?k=10").json()
    assert after["strategy"] == "live" and top(first)[0] not in top(after), "the next event is a new history"


def test_a_new_users_held_list_ends_with_items_added_since_training(shop, monkeypatch):
    ingest_events(shop.tenant, [{"user_id": "returning", "item_id": "BOO-001-0", "event_type": "click"}])
    assert shop.client.get("/api/v1/users/returning/recommendations?k=10").json()["strategy"] == "live"
    calls = []
    original = serving.live_candidates
    monkeypatch.setattr(serving, "live_candidates", lambda *a: calls.append(1) or original(*a))
    shop.client.get("/api/v1/users/returning/recommendations?k=10")
    assert not calls, "held"
    monkeypatch.setattr(serving, "current_stamp", lambda tenant, version: "an-item-was-added")
    shop.client.get("/api/v1/users/returning/recommendations?k=10")
    assert calls, "a list made before the catalogue grew is not served from the held entry"


def test_an_erased_new_user_is_not_served_their_held_list(shop, django_capture_on_commit_callbacks):
    ingest_events(shop.tenant, [{"user_id": "leaving", "item_id": "BOO-001-0", "event_type": "click"}])
    assert shop.client.get("/api/v1/users/leaving/recommendations?k=10").json()["strategy"] == "live"
    with django_capture_on_commit_callbacks(execute=True):  # the erasure's cache deletes run on commit
        assert shop.client.post("/api/v1/users/leaving/erase").status_code in (200, 202)
    assert shop.client.get("/api/v1/users/leaving/recommendations?k=10").status_code == 404


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
