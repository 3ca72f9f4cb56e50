"""API keys: created with the secret shown once, listed with last use, revoked."""
from __future__ import annotations

import re

import pytest

from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


def test_create_redirects_so_a_reload_creates_no_second_key(owner, url, alice):
    response = owner.post(url("ui:keys"), {"name": "shop backend", "scopes": ["read"]})
    assert response.status_code == 302 and response.url == url("ui:keys")
    owner.get(url("ui:keys"))
    reload = owner.get(url("ui:keys"))  # F5 on the page after the redirect is a GET: nothing is created
    assert reload.status_code == 200
    assert ApiKey.objects.for_tenant(alice.tenant).filter(name="shop backend").count() == 1


def test_create_shows_the_secret_once(owner, url, alice):
    response = owner.post(url("ui:keys"), {"name": "shop backend", "scopes": ["read", "ingest"]}, follow=True)
    html = response.content.decode()
    secret = re.search(r'<code id="secret">([^<]+)</code>', html).group(1)
    key = ApiKey.objects.get(tenant=alice.tenant, name="shop backend")
    assert key.matches(secret) and key.scopes == ["ingest", "read"] and key.created_by == alice.owner
    assert response["Cache-Control"] == "no-store"
    assert 'data-copy="#secret"' in html
    assert secret not in owner.get(url("ui:keys")).content.decode()


def test_the_new_key_works_against_the_api(owner, url):
    html = owner.post(url("ui:keys"), {"name": "k", "scopes": ["read"]}, follow=True).content.decode()
    secret = re.search(r'<code id="secret">([^<]+)</code>', html).group(1)
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/items", HTTP_X_API_KEY=secret).status_code == 200


def test_the_list_shows_masked_keys_and_last_use(owner, url, alice):
    html = owner.get(url("ui:keys")).content.decode()
    key = ApiKey.objects.get(tenant=alice.tenant, name="all")
    assert key.masked in html and "never" in html
    alice.client.get("/api/v1/items")  # the fixture's key, used once
    row = re.search(r'<tr data-key="all">(.*?)</tr>', owner.get(url("ui:keys")).content.decode(), re.S).group(1)
    assert "never" not in row


def test_invalid_form_shows_errors(owner, url, alice):
    html = owner.post(url("ui:keys"), {"name": "", "scopes": ["superuser"]}).content.decode()
    assert "This field is required." in html and "Select a valid choice." in html
    assert ApiKey.objects.for_tenant(alice.tenant).count() == 1


def test_revoke(owner, url, alice):
    key, raw = ApiKey.issue(alice.tenant, "old", ["read"])
    response = owner.post(url("ui:key-revoke", key.pk), follow=True)
    assert "Revoked" in response.content.decode()
    key.refresh_from_db()
    assert not key.is_active
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/items", HTTP_X_API_KEY=raw).status_code == 401


def test_charlies_keys_are_not_listed(owner, url, charlie):
    ApiKey.issue(charlie.tenant, "charlies key", ["read"])
    assert "charlies key" not in owner.get(url("ui:keys")).content.decode()


def test_a_viewer_sees_keys_but_cannot_create_or_revoke(viewer, url):
    html = viewer.get(url("ui:keys")).content.decode()
    assert "Create a key" not in html and ">Revoke<" not in html
