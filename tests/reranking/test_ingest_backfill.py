"""POST /events?backfill=true: history is loaded without the live per-user limits, still validated and idempotent."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reranking.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def history(user: str, n: int) -> list[dict]:
    start = datetime.now(timezone.utc) - timedelta(days=60)
    return [
        {"user_id": user, "item_id": f"sku-{k % 6 + 1}", "event_id": f"old-{k}",
         "timestamp": (start + timedelta(minutes=k)).isoformat()}
        for k in range(n)
    ]


def test_backfill_is_not_held_to_the_live_rate_limits(alice, catalogue):
    refused = alice.client.post(URL, history("ann", 2000), format="json").json()
    assert refused["stored"] < 2000  # the live path: 60 a minute, 600 an hour
    Event.objects.all().delete()
    body = alice.client.post(f"{URL}?backfill=true", history("ann", 2000), format="json").json()
    assert (body["stored"], body["rejected"]) == (2000, 0)


def test_backfill_leaves_the_live_quota_alone(alice, catalogue):
    alice.client.post(f"{URL}?backfill=true", history("ann", 700), format="json")
    live = [{"user_id": "ann", "item_id": "sku-1", "event_id": f"live-{k}"} for k in range(60)]
    assert alice.client.post(URL, live, format="json").json()["stored"] == 60


def test_a_backfill_retried_stores_nothing_twice(alice, catalogue):
    alice.client.post(f"{URL}?backfill=true", history("ann", 50), format="json")
    body = alice.client.post(f"{URL}?backfill=true", history("ann", 50), format="json").json()
    assert (body["stored"], body["duplicates"]) == (0, 50)
    assert Event.objects.count() == 50


def test_backfill_rows_need_a_timestamp_and_are_validated(alice, catalogue):
    rows = [{"user_id": "ann", "item_id": "sku-1"}, {"user_id": "ann", "item_id": "nope", "timestamp": 1_700_000_000},
            {"user_id": "ann", "item_id": "sku-2", "timestamp": 1_700_000_000}]
    body = alice.client.post(f"{URL}?backfill=true", rows, format="json").json()
    assert body["stored"] == 1
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "timestamp"), (1, "item_id")]


def test_backfill_needs_the_ingest_scope_and_a_true_or_false_flag(alice, catalogue):
    assert alice.client_with("read").post(f"{URL}?backfill=true", history("ann", 1), format="json").status_code == 403
    response = alice.client.post(f"{URL}?backfill=maybe", history("ann", 1), format="json")
    assert response.status_code == 400 and "backfill" in response.json()["error"]["detail"]
