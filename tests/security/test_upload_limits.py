"""Oversize bodies get 413 with a message, before anything reads them, and nothing is written.

Every REST operation that takes a body (read from the OpenAPI schema, so a new one is covered), the REST
CSV upload and the web UI's CSV upload. The limit is DATA_UPLOAD_MAX_MEMORY_SIZE, shrunk here to 2,000.
"""
from __future__ import annotations

import re

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.security.test_isolation_audit import alices_rows

pytestmark = pytest.mark.django_db

LIMIT = 2_000


@pytest.fixture
def small_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT


def operations_with_a_body(client) -> list[tuple[str, str, str]]:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                found.append((method, path, next(iter(operation["requestBody"]["content"]))))
    return found


def test_every_rest_body_over_the_limit_gets_413(alice, catalogue, small_limit, client):
    operations = operations_with_a_body(client)
    assert len(operations) >= 10, operations
    big_json = [{"item_id": f"sku-{n}", "title": "x" * 50} for n in range(60)]  # ~5 KB
    before = alices_rows(alice.tenant)
    for method, path, media_type in operations:
        url = re.sub(r"\{[^}]+\}", "1", path)
        if media_type == "multipart/form-data":
            data = {"file": SimpleUploadedFile("items.csv", b"item_id,title\n" + b"a,b\n" * 2_000)}
            response = getattr(alice.client, method)(url, data, format="multipart")
        else:
            response = getattr(alice.client, method)(url, big_json, format="json")
        assert response.status_code == 413, (method, path, response.status_code)
        body = response.json()["error"]
        assert body["code"] == "payload_too_large"
        assert re.fullmatch(rf"The request body is \d+ bytes; the limit is {LIMIT}\.", body["message"]), body
    assert alices_rows(alice.tenant) == before, "an oversize request wrote something"


def test_the_ui_upload_over_the_limit_gets_413_before_the_file_is_read(alice, small_limit):
    owner = Client()
    owner.force_login(alice.owner)
    before = alices_rows(alice.tenant)
    response = owner.post(f"/t/{alice.tenant.slug}/upload/",
                          {"file": SimpleUploadedFile("items.csv", b"item_id,title\n" + b"a,b\n" * 2_000)})
    assert response.status_code == 413
    assert re.fullmatch(rf"The request body is \d+ bytes; the limit is {LIMIT}\.", response.content.decode())
    assert alices_rows(alice.tenant) == before
    assert "ui:catalogue-upload" not in owner.session  # no preview was kept to confirm


def test_a_body_under_the_limit_still_goes_through(alice, small_limit):
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "small", "title": "Fits"}], format="json")
    assert response.status_code == 200
