"""API keys are memoised per process; revocation takes effect at once here, within seconds elsewhere."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants import authentication
from tenants.authentication import KEY_MEMO_SECONDS
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


def key_lookups(context) -> int:
    return sum(1 for q in context.captured_queries if 'FROM "tenants_apikey"' in q["sql"])


@pytest.fixture
def clock(monkeypatch):
    """A monotonic clock the test moves forward."""
    now = [1000.0]
    monkeypatch.setattr(authentication.time, "monotonic", lambda: now[0])
    return now


def test_a_busy_key_is_looked_up_once_per_memo_window(alice, clock):
    with CaptureQueriesContext(connection) as context:
        for _ in range(5):
            assert alice.client.get("/api/v1/tenant").status_code == 200
    assert key_lookups(context) == 1
    clock[0] += KEY_MEMO_SECONDS + 0.1
    with CaptureQueriesContext(connection) as context:
        assert alice.client.get("/api/v1/tenant").status_code == 200
    assert key_lookups(context) == 1


def test_revoking_a_key_refuses_it_at_once_in_this_process(alice, clock):
    assert alice.client.get("/api/v1/tenant").status_code == 200  # now memoised
    ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key)).revoke()
    response = alice.client.get("/api/v1/tenant")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_a_key_revoked_by_another_process_is_refused_within_the_memo_window(alice, clock):
    assert alice.client.get("/api/v1/tenant").status_code == 200  # now memoised
    # Another process revokes it: this process gets no signal (update() sends none either).
    ApiKey.objects.filter(lookup=ApiKey.parse_lookup(alice.raw_key)).update(revoked_at="2026-01-01T00:00:00Z")
    clock[0] += KEY_MEMO_SECONDS + 0.1
    assert alice.client.get("/api/v1/tenant").status_code == 401


def test_a_deleted_key_is_refused_at_once(alice, clock):
    assert alice.client.get("/api/v1/tenant").status_code == 200
    ApiKey.objects.get(lookup=ApiKey.parse_lookup(alice.raw_key)).delete()
    assert alice.client.get("/api/v1/tenant").status_code == 401


def test_the_memo_checks_the_secret_on_every_request(alice, clock):
    assert alice.client.get("/api/v1/tenant").status_code == 200
    wrong = alice.raw_key[:-4] + ("AAAA" if not alice.raw_key.endswith("AAAA") else "BBBB")
    alice.client.credentials(HTTP_X_API_KEY=wrong)
    assert alice.client.get("/api/v1/tenant").status_code == 401


def test_a_renamed_tenant_is_served_fresh(alice, clock):
    assert alice.client.get("/api/v1/tenant").json()["name"] != "Renamed"
    alice.tenant.name = "Renamed"
    alice.tenant.save()
    assert alice.client.get("/api/v1/tenant").json()["name"] == "Renamed"


def test_revoking_from_the_admin_clears_the_memo(alice, clock, rf):
    from django.contrib import admin as django_admin
    from django.contrib.messages.storage.fallback import FallbackStorage

    from tenants.admin import ApiKeyAdmin

    assert alice.client.get("/api/v1/tenant").status_code == 200
    request = rf.post("/")
    request.session, request._messages = {}, None
    request._messages = FallbackStorage(request)
    ApiKeyAdmin(ApiKey, django_admin.site).revoke(request, ApiKey.objects.filter(tenant=alice.tenant))
    assert alice.client.get("/api/v1/tenant").status_code == 401
