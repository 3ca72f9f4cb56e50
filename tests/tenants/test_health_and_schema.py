"""Public endpoints: the health check and the OpenAPI schema render without a key."""
from __future__ import annotations

import re

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_health_reports_database_cache_and_broker_to_the_public(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["cache"] == "ok"
    assert body["status"] == ("ok" if body["broker"] == "ok" else "degraded")
    assert set(body) == {"status", "database", "cache", "broker"}, "no counts across tenants for the public"


def test_staff_see_the_model_counts(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/health").json()["models"] == {"active": 0, "training": 0}


def test_a_probe_with_the_health_token_sees_the_model_counts(client, settings, alice):
    settings.RECS_HEALTH_TOKEN = "probe-token-123"
    client.force_login(alice.owner)  # a tenant's own login is not staff
    assert "models" not in client.get("/health").json()
    assert "models" not in client.get("/health", HTTP_X_HEALTH_TOKEN="wrong").json()
    assert client.get("/health", HTTP_X_HEALTH_TOKEN="probe-token-123").json()["models"]["active"] == 0


def test_liveness_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/health/live").json() == {"status": "ok"}


def test_a_request_id_is_echoed_or_made(client):
    assert client.get("/health/live", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    made = client.get("/health/live", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert made != "bad id with spaces" and len(made) == 32


def test_health_accepts_a_trailing_slash(client):
    assert client.get("/health/").status_code == 200


def test_health_refuses_writes(client):
    assert client.post("/health").status_code == 405


def test_the_schema_renders_every_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert {
        "/api/v1/items/", "/api/v1/items/{external_id}/", "/api/v1/items/bulk/", "/api/v1/items/upload/",
        "/api/v1/events/", "/api/v1/users/", "/api/v1/users/{external_id}/", "/api/v1/users/{external_id}/events/",
        "/api/v1/keys/", "/api/v1/keys/{id}/", "/api/v1/tenant/",
        "/api/v1/webhooks/", "/api/v1/webhooks/{id}/", "/api/v1/webhooks/{id}/ping/", "/api/v1/webhooks/{id}/deliveries/",
    } <= set(schema["paths"])


def test_the_schema_documents_the_api_key(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-Api-Key"} in schemes.values()
    assert {"type": "http", "scheme": "bearer"} in schemes.values()
    assert schema["paths"]["/api/v1/items/"]["get"]["security"]


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_their_scripts_from_our_own_static_files(client, page):
    from django.contrib.staticfiles import finders

    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower() and "@latest" not in html
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html), "nothing loaded from another origin"
    scripts = re.findall(r'src="/static/([^"]+)"', html)
    assert scripts and all(finders.find(path) for path in scripts), scripts


def test_the_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = yaml.safe_load((tmp_path / "schema.yml").read_text())
    assert {"/api/v1/rerank/", "/api/v1/users/{user_id}/recommendations/", "/api/v1/rules/", "/api/v1/privacy/",
            "/api/v1/models/train/"} <= set(schema["paths"])
