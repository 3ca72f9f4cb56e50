"""Exports carry a tenant's or a person's data: every one says Cache-Control: no-store."""
from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_user_export_is_not_stored_by_any_cache(alice, users):
    response = alice.client.get("/api/v1/users/ann/export")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"


def test_the_catalogue_exports_are_not_stored_by_any_cache(alice, catalogue):
    api = alice.client.get("/api/v1/items/export")
    browser = Client()
    browser.force_login(alice.owner)
    page = browser.get(f"/t/{alice.tenant.slug}/items/export.csv")
    for response in (api, page):
        assert response.status_code == 200 and response["Cache-Control"] == "no-store"
        assert b"sku-1" in b"".join(response.streaming_content)
