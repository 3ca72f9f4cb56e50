"""Redis stopped, the database lost: the API degrades (serves from PostgreSQL, answers 503), never 500s."""
from __future__ import annotations

import shutil

import pytest
from django.db import OperationalError

from bench.faults.servers import PrivateRedis
from reranking.models import Event, Item
from reranking.services import cache as recs_cache

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def private_redis(settings):
    """The cache on a private redis-server that the test may kill (never the shared one)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis().start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url(),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        }
    }
    yield server
    server.stop()


def events(prefix: str, n: int, items: list[str]) -> list[dict]:
    return [
        {"user_id": f"u0000{i % 5 + 1}", "item_id": items[i % len(items)], "event_type": "click",
         "event_id": f"{prefix}-{i}"}
        for i in range(n)
    ]


def test_with_redis_stopped_the_api_serves_from_postgres_and_ingests(shop, user_id, private_redis):
    client = shop.client
    items = list(Item.objects.for_tenant(shop.tenant).values_list("external_id", flat=True)[:40])
    warm = client.get(f"/api/v1/users/{user_id}/recommendations?k=5")
    assert warm.status_code == 200 and warm.json()["strategy"] == "precomputed"
    assert client.post("/api/v1/events", {"events": events("up", 10, items)}, format="json").status_code == 201

    private_redis.stop()
    recs_cache._local.clear()  # the per-process memo would hide the outage for 2 s

    served = client.get(f"/api/v1/users/{user_id}/recommendations?k=5")
    assert served.status_code == 200, served.content
    assert served.json()["items"] == warm.json()["items"] or served.json()["fresh"]
    assert client.get("/api/v1/recommendations?k=5").status_code == 200
    reranked = client.post("/api/v1/rerank", {"user_id": user_id, "candidates": items}, format="json")
    assert reranked.status_code == 200 and reranked.json()["strategy"] == "live"
    stored = client.post("/api/v1/events", {"events": events("down", 20, items)}, format="json")
    assert stored.status_code == 201 and stored.json()["stored"] == 20
    retried = client.post("/api/v1/events", {"events": events("down", 20, items)}, format="json")
    assert retried.status_code == 200 and retried.json()["duplicates"] == 20
    assert client.get("/health").json()["cache"].startswith("error")

    assert Event.objects.for_tenant(shop.tenant).filter(event_id__startswith="down-").count() == 20

    private_redis.start()  # same port: the cache comes back once the skip window has passed
    recs_cache._down_until[0] = 0.0
    assert client.get(f"/api/v1/users/{user_id}/recommendations?k=5").status_code == 200
    assert client.get("/health").json()["cache"] == "ok"


def test_a_lost_database_answers_503_with_retry_after(alice, monkeypatch):
    from reranking.api import views

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "ingest_events", lost)
    response = alice.client.post("/api/v1/events", {"events": [{"user_id": "u", "item_id": "i"}]}, format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "database_unavailable" and "Retry the same request" in error["message"]


def test_a_page_that_loses_the_database_answers_503(alice, client, monkeypatch):
    from reranking import views as ui_views

    def lost(*args, **kwargs):
        raise OperationalError("terminating connection due to administrator command")

    client.force_login(alice.owner)
    monkeypatch.setattr(ui_views.ModelListView, "get", lost)
    response = client.get(f"/t/{alice.tenant.slug}/models/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
