"""Per-tenant and per-key rate limits: past either, 429 with Retry-After; both counted in one round trip."""
from __future__ import annotations

import time

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

from tenants import throttling
from tenants.models import ApiKey
from tenants.throttling import TenantAndKeyThrottle, counter_name, round_trip

pytestmark = pytest.mark.django_db


def key_of(client) -> ApiKey:
    return ApiKey.objects.get(lookup=ApiKey.parse_lookup(client._credentials["HTTP_X_API_KEY"]))


@pytest.fixture
def rates(monkeypatch):
    """Set the rates for one test; counters of the tenants and keys it names start empty."""
    used: list[str] = []

    def set_rates(tenant: str | None = None, key: str | None = None, reset=()) -> None:
        # DRF binds THROTTLE_RATES when the class is defined, so override_settings would not reach it.
        monkeypatch.setattr(TenantAndKeyThrottle, "THROTTLE_RATES", {"tenant": tenant, "key": key})
        # Ids repeat between runs; only these counters: the cache may be a Redis database others use.
        for scope, ident in reset:
            used.append(counter_name(scope, ident))
        cache.delete_many(used)

    yield set_rates
    cache.delete_many(used)


def test_it_answers_429_with_retry_after_past_the_tenant_rate(alice, rates):
    rates(tenant="2/min", reset=[("tenant", alice.tenant.pk)])
    assert alice.client.get("/api/v1/items").status_code == 200
    assert alice.client.get("/api/v1/items").status_code == 200
    response = alice.client.get("/api/v1/items")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"
    assert "throttled" in response.json()["error"]["message"].lower()


def test_writes_count_against_the_same_budget(alice, rates):
    from reranking.models import Item

    rates(tenant="2/min", reset=[("tenant", alice.tenant.pk)])
    alice.client.get("/api/v1/items")
    alice.client.get("/api/v1/items")
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "a", "title": "A"}], format="json")
    assert response.status_code == 429
    assert Item.objects.count() == 0


def test_the_budget_is_per_tenant(alice, charlie, rates):
    rates(tenant="2/min", reset=[("tenant", alice.tenant.pk), ("tenant", charlie.tenant.pk)])
    alice.client.get("/api/v1/items")
    alice.client.get("/api/v1/items")
    assert alice.client.get("/api/v1/items").status_code == 429
    assert charlie.client.get("/api/v1/items").status_code == 200


def test_unauthenticated_requests_are_refused_not_throttled(alice, rates, client):
    rates(tenant="2/min", key="2/min")
    for _ in range(3):
        assert client.get("/api/v1/items").status_code == 401


def test_each_key_also_has_its_own_budget(alice, rates):
    first, second = alice.client_with("read"), alice.client_with("read")
    rates(tenant="100/min", key="2/min", reset=[("tenant", alice.tenant.pk), ("key", key_of(first).pk),
                                                ("key", key_of(second).pk)])
    assert first.get("/api/v1/items").status_code == 200
    assert first.get("/api/v1/items").status_code == 200
    throttled = first.get("/api/v1/items")
    assert throttled.status_code == 429 and 0 < int(throttled["Retry-After"]) <= 60
    assert second.get("/api/v1/items").status_code == 200, "another key of the same tenant is unaffected"


def test_a_refused_request_uses_no_budget(alice, rates):
    """A request one key may not make does not eat into the tenant's budget for its other keys."""
    runaway, other = alice.client_with("read"), alice.client_with("read")
    rates(tenant="3/min", key="1/min", reset=[("tenant", alice.tenant.pk), ("key", key_of(runaway).pk),
                                              ("key", key_of(other).pk)])
    assert runaway.get("/api/v1/items").status_code == 200
    for _ in range(5):
        assert runaway.get("/api/v1/items").status_code == 429
    assert other.get("/api/v1/items").status_code == 200
    assert alice.client_with("read").get("/api/v1/items").status_code == 200  # the tenant's third request
    assert alice.client_with("read").get("/api/v1/items").status_code == 429  # and its fourth is over


