"""The webhooks page: register (secret shown once), refuse a bad URL on the form, test, pause, delete; scoping."""
from __future__ import annotations

import re

import pytest

from reranking.models import WebhookDelivery, WebhookEndpoint
from reranking.services import webhooks

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hooks"


@pytest.fixture(autouse=True)
def loopback_allowed(settings, monkeypatch):
    settings.RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    monkeypatch.setattr("reranking.services.queue.enqueue", lambda *args, **kw: None)  # no broker here


def test_create_shows_the_secret_once_and_lists_the_webhook(owner, url, alice):
    response = owner.post(url("ui:webhooks"), {"url": HOOK, "events": ["model.activated", "training.failed"],
                                               "description": "backend"}, follow=True)
    html = response.content.decode()
    secret = re.search(r'<code id="secret">([^<]+)</code>', html).group(1)
    hook = WebhookEndpoint.objects.get(tenant=alice.tenant)
    assert hook.secret == secret and hook.events == ["model.activated", "training.failed"]
    assert response["Cache-Control"] == "no-store"
    again = owner.get(url("ui:webhooks")).content.decode()
    assert secret not in again and hook.masked_secret in again and 'data-webhook="http://127.0.0.1:9/hooks"' in again


def test_a_bad_url_is_refused_on_the_form(owner, url, alice):
    html = owner.post(url("ui:webhooks"), {"url": "http://10.0.0.8/x", "events": ["model.activated"]}).content.decode()
    assert "not a public address" in html and not WebhookEndpoint.objects.exists()
    html = owner.post(url("ui:webhooks"), {"url": "gopher://x", "events": []}).content.decode()
    assert "http:// or https://" in html and "This field is required." in html


def test_send_test_pause_and_delete(owner, url, alice):
    hook, _ = webhooks.create_endpoint(alice.tenant, HOOK, ["model.activated"])
    html = owner.post(url("ui:webhook-ping", hook.pk), follow=True).content.decode()
    assert "Test event queued" in html and 'data-delivery="ping"' in html
    assert WebhookDelivery.objects.get().event == "ping"
    owner.post(url("ui:webhook-toggle", hook.pk))
    hook.refresh_from_db()
    assert not hook.active
    owner.post(url("ui:webhook-delete", hook.pk))
    assert not WebhookEndpoint.objects.exists()


def test_viewers_read_and_others_get_404(viewer, outsider, url, alice):
    hook, _ = webhooks.create_endpoint(alice.tenant, HOOK, ["model.activated"])
    assert viewer.get(url("ui:webhooks")).status_code == 200
    assert viewer.post(url("ui:webhooks"), {"url": HOOK, "events": ["model.activated"]}).status_code == 403
    assert viewer.post(url("ui:webhook-delete", hook.pk)).status_code == 403
    assert outsider.get(url("ui:webhooks")).status_code == 404
    assert outsider.post(url("ui:webhook-delete", hook.pk)).status_code == 404
    assert WebhookEndpoint.objects.count() == 1
