"""GET recommendations' plain path (reranking/api/hot_path.py) answers as the DRF view does, and hands it the rest."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from reranking.api import hot_path
from reranking.api.serving_views import RecommendationsView
from tenants.throttling import TenantAndKeyThrottle, counter_name

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

IGNORED_HEADERS = {"X-Request-ID"}  # one per request


@pytest.fixture
def drf_calls(monkeypatch) -> list[str]:
    """Record each request the DRF view's handler answered (the plain path never calls it)."""
    calls: list[str] = []
    original = RecommendationsView.get

    def spy(self, request, user_id=None):
        calls.append(request._request.get_full_path())
        return original(self, request, user_id)

    monkeypatch.setattr(RecommendationsView, "get", spy)
    return calls


@pytest.fixture
def tenant_rate(monkeypatch, shop):
    """Set the tenant's rate for one test, with its counter starting empty; return a reader of the counter."""
    name = counter_name("tenant", shop.tenant.pk)

    def set_rate(rate: str):
        monkeypatch.setattr(TenantAndKeyThrottle, "THROTTLE_RATES", {"tenant": rate, "key": None})
        cache.delete(name)
        # Redis keeps a plain count; the embedded cache (count, window end) (tenants/throttling.py)
        return lambda: (lambda value: value[0] if isinstance(value, tuple) else value or 0)(cache.get(name))

    yield set_rate
    cache.delete(name)


def comparable(response) -> tuple:
    body = dict(response.json())  # a copy: the test client caches what json() returned
    body.pop("recommendation_id")
    headers = {k: v for k, v in response.headers.items() if k not in IGNORED_HEADERS}
    return response.status_code, body, headers


@pytest.mark.parametrize("query", ["k=5", "k=3&page=2", "k=4&explain=1", "k=5&category=Books", "k=2&context=BOO-000-0"])
def test_the_plain_path_answers_exactly_as_the_drf_view(shop, user_id, drf_calls, query):
    path = f"/api/v1/users/{user_id}/recommendations?{query}"
    by_drf = shop.client.get(path)  # a query string not yet validated in this process goes to DRF
    assert drf_calls == [path]
    plain = shop.client.get(path)
    assert drf_calls == [path], "the second request was answered by the plain path"
    assert by_drf.status_code == 200 and comparable(plain) == comparable(by_drf)
    assert plain.json()["recommendation_id"] != by_drf.json()["recommendation_id"]


def test_anonymous_requests_take_the_plain_path_too(shop, drf_calls):
    shop.client.get("/api/v1/recommendations?k=3")
    response = shop.client.get("/api/v1/recommendations?k=3")
    assert len(drf_calls) == 1 and response.status_code == 200 and response.json()["strategy"] == "popular"


def test_a_throttled_request_is_counted_once_and_answered_by_drf(shop, user_id, drf_calls, tenant_rate):
    counted = tenant_rate("2/min")
    path = f"/api/v1/users/{user_id}/recommendations?k=5"
    assert shop.client.get(path).status_code == 200  # DRF (fills the query memo): 1
    assert shop.client.get(path).status_code == 200  # plain: 2
    assert counted() == 2
    refused = shop.client.get(path)
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "throttled"
    assert counted() == 2, "refused, so uncounted, and DRF did not count it a second time"
    assert len(drf_calls) == 1, "DRF refused it before its handler ran"


def test_a_request_serving_refuses_gets_the_drf_answer_and_is_counted_once(shop, user_id, tenant_rate):
    counted = tenant_rate("100/min")
    shop.client.get("/api/v1/users/nobody/recommendations?k=5")  # fills the memo (DRF): 1
    response = shop.client.get("/api/v1/users/nobody/recommendations?k=5")  # plain, then DRF: 2
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "No end user 'nobody' in this tenant."}
    assert counted() == 2


def test_a_bad_query_is_refused_every_time(shop, user_id, drf_calls):
    for _ in range(2):
        response = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=0")
        assert response.status_code == 400 and response.json()["error"]["message"].startswith("k")
    assert "k=0" not in hot_path._query_memo


def test_keys_that_may_not_read_get_drf_refusals(shop, user_id):
    path = f"/api/v1/users/{user_id}/recommendations?k=5"
    shop.client.get(path)  # the query is memoised: only the key decides
    assert shop.client_with("ingest").get(path).status_code == 403
    revoked = shop.client_with("read")
    from tenants.models import ApiKey

    ApiKey.objects.filter(tenant=shop.tenant, name="key read").update(revoked_at="2026-01-01T00:00:00Z")
    from tenants.authentication import forget_keys

    forget_keys()
    assert revoked.get(path).status_code == 401
    wrong = shop.client_with("read")
    wrong.credentials(HTTP_X_API_KEY=wrong._credentials["HTTP_X_API_KEY"][:-2] + "xx")
    assert wrong.get(path).status_code == 401
    from rest_framework.test import APIClient

    assert APIClient().get(path).status_code == 401


def test_other_accept_headers_and_format_go_to_drf(shop, user_id, drf_calls):
    path = f"/api/v1/users/{user_id}/recommendations?k=5"
    shop.client.get(path)
    assert shop.client.get(path, HTTP_ACCEPT="text/html").status_code == 406
    assert len(drf_calls) == 1, "refused by DRF's negotiation before its handler"


@pytest.mark.integration  # the buffer is Redis's; without it entries are written at once (test_served_log_without_redis.py)
def test_the_served_list_is_logged_by_the_plain_path(shop, user_id):
    from reranking.services import served_log

    path = f"/api/v1/users/{user_id}/recommendations?k=5"
    shop.client.get(path)
    served_log._pending.clear()
    body = shop.client.get(path).json()
    assert [(row[1], row[2].recommendation_id) for row in served_log._pending] == [(user_id, body["recommendation_id"])]


def test_another_tenants_key_gets_404_for_this_tenants_user_on_the_plain_path_too(shop, user_id, charlie, drf_calls):
    path = f"/api/v1/users/{user_id}/recommendations?k=5"
    assert shop.client.get(path).status_code == 200  # the query is memoised: later requests take the plain path
    for _ in range(2):
        response = charlie.client.get(path)
        assert response.status_code == 404 and user_id in response.json()["error"]["message"]
