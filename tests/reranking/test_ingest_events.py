"""POST /events: store valid rows, report each invalid row by index, never store an event_id twice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reranking.models import EndUser, Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def post(ctx, body):
    return ctx.client.post(URL, body, format="json")


def test_it_stores_a_batch_and_creates_end_users(alice, catalogue):
    response = post(alice, {"events": [
        {"user_id": "ann", "item_id": "sku-1", "event_type": "click", "timestamp": "2026-03-01T12:00:00Z",
         "session_id": "s1", "event_id": "e1", "recommendation_id": "r1", "context": {"page": "home"}},
        {"user_id": "ann", "item_id": "sku-2", "value": "4.5", "event_type": "rating", "timestamp": 1767225600},
        {"user_id": 42, "item_id": "sku-3"},
    ]})
    assert response.status_code == 201
    assert response.json() == {"stored": 3, "duplicates": 0, "rejected": 0, "errors": []}
    assert set(EndUser.objects.filter(tenant=alice.tenant).values_list("external_id", flat=True)) == {"ann", "42"}
    click = Event.objects.get(event_id="e1")
    assert (click.tenant, click.user.external_id, click.item.external_id) == (alice.tenant, "ann", "sku-1")
    assert (click.event_type, click.session_id, click.recommendation_id) == ("click", "s1", "r1")
    assert click.context == {"page": "home"}
    assert click.timestamp == datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    rating = Event.objects.get(user__external_id="ann", item__external_id="sku-2")
    assert (rating.value, rating.timestamp) == (4.5, datetime(2026, 1, 1, tzinfo=timezone.utc))
    default = Event.objects.get(user__external_id="42")
    assert default.event_type == "view"  # the default type
    assert abs(default.timestamp - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_it_accepts_a_bare_array(alice, catalogue):
    assert post(alice, [{"user_id": "ann", "item_id": "sku-1"}]).json()["stored"] == 1


def test_a_known_end_user_is_reused(alice, catalogue, events):
    users = EndUser.objects.count()
    post(alice, [{"user_id": "ann", "item_id": "sku-4"}])
    assert EndUser.objects.count() == users


def test_it_stores_valid_rows_and_reports_invalid_ones_by_index(alice, catalogue):
    response = post(alice, [
        {"user_id": "ann", "item_id": "sku-1"},
        {"user_id": "ann", "item_id": "ghost"},
        {"user_id": "ann", "item_id": "sku-2", "event_type": "teleport"},
        {"user_id": "ann", "item_id": "sku-3", "timestamp": "yesterday"},
        {"user_id": "ben", "item_id": "sku-4"},
    ])
    assert response.status_code == 201
    body = response.json()
    assert (body["stored"], body["rejected"]) == (2, 3)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "item_id"), (2, "event_type"), (3, "timestamp")]
    assert body["errors"][0]["message"] == "Unknown item 'ghost'."
    assert Event.objects.count() == 2
    # End users are created only for stored rows.
    assert set(EndUser.objects.values_list("external_id", flat=True)) == {"ann", "ben"}


def test_a_retried_batch_stores_nothing_twice(alice, catalogue):
    batch = [{"user_id": "ann", "item_id": f"sku-{n}", "event_id": f"e{n}"} for n in range(1, 5)]
    assert post(alice, batch).json()["stored"] == 4
    response = post(alice, batch)
    assert response.status_code == 200
    assert response.json() == {"stored": 0, "duplicates": 4, "rejected": 0, "errors": []}
    assert Event.objects.count() == 4


def test_a_partly_retried_batch_stores_only_the_new_events(alice, catalogue):
    post(alice, [{"user_id": "ann", "item_id": "sku-1", "event_id": "e1"}])
    response = post(alice, [
        {"user_id": "ann", "item_id": "sku-1", "event_id": "e1"},
        {"user_id": "ann", "item_id": "sku-2", "event_id": "e2"},
    ])
    assert response.status_code == 201
    assert (response.json()["stored"], response.json()["duplicates"]) == (1, 1)
    assert Event.objects.count() == 2


def test_event_ids_are_per_tenant(alice, charlie, catalogue):
    from reranking.services.catalogue import upsert_items

    upsert_items(charlie.tenant, [{"item_id": "sku-1", "title": "Charlie's"}])
    post(alice, [{"user_id": "ann", "item_id": "sku-1", "event_id": "e1"}])
    assert post(charlie, [{"user_id": "ann", "item_id": "sku-1", "event_id": "e1"}]).json()["stored"] == 1


def test_a_duplicate_event_id_within_a_batch_is_an_error_row(alice, catalogue):
    response = post(alice, [
        {"user_id": "ann", "item_id": "sku-1", "event_id": "e1"},
        {"user_id": "ann", "item_id": "sku-2", "event_id": "e1"},
    ])
    assert response.status_code == 201
    assert response.json()["errors"] == [{"index": 1, "field": "event_id", "message": "Duplicate of row 0 in this batch."}]
    assert list(Event.objects.values_list("item__external_id", flat=True)) == ["sku-1"]


def test_a_retry_of_a_batch_with_a_duplicate_answers_the_same(alice, catalogue):
    batch = [{"user_id": "ann", "item_id": "sku-1", "event_id": "e1"}, {"user_id": "ann", "item_id": "sku-2", "event_id": "e1"}]
    post(alice, batch)
    body = post(alice, batch).json()
    assert (body["stored"], body["duplicates"], body["errors"][0]["index"]) == (0, 1, 1)
    assert Event.objects.count() == 1


def test_events_without_event_ids_are_all_stored(alice, catalogue):
    row = {"user_id": "ann", "item_id": "sku-1", "timestamp": "2026-01-01T00:00:00Z"}
    post(alice, [row, row])
    post(alice, [row])
    assert Event.objects.count() == 3


def test_an_event_type_the_tenant_added_is_accepted(alice, catalogue):
    alice.client.patch("/api/v1/tenant", {"event_types": ["view", "like"]}, format="json")
    assert post(alice, [{"user_id": "ann", "item_id": "sku-1", "event_type": "like"}]).json()["stored"] == 1
    errors = post(alice, [{"user_id": "ann", "item_id": "sku-1", "event_type": "click"}]).json()["error"]["detail"]["errors"]
    assert errors[0]["field"] == "event_type"


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"item_id": "sku-1"}, "user_id", "required"),
        ({"user_id": "ann"}, "item_id", "required"),
        ({"user_id": "", "item_id": "sku-1"}, "user_id", "required"),
        ({"user_id": "  ", "item_id": "sku-1"}, "user_id", "blank"),
        ({"user_id": {"id": 1}, "item_id": "sku-1"}, "user_id", "string or an integer"),
        ({"user_id": "u" * 201, "item_id": "sku-1"}, "user_id", "200 characters"),
        ({"user_id": "ann", "item_id": "ghost"}, "item_id", "Unknown item 'ghost'"),
        ({"user_id": "ann", "item_id": "sku-1", "event_type": "teleport"}, "event_type", "Unknown event type 'teleport'"),
        ({"user_id": "ann", "item_id": "sku-1", "event_type": 3}, "event_type", "Unknown event type 3"),
        ({"user_id": "ann", "item_id": "sku-1", "value": "lots"}, "value", "number"),
        ({"user_id": "ann", "item_id": "sku-1", "value": True}, "value", "number"),
        ({"user_id": "ann", "item_id": "sku-1", "value": "inf"}, "value", "finite"),
        ({"user_id": "ann", "item_id": "sku-1", "timestamp": "yesterday"}, "timestamp", "Not an ISO 8601 timestamp"),
        ({"user_id": "ann", "item_id": "sku-1", "timestamp": "1969-07-20T20:17:00Z"}, "timestamp", "before 1970"),
        ({"user_id": "ann", "item_id": "sku-1", "timestamp": "2999-01-01T00:00:00Z"}, "timestamp", "future"),
        ({"user_id": "ann", "item_id": "sku-1", "timestamp": 1e20}, "timestamp", "out of range"),
        ({"user_id": "ann", "item_id": "sku-1", "timestamp": [2026]}, "timestamp", "ISO 8601"),
        ({"user_id": "ann", "item_id": "sku-1", "context": "home"}, "context", "JSON object"),
        ({"user_id": "ann", "item_id": "sku-1", "session_id": 5}, "session_id", "string"),
        ({"user_id": "ann", "item_id": "sku-1", "recommendation_id": "r" * 65}, "recommendation_id", "64 characters"),
        ({"user_id": "ann", "item_id": "sku-1", "event_id": ["e"]}, "event_id", "string or an integer"),
        ({"user_id": "ann", "item_id": "sku-1", "colour": "red"}, "colour", "Unknown field"),
        ({"user_id": "a\x00b", "item_id": "sku-1"}, "user_id", "NUL"),
        ({"user_id": "ann", "item_id": "sku-1", "context": {"k": ["\x00"]}}, "context", "NUL"),
        ("not an object", "event", "JSON object"),
    ],
)
def test_it_refuses_a_bad_row_naming_the_field(alice, catalogue, snapshot, row, field, words):
    before = snapshot()
    response = post(alice, [row])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    assert error["message"].startswith(f"1 invalid rows; nothing was stored. First: row 0, {field}: ")
    assert words in error["message"]
    assert error["detail"]["rejected"] == 1
    [row_error] = error["detail"]["errors"]
    assert row_error["index"] == 0 and row_error["field"] == field and words in row_error["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"event": [{"user_id": "ann", "item_id": "sku-1"}]}, "Expected a JSON array"),
        ({"events": {"user_id": "ann", "item_id": "sku-1"}}, "Expected a JSON array"),
        ({"events": []}, "empty"),
        ([], "empty"),
        (17, "Expected a JSON array"),
        ({"events": [{"user_id": "ann", "item_id": "sku-1"}], "tenant": "alice-shop"}, "Unknown field 'tenant'"),
    ],
)
def test_it_refuses_a_body_that_is_not_a_batch(alice, catalogue, snapshot, body, words):
    before = snapshot()
    response = post(alice, body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("events: ")
    assert words in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_malformed_json(alice, catalogue, snapshot):
    before = snapshot()
    response = alice.client.post(URL, '{"events": [{"user_id": "ann", "item_id": "sku-1"}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Malformed JSON: ")
    assert snapshot() == before


def test_it_refuses_invalid_utf8(alice, catalogue, snapshot):
    before = snapshot()
    response = alice.client.post(URL, b'[{"user_id": "\xff", "item_id": "sku-1"}]', content_type="application/json")
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_nan(alice, catalogue, snapshot):
    before = snapshot()
    body = '[{"user_id": "ann", "item_id": "sku-1", "context": {"score": NaN}}]'
    response = alice.client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "NaN" in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_10001_events_and_writes_nothing(alice, catalogue, snapshot):
    before = snapshot()
    response = post(alice, [{"user_id": "ann", "item_id": "sku-1"}] * 10_001)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "events: The batch has 10001 rows; at most 10000 are accepted per request."
    )
    assert snapshot() == before


def test_it_accepts_10000_events(alice, catalogue):
    batch = [{"user_id": f"u{n % 300}", "item_id": f"sku-{n % 6 + 1}", "event_id": f"e{n}"} for n in range(10_000)]
    response = post(alice, batch)
    assert response.json() == {"stored": 10_000, "duplicates": 0, "rejected": 0, "errors": []}
    assert EndUser.objects.filter(tenant=alice.tenant).count() == 300
    assert post(alice, batch).json()["duplicates"] == 10_000


def test_it_refuses_an_oversize_body_with_413(alice, catalogue, settings, snapshot):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    before = snapshot()
    response = post(alice, [{"user_id": "ann", "item_id": "sku-1"}] * 100)
    assert response.status_code == 413
    assert response.json()["error"]["message"].startswith("The request body is ")
    assert snapshot() == before


def test_charlie_cannot_log_events_against_alices_items(alice, charlie, catalogue, snapshot):
    before = snapshot()
    response = post(charlie, [{"user_id": "ann", "item_id": "sku-1"}])
    assert response.status_code == 400
    assert response.json()["error"]["detail"]["errors"][0]["message"] == "Unknown item 'sku-1'."
    assert snapshot() == before


def test_charlies_user_with_alices_user_id_is_his_own(alice, charlie, catalogue, events):
    from reranking.services.catalogue import upsert_items

    upsert_items(charlie.tenant, [{"item_id": "clip", "title": "Clip"}])
    post(charlie, [{"user_id": "ann", "item_id": "clip"}])
    assert EndUser.objects.filter(external_id="ann").count() == 2
    assert Event.objects.filter(tenant=alice.tenant, user__external_id="ann").count() == 2


def test_text_survives_the_bulk_insert_exactly(alice, catalogue):
    # PostgreSQL loads events with COPY (CSV); quoting must not change a character, nor turn "" into NULL.
    tricky = 'a "quoted", comma\nnew line\r\\N back\\slash ünïcødé 🎉'
    user = 'a "quoted", comma \\N back\\slash ünïcødé 🎉'  # ids take no control characters (newlines)
    response = post(alice, [
        {"user_id": user, "item_id": "sku-1", "session_id": tricky, "event_id": tricky, "recommendation_id": "",
         "context": {"note": tricky, "n": [1, 2.5, None, True]}},
        {"user_id": "plain", "item_id": "sku-2"},
    ])
    assert response.json()["stored"] == 2
    event = Event.objects.get(user__external_id=user)
    assert (event.session_id, event.event_id, event.recommendation_id) == (tricky, tricky, "")
    assert event.context == {"note": tricky, "n": [1, 2.5, None, True]}
    plain = Event.objects.get(user__external_id="plain")
    assert (plain.session_id, plain.event_id, plain.value, plain.context) == ("", None, None, None)


def test_a_revoked_key_cannot_ingest(alice, catalogue, snapshot):
    from tenants.models import ApiKey

    ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key)).revoke()
    before = snapshot()
    response = post(alice, [{"user_id": "ann", "item_id": "sku-1"}])
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]
    assert snapshot() == before


def test_a_readonly_key_cannot_ingest(alice, catalogue, snapshot):
    before = snapshot()
    response = alice.client_with("read").post(URL, [{"user_id": "ann", "item_id": "sku-1"}], format="json")
    assert response.status_code == 403
    assert "'ingest' scope" in response.json()["error"]["message"]
    assert snapshot() == before