def test_a_new_window_starts_after_the_period(alice, rates):
    rates(tenant="2/s", reset=[("tenant", alice.tenant.pk)])
    assert alice.client.get("/api/v1/items").status_code == 200
    assert alice.client.get("/api/v1/items").status_code == 200
    refused = alice.client.get("/api/v1/items")
    assert refused.status_code == 429 and refused["Retry-After"] == "1"
    time.sleep(1.1)
    assert alice.client.get("/api/v1/items").status_code == 200


def test_a_cache_outage_lets_requests_through(alice, rates, monkeypatch):
    rates(tenant="1/min", reset=[("tenant", alice.tenant.pk)])

    def down(budgets):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(throttling._checker, "check", down)
    for _ in range(3):
        assert alice.client.get("/api/v1/items").status_code == 200


@pytest.mark.integration
def test_both_budgets_cost_one_redis_round_trip(alice, rates, monkeypatch):
    """The tenant's and the key's counters are counted in one round trip, not a get and set each."""
    rates(tenant="100/min", key="100/min", reset=[("tenant", alice.tenant.pk), ("key", key_of(alice.client).pk)])
    trips = []
    monkeypatch.setattr(throttling, "round_trip", lambda pool, commands: trips.append(commands) or round_trip(pool, commands))
    assert alice.client.get("/api/v1/tenant").status_code == 200
    assert [[command[0] for command in trip] for trip in trips] == [["INCR", "PEXPIRE", "INCR", "PEXPIRE"]]
    assert cache.get(counter_name("tenant", alice.tenant.pk)) == 1
    assert cache.get(counter_name("key", key_of(alice.client).pk)) == 1


@pytest.mark.integration
def test_a_counter_always_gets_its_window(alice, rates):
    """A counter left without an expiry (it expired between INCR and PEXPIRE) gets one on the next request."""
    from django.core.cache import caches

    rates(tenant="100/min", reset=[("tenant", alice.tenant.pk)])
    name = caches["default"].make_key(counter_name("tenant", alice.tenant.pk))
    client = caches["default"]._cache.get_client(None, write=True)
    client.set(name, 5)  # no expiry
    assert alice.client.get("/api/v1/tenant").status_code == 200
    assert int(client.get(name)) == 6 and 0 < client.pttl(name) <= 60_000


@pytest.mark.integration
def test_a_refused_request_is_uncounted_and_waits_for_the_fuller_window(alice, rates):
    rates(tenant="1/min", key="100/s", reset=[("tenant", alice.tenant.pk), ("key", key_of(alice.client).pk)])
    assert alice.client.get("/api/v1/tenant").status_code == 200
    refused = alice.client.get("/api/v1/tenant")
    assert refused.status_code == 429 and 50 <= int(refused["Retry-After"]) <= 60  # the tenant's minute, not the key's second
    assert cache.get(counter_name("tenant", alice.tenant.pk)) == 1
    assert cache.get(counter_name("key", key_of(alice.client).pk)) == 1


def test_the_fallback_for_other_caches_counts_the_same_way(monkeypatch):
    """Without Redis (local development), get_many/set implement the same windows."""
    local = LocMemCache("throttle-test", {})
    budgets = [("throttle:tenant:1", 3, 60), ("throttle:key:1", 2, 60)]
    check = throttling._Checker.check_generic
    assert check(local, budgets) == (None, {})
    assert check(local, budgets) == (None, {})
    wait, read = check(local, budgets, ["recs:x"])  # the key's third request
    assert wait is not None and 0 < wait <= 60 and read == {}
    local.set("recs:x", 5)
    assert check(local, [("throttle:tenant:1", 3, 60), ("throttle:key:2", 2, 60)], ["recs:x", "recs:y"]) == (
        None, {"recs:x": 5, "recs:y": None})  # the tenant's third request, with the entries asked for
    assert check(local, [("throttle:tenant:1", 3, 60), ("throttle:key:3", 2, 60)])[0] is not None
    assert caches["default"] is not local
