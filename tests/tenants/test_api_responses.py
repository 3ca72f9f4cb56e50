"""API responses: orjson rendering matches DRF's, negotiation still refuses what it cannot render, and
the REST API skips session, auth and messages middleware that web pages keep."""
from __future__ import annotations

import datetime as dt
import decimal
import uuid

import numpy as np
import pytest
from django.test import RequestFactory
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from tenants.api.renderers import FastJSONRenderer
from tenants.middleware import BrowserMessageMiddleware, BrowserSessionMiddleware


def test_it_renders_what_drfs_renderer_renders():
    data = {
        "at": dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=dt.timezone.utc), "day": dt.date(2026, 5, 1),
        "price": decimal.Decimal("19.99"), "id": uuid.UUID(int=7), "label": gettext_lazy("Read"),
        "score": np.float32(0.5), "counts": np.array([1, 2]), 3: "an int key", "text": "naïve ✓", "none": None,
        "nested": [{"a": 1.25, "b": [True, False]}],
    }
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_it_honours_an_indent_request():
    rendered = FastJSONRenderer().render({"a": [1]}, "application/json; indent=4")
    assert rendered == JSONRenderer().render({"a": [1]}, "application/json; indent=4")
    assert b"\n    " in rendered


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["*/*", "application/json", "application/*", "text/html, application/json;q=0.9"])
def test_json_is_served_to_clients_that_accept_it(alice, accept):
    response = alice.client.get("/api/v1/tenant", HTTP_ACCEPT=accept)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["slug"] == "alice-shop"


@pytest.mark.django_db
def test_a_client_that_accepts_only_xml_gets_406(alice):
    assert alice.client.get("/api/v1/tenant", HTTP_ACCEPT="application/xml").status_code == 406


@pytest.mark.django_db
def test_the_format_override_still_applies(alice):
    assert alice.client.get("/api/v1/tenant?format=json").status_code == 200
    assert alice.client.get("/api/v1/tenant?format=xml").status_code == 404


@pytest.mark.parametrize("middleware", [BrowserSessionMiddleware, BrowserMessageMiddleware])
def test_api_requests_skip_browser_middleware_and_pages_keep_it(middleware):
    seen = {}

    def view(request):
        seen[request.path] = (hasattr(request, "session"), hasattr(request, "_messages"))
        from django.http import HttpResponse

        return HttpResponse()

    factory = RequestFactory()
    for path in ("/api/v1/items", "/accounts/login/"):
        request = factory.get(path)
        if middleware is BrowserMessageMiddleware and not path.startswith("/api/"):
            request.session = {}
        middleware(view)(request)
    attribute = 0 if middleware is BrowserSessionMiddleware else 1
    assert seen["/api/v1/items"][attribute] is False
    assert seen["/accounts/login/"][attribute] is True


@pytest.mark.django_db
@pytest.mark.integration
def test_the_redis_cache_reuses_one_client():
    from django.core.cache import caches

    backend = caches["default"]
    assert backend._cache.get_client() is backend._cache.get_client(write=True)
    backend.set("recs:test:reuse", 1, 5)
    assert backend.get("recs:test:reuse") == 1
    backend.delete("recs:test:reuse")
