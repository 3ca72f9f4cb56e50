"""Shared fixtures: alice's tenant (alice owner, bob member) and charlie's tenant, with API clients.

Integration tests (marked `integration`) need real PostgreSQL / Redis; they skip without them, except
under RECS_REQUIRE_SERVICES=1 (CI), where a missing service fails the run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.conf import settings
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("RECS_REQUIRE_SERVICES") == "1"


def using_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def using_redis() -> bool:
    return bool(settings.REDIS_URL)


def pytest_collection_modifyitems(config, items) -> None:
    missing = []
    if not using_postgres():
        missing.append("PostgreSQL (set DATABASE_URL)")
    if not using_redis():
        missing.append("Redis (set REDIS_URL)")
    if not missing:
        return
    if REQUIRE_SERVICES:
        raise pytest.UsageError(f"RECS_REQUIRE_SERVICES=1 but these are not configured: {', '.join(missing)}")
    skip = pytest.mark.skip(reason=f"needs {', '.join(missing)}")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_process_memos():
    """Per-process serving memos must not carry one test's rows into the next (ids are reused)."""
    from reranking.api import hot_path
    from reranking.services import cache, serving
    from tenants.authentication import forget_keys

    cache._local.clear()
    cache.forget_items()
    cache._down_until[0] = 0.0
    forget_rate_counters()
    forget_keys()
    hot_path._query_memo.clear()
    serving._newer_memo.clear()
    yield


def forget_rate_counters() -> None:
    """Drop per-end-user event counters: tenant ids repeat across runs, the counters' windows outlive a run."""
    from django.core.cache import cache

    from reranking.services.ratelimit import _redis_client

    client = _redis_client()
    if client is None:
        cache.clear()  # the embedded cache of this run only (config/settings/test.py)
        return
    keys = list(client.scan_iter("recs:rate:*", count=1000))
    if keys:
        client.delete(*keys)


@dataclass
class TenantCtx:
    tenant: object
    owner: object
    client: APIClient  # key with every scope
    raw_key: str

    def client_with(self, *scopes: str) -> APIClient:
        from tenants.models import ApiKey

        _, raw = ApiKey.issue(self.tenant, f"key {'+'.join(scopes)}", list(scopes))
        return api_client(raw)


def api_client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client


def make_tenant(slug: str, owner: str) -> TenantCtx:
    from tenants.models import ApiKey, Scope
    from tenants.services import ensure_tenant

    tenant = ensure_tenant(slug, slug.title(), owner, "pw-" + owner)
    _, raw = ApiKey.issue(tenant, "all", [Scope.READ, Scope.INGEST, Scope.ADMIN])
    return TenantCtx(tenant=tenant, owner=tenant.memberships.get().user, client=api_client(raw), raw_key=raw)


@pytest.fixture
def alice(db) -> TenantCtx:
    """Alice's shop; alice owns it and bob is a viewer member."""
    from django.contrib.auth import get_user_model

    from tenants.models import Membership, Role

    ctx = make_tenant("alice-shop", "alice")
    bob = get_user_model().objects.create_user("bob", password="pw-bob")
    Membership.objects.create(tenant=ctx.tenant, user=bob, role=Role.VIEWER)
    return ctx


@pytest.fixture
def charlie(db) -> TenantCtx:
    """Another tenant entirely."""
    return make_tenant("charlie-media", "charlie")


@pytest.fixture
def catalogue(alice) -> list[str]:
    """A few items in alice's catalogue; returns their external ids."""
    from reranking.services.catalogue import upsert_items

    rows = [
        {"item_id": f"sku-{n}", "title": f"Item {n}", "category": "books" if n % 2 else "games", "price": n}
        for n in range(1, 7)
    ]
    upsert_items(alice.tenant, rows)
    return [row["item_id"] for row in rows]


@pytest.fixture
def sent_tasks(monkeypatch) -> list:
    """Capture what `current_app.send_task` would send, as (name, kwargs), on a cleared shared cache."""
    from celery import current_app
    from django.core.cache import cache

    calls = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: calls.append((name, kw)))
    cache.clear()
    return calls
