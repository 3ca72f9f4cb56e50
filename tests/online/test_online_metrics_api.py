"""GET /api/v1/metrics/online: what served lists earned, grouped, with rates in percent and 95% intervals."""
from __future__ import annotations

import pytest
from django.utils import timezone

from reranking.services.ingest import ingest_events

from .conftest import impressions

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/online"


def serve_and_click(ctx, users: list[str], clickers: set[str], buyers: set[str]) -> None:
    for user in users:
        body = ctx.client.get(f"/api/v1/users/{user}/recommendations?k=3").json()
        first = body["items"][0]["item_id"]
        rows = []
        if user in clickers:
            rows += [{"user_id": user, "item_id": first, "event_type": "click", "recommendation_id": body["recommendation_id"]}] * 2
        if user in buyers:
            rows.append({"user_id": user, "item_id": first, "event_type": "purchase", "value": 10.0,
                         "recommendation_id": body["recommendation_id"]})
        if rows:
            assert ingest_events(ctx.tenant, rows).stored == len(rows)


def test_it_counts_impressions_users_clicks_conversions_and_revenue(alice, shop):
    users = [f"u{n}" for n in range(10)]
    serve_and_click(alice, users + users[:2], clickers=set(users[:4]), buyers={"u0"})
    body = alice.client.get(URL).json()
    total = body["total"]
    assert (total["impressions"], total["users_reached"]) == (12, 10)
    # u0 and u1 were served twice and clicked twice each time: 6 clicked lists, 12 click events.
    assert (total["clicked_impressions"], total["clicks"]) == (6, 12)
    assert (total["converted_impressions"], total["conversions"], total["revenue"]) == (2, 2, 20.0)
    assert total["ctr"]["percent"] == 50.0 and total["ctr"]["low"] < 50.0 < total["ctr"]["high"]
    assert total["conversion_rate"]["percent"] == round(100 * 2 / 12, 2)
    assert [row["day"] for row in body["rows"]] == [timezone.localdate().isoformat()]
    assert body["attribution_hours"] == 24


def test_it_groups_by_placement_strategy_and_version(alice, shop):
    serve_and_click(alice, ["u1", "u2"], clickers={"u1"}, buyers=set())
    alice.client.get("/api/v1/recommendations")
    impressions().filter(user__external_id="u2").update(placement="home")
    body = alice.client.get(URL, {"group_by": "placement,strategy,model_version"}).json()
    rows = {(r["placement"], r["strategy"], r["model_version"]): (r["impressions"], r["clicked_impressions"]) for r in body["rows"]}
    assert rows == {("default", "precomputed", 1): (1, 1), ("home", "precomputed", 1): (1, 0),
                    ("default", "popular", 1): (1, 0)}


def test_the_current_version_is_compared_with_the_previous_one(alice, shop, django_capture_on_commit_callbacks):
    from reranking.services import precompute

    serve_and_click(alice, [f"u{n}" for n in range(10)], clickers=set(), buyers=set())
    with django_capture_on_commit_callbacks(execute=True):
        precompute.activate(shop["v2"])
    serve_and_click(alice, [f"u{n}" for n in range(10)], clickers={f"u{n}" for n in range(8)}, buyers=set())
    versions = alice.client.get(URL).json()["versions"]
    assert (versions["current"], versions["previous"]) == (2, 1)
    assert versions["current_figures"]["ctr"]["percent"] == 80.0 and versions["previous_figures"]["ctr"]["percent"] == 0.0
    assert versions["ctr_difference"]["difference"] == 80.0 and versions["ctr_difference"]["p_value"] < 0.01


@pytest.mark.parametrize(("query", "field"), [
    ({"group_by": "colour"}, "group_by"), ({"since": "2026-02-30"}, "since"),
    ({"since": "2026-03-02", "until": "2026-03-01"}, "since"), ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
])
def test_bad_queries_get_a_400_naming_the_field(alice, shop, query, field):
    response = alice.client.get(URL, query)
    assert response.status_code == 400 and response.json()["error"]["message"].startswith(field), response.json()


def test_another_tenant_sees_none_of_alices_figures(alice, charlie, shop):
    serve_and_click(alice, ["u1"], clickers={"u1"}, buyers=set())
    assert impressions().count() == 1
    assert charlie.client.get(URL).json()["total"]["impressions"] == 0


def test_the_attribution_settings_are_per_tenant_and_validated(alice, charlie):
    assert alice.client.get("/api/v1/metrics/settings").json() == {
        "attribution_hours": 24, "click_types": ["click", "view", "add_to_cart"], "conversion_types": ["purchase"]}
    assert alice.client.patch("/api/v1/metrics/settings", {"attribution_hours": 0}, format="json").status_code == 400
    changed = alice.client.patch("/api/v1/metrics/settings", {"attribution_hours": 2, "click_types": ["tap"]}, format="json")
    assert changed.json()["attribution_hours"] == 2 and changed.json()["click_types"] == ["tap"]
    assert charlie.client.get("/api/v1/metrics/settings").json()["attribution_hours"] == 24
