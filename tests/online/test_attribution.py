"""Attribution: an event quoting a served list's recommendation_id counts for it within the tenant's window."""
from __future__ import annotations

from datetime import timedelta

import pytest

from reranking.models import Impression, OnlineSettings
from reranking.services import impressions as attribution
from reranking.services.ingest import ingest_events

from .conftest import impressions

pytestmark = pytest.mark.django_db


def serve(ctx, user: str = "ann") -> dict:
    body = ctx.client.get(f"/api/v1/users/{user}/recommendations?k=3").json()
    assert body["items"], body
    return body


def post(ctx, rec_id: str, item: str, at, event_type: str = "click", user: str = "ann", value=None) -> None:
    row = {"user_id": user, "item_id": item, "event_type": event_type, "timestamp": at.isoformat(),
           "recommendation_id": rec_id}
    if value is not None:
        row["value"] = value
    assert ingest_events(ctx.tenant, [row]).stored == 1


def outcome(ctx, rec_id: str) -> attribution.Outcome | None:
    rows = attribution.impression_rows(ctx.tenant, recommendation_id=rec_id)
    return attribution.attribute(ctx.tenant, rows).get(rec_id)


def served_at(rec_id: str):
    """Move the impression two days back (events may not be stamped in the future) and return when it was served."""
    from django.utils import timezone

    when = timezone.now() - timedelta(days=2)
    impressions().filter(recommendation_id=rec_id).update(served_at=when)
    return when


def test_a_click_at_the_window_edge_counts_and_one_second_later_does_not(alice, shop):
    first, second = serve(alice)["recommendation_id"], serve(alice)["recommendation_id"]
    post(alice, first, "sku-1", served_at(first) + timedelta(hours=24))
    post(alice, second, "sku-1", served_at(second) + timedelta(hours=24, seconds=1))
    assert outcome(alice, first).clicks == 1
    assert outcome(alice, second) is None


def test_the_window_is_the_tenants_setting(alice, shop):
    OnlineSettings.objects.create(tenant=alice.tenant, attribution_hours=1)
    rec = serve(alice)["recommendation_id"]
    post(alice, rec, "sku-1", served_at(rec) + timedelta(hours=2))
    assert outcome(alice, rec) is None
    post(alice, rec, "sku-2", served_at(rec) + timedelta(minutes=59))
    assert outcome(alice, rec).clicks == 1


def test_an_event_before_the_list_was_served_does_not_count_beyond_clock_skew(alice, shop):
    rec = serve(alice)["recommendation_id"]
    post(alice, rec, "sku-1", served_at(rec) - attribution.CLOCK_SKEW - timedelta(seconds=1))
    assert outcome(alice, rec) is None
    post(alice, rec, "sku-2", served_at(rec) - attribution.CLOCK_SKEW)
    assert outcome(alice, rec).clicks == 1


def test_only_items_of_the_list_and_counted_types_count(alice, shop):
    rec = serve(alice)["recommendation_id"]
    at = served_at(rec) + timedelta(minutes=5)
    post(alice, rec, "sku-6", at)  # not in the list v1 served
    post(alice, rec, "sku-1", at, event_type="rating")  # not a click or conversion type
    assert outcome(alice, rec) is None
    post(alice, rec, "sku-2", at, event_type="purchase", value=19.5)
    got = outcome(alice, rec)
    assert (got.clicks, got.conversions, got.revenue) == (0, 1, 19.5)


def test_events_without_or_with_another_tenants_recommendation_id_are_ignored(alice, charlie, shop):
    from reranking.services.catalogue import upsert_items

    upsert_items(charlie.tenant, [{"item_id": "sku-1", "title": "x"}])
    ingest_events(charlie.tenant, [{"user_id": "zed", "item_id": "sku-1", "event_type": "view"}])
    charlie_rec = charlie.client.get("/api/v1/users/zed/recommendations?k=3").json()["recommendation_id"]
    mine = serve(alice)["recommendation_id"]
    at = served_at(mine) + timedelta(minutes=1)
    post(alice, charlie_rec, "sku-1", at)  # alice's event quoting charlie's list
    post(alice, "", "sku-1", at)  # no recommendation_id at all
    charlie_row = Impression.objects.get(recommendation_id=charlie_rec)
    assert charlie_row.tenant_id == charlie.tenant.pk
    assert outcome(charlie, charlie_rec) is None
    assert outcome(alice, mine) is None
    assert attribution.attribute(alice.tenant, attribution.impression_rows(alice.tenant)) == {}


def test_every_served_list_is_an_impression_anonymous_and_rerank_included(alice, shop):
    serve(alice)
    alice.client.get("/api/v1/recommendations")
    alice.client.post("/api/v1/rerank", {"candidates": ["sku-1", "sku-2"]}, format="json")
    rows = list(impressions().values_list("endpoint", "user__external_id", "placement"))
    assert rows == [("recommendations", "ann", "default"), ("recommendations", None, "default"),
                    ("rerank", None, "default")]


def test_an_erased_users_impressions_stay_counted_without_the_user(alice, shop, monkeypatch):
    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: None)
    serve(alice)
    assert impressions().count() == 1
    assert alice.client.post("/api/v1/users/ann/erase").status_code == 200
    row = impressions().get()
    assert row.user_id is None and row.model_version == 1
