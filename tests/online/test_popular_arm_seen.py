"""Popular lists (an experiment's popular arm, a tenant without a model) read a user's seen items from the
shared cache until the user acts again or is erased: the same list as from the database, without its queries."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reranking.services import experiments
from reranking.services.ingest import ingest_events

pytestmark = pytest.mark.django_db

USERS = [f"u{n}" for n in range(40)]


def items_of(ctx, user: str) -> tuple[str, list[str]]:
    body = ctx.client.get(f"/api/v1/users/{user}/recommendations?k=5").json()
    return body["strategy"], [item["item_id"] for item in body["items"]]


def history_reads(queries) -> list[str]:
    """The queries a popular list needs without the cache: the user's id, then their events."""
    return [q["sql"] for q in queries if 'FROM "reranking_event"' in q["sql"]
            or q["sql"].startswith('SELECT "reranking_enduser"."id" AS "id" FROM "reranking_enduser"')]


def test_a_popular_arm_user_is_served_from_cached_seen_items_until_they_act(alice, shop):
    experiments.start(alice.tenant, "holdout", [{"kind": "reranker", "share": 50}, {"kind": "popular", "share": 50}])
    user = next(u for u in USERS if experiments.route(alice.tenant, u, None).kind == "popular")
    strategy, first = items_of(alice, user)
    assert strategy == "popular" and "sku-1" not in first, "the item the user viewed is left out"
    with CaptureQueriesContext(connection) as queries:
        assert items_of(alice, user) == (strategy, first)
    assert not history_reads(queries.captured_queries), "seen items come from the cache"

    ingest_events(alice.tenant, [{"user_id": user, "item_id": first[0], "event_type": "view"}])
    _, after = items_of(alice, user)
    assert first[0] not in after and "sku-1" not in after, "a new event ends the cached entry"


def test_an_erased_user_is_not_served_from_the_cache(alice, shop, django_capture_on_commit_callbacks):
    experiments.start(alice.tenant, "holdout", [{"kind": "reranker", "share": 50}, {"kind": "popular", "share": 50}])
    user = next(u for u in USERS if experiments.route(alice.tenant, u, None).kind == "popular")
    assert items_of(alice, user)[0] == "popular"
    with django_capture_on_commit_callbacks(execute=True):  # the erasure's cache deletes run on commit
        assert alice.client.post(f"/api/v1/users/{user}/erase").status_code in (200, 202)
    assert alice.client.get(f"/api/v1/users/{user}/recommendations?k=5").status_code == 404


def test_without_a_model_the_seen_items_are_cached_too(alice, catalogue):
    ingest_events(alice.tenant, [{"user_id": "u1", "item_id": catalogue[0]}, {"user_id": "u2", "item_id": catalogue[0]},
                                 {"user_id": "u3", "item_id": catalogue[1]}])
    strategy, first = items_of(alice, "u3")
    assert strategy == "popular" and first[0] == catalogue[0] and catalogue[1] not in first
    with CaptureQueriesContext(connection) as queries:
        assert items_of(alice, "u3") == (strategy, first)
    assert not history_reads(queries.captured_queries)
    ingest_events(alice.tenant, [{"user_id": "u3", "item_id": catalogue[0]}])
    assert catalogue[0] not in items_of(alice, "u3")[1]
