"""Per-end-user event rate limits at ingestion (a shilling defence): excess rows refused one by one."""
from __future__ import annotations

import pytest

from reranking.models import Event, TrainingPolicy
from reranking.services import ratelimit
from reranking.services.ingest import ingest_events

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def limit(tenant, per_minute: int, per_hour: int = 0) -> None:
    policy = TrainingPolicy.for_tenant(tenant)
    policy.max_events_per_user_minute, policy.max_events_per_user_hour = per_minute, per_hour
    policy.save()


def rows(user: str, n: int, prefix: str = "") -> list[dict]:
    return [{"user_id": user, "item_id": f"sku-{k % 6 + 1}", "event_id": f"{prefix}{user}-{k}"} for k in range(n)]


def stored(user: str) -> int:
    return Event.objects.filter(user__external_id=user).count()


def test_the_defaults_bound_bursts_but_not_browsing(alice):
    policy = TrainingPolicy.for_tenant(alice.tenant)
    assert (policy.max_events_per_user_minute, policy.max_events_per_user_hour) == (60, 600)


def test_rows_beyond_an_end_users_limit_are_refused_and_the_rest_stored(alice, catalogue):
    limit(alice.tenant, per_minute=3)
    batch = rows("ann", 5) + rows("ben", 2)
    response = alice.client.post(URL, batch, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["stored"], body["rejected"]) == (5, 2)
    assert [(e["index"], e["field"], e["code"]) for e in body["errors"]] == [(3, "user_id", "rate_limited"),
                                                                              (4, "user_id", "rate_limited")]
    assert "3 per minute" in body["errors"][0]["message"]
    assert (stored("ann"), stored("ben")) == (3, 2)
    assert set(Event.objects.filter(user__external_id="ann").values_list("event_id", flat=True)) == {"ann-0", "ann-1", "ann-2"}


def test_a_batch_refused_only_for_the_limit_answers_429(alice, catalogue):
    limit(alice.tenant, per_minute=2)
    alice.client.post(URL, rows("ann", 2), format="json")
    response = alice.client.post(URL, rows("ann", 2, prefix="more-"), format="json")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert [e["code"] for e in error["detail"]["errors"]] == ["rate_limited", "rate_limited"]
    assert stored("ann") == 2


def test_a_retry_of_stored_events_takes_no_quota(alice, catalogue):
    limit(alice.tenant, per_minute=3)
    batch = rows("ann", 3)
    assert alice.client.post(URL, batch, format="json").json()["stored"] == 3
    response = alice.client.post(URL, batch, format="json")  # the client did not see the first answer
    assert response.status_code == 200
    assert response.json() == {"stored": 0, "duplicates": 3, "rejected": 0, "errors": []}


def test_the_hour_limit_holds_across_minutes(alice):
    limits = ratelimit.Limits(per_minute=4, per_hour=6)
    start = 3600 * 1000.0
    assert ratelimit.take(alice.tenant.pk, {"ann": 5}, limits, start) == {"ann": 4}
    assert ratelimit.take(alice.tenant.pk, {"ann": 5}, limits, start + 60) == {"ann": 2}  # a new minute
    assert ratelimit.take(alice.tenant.pk, {"ann": 1, "ben": 9}, limits, start + 120) == {"ann": 0, "ben": 4}
    assert ratelimit.take(alice.tenant.pk, {"ann": 5}, limits, start + 3600) == {"ann": 4}  # a new hour


def test_users_and_tenants_have_their_own_counters(alice, charlie):
    limits = ratelimit.Limits(per_minute=2, per_hour=0)
    now = 1_800_000_000.0
    assert ratelimit.take(alice.tenant.pk, {"ann": 3, "ben": 1}, limits, now) == {"ann": 2, "ben": 1}
    assert ratelimit.take(charlie.tenant.pk, {"ann": 3}, limits, now) == {"ann": 2}


def test_zero_turns_a_limit_off(alice, catalogue):
    limit(alice.tenant, per_minute=0, per_hour=0)
    assert alice.client.post(URL, rows("ann", 80), format="json").json()["stored"] == 80


def test_imports_of_history_are_not_limited(alice, catalogue):
    limit(alice.tenant, per_minute=2)
    assert ingest_events(alice.tenant, rows("ann", 10)).stored == 10


def test_a_changed_limit_applies_to_the_next_batch(alice, catalogue):
    limit(alice.tenant, per_minute=1)
    assert alice.client.post(URL, rows("ann", 2), format="json").json()["stored"] == 1
    limit(alice.tenant, per_minute=5)
    assert alice.client.post(URL, rows("ann", 2, prefix="b-"), format="json").json()["stored"] == 2


def test_quota_taken_by_a_failed_batch_is_given_back(alice, catalogue, monkeypatch):
    from reranking.services import ingest

    limit(alice.tenant, per_minute=3)

    def broken(rows):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ingest, "insert_events", broken)
    with pytest.raises(RuntimeError):
        ingest_events(alice.tenant, rows("ann", 3), rate_limit=True)
    monkeypatch.undo()
    assert ingest_events(alice.tenant, rows("ann", 3), rate_limit=True).stored == 3


def test_a_cache_outage_stores_rather_than_fails(alice, catalogue, monkeypatch):
    limit(alice.tenant, per_minute=1)

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(ratelimit, "_redis_client", down)
    assert ingest_events(alice.tenant, rows("ann", 3), rate_limit=True).stored == 3


@pytest.mark.parametrize(
    ("used", "wanted", "expected"),
    [
        ({}, {"a": 5}, {"a": 3}),  # minute limit binds
        ({"a": (0, 9)}, {"a": 5}, {"a": 1}),  # hour limit binds
        ({"a": (7, 0)}, {"a": 5}, {"a": 0}),  # over the limit already: nothing
    ],
)
def test_grant_counts(used, wanted, expected):
    assert ratelimit.grant_counts(used, wanted, ratelimit.Limits(per_minute=3, per_hour=10)) == expected
