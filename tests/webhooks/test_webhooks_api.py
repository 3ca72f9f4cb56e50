"""/api/v1/webhooks: register (secret shown once), refuse bad input naming the field, isolation, ping, deliveries."""
from __future__ import annotations

import pytest

from reranking.models import WebhookDelivery, WebhookEndpoint
from reranking.services import queue, webhooks
from tenants.models import Scope

pytestmark = pytest.mark.django_db

EVENTS = ["model.activated", "training.failed"]


def register(ctx, url, events=EVENTS, **extra):
    return ctx.client.post("/api/v1/webhooks", {"url": url, "events": events, **extra}, format="json")


def test_creating_a_webhook_returns_its_secret_once(alice, receiver):
    created = register(alice, receiver.url, description="shop backend")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == EVENTS and body["active"] is True and body["url"] == receiver.url
    shown = alice.client.get(f"/api/v1/webhooks/{body['id']}").json()
    assert shown["secret"] != body["secret"] and body["secret"] not in str(alice.client.get("/api/v1/webhooks").json())
    assert shown["secret"].startswith("whsec_") and shown["secret"].endswith(body["secret"][-4:])
    assert WebhookEndpoint.objects.get().secret == body["secret"]


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://example.com/hook", "http:// or https://"),
    ("example.com/hook", "http:// or https://"),
    ("http:///hook", "no host"),
    ("http://10.1.2.3/hook", "not a public address"),
    ("http://169.254.169.254/latest/meta-data", "not a public address"),  # a cloud's metadata service
    ("http://[::1]:8000/hook", "not a public address"),
    ("http://localhost:8000/hook", "not a public address"),  # loopback is allowed only where listed
    ("http://no-such-host.invalid/hook", "does not resolve"),
])
def test_it_refuses_bad_urls_naming_the_field(alice, url, why):
    response = register(alice, url)
    assert response.status_code == 400, response.content
    message = response.json()["error"]["message"]
    assert message.startswith("url") and why in message, message
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("events", "field"), [([], "events"), (["model.exploded"], "events"), ("model.activated", "events")])
def test_it_refuses_bad_events_naming_the_field(alice, receiver, events, field):
    response = register(alice, receiver.url, events)
    assert response.status_code == 400 and response.json()["error"]["message"].startswith(field), response.content


def test_an_allowed_private_host_is_accepted(alice, settings):
    settings.RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["localhost"]
    assert register(alice, "http://localhost:9/hook").status_code == 201


def test_it_can_be_deactivated_changed_and_deleted(alice, receiver):
    hook = register(alice, receiver.url).json()
    url = f"/api/v1/webhooks/{hook['id']}"
    changed = alice.client.patch(url, {"active": False, "events": ["experiment.finished"]}, format="json")
    assert changed.status_code == 200 and changed.json()["active"] is False
    assert changed.json()["events"] == ["experiment.finished"]
    assert alice.client.patch(url, {"url": "http://10.0.0.1/"}, format="json").json()["error"]["message"].startswith("url")
    assert alice.client.delete(url).status_code == 204
    assert alice.client.get(url).status_code == 404


def test_another_tenant_gets_404_and_other_keys_403(alice, charlie, receiver):
    hook = register(alice, receiver.url).json()
    url = f"/api/v1/webhooks/{hook['id']}"
    assert charlie.client.get(url).status_code == 404
    assert charlie.client.patch(url, {"active": False}, format="json").status_code == 404
    assert charlie.client.delete(url).status_code == 404
    assert charlie.client.post(f"{url}/ping").status_code == 404
    assert charlie.client.get(f"{url}/deliveries").status_code == 404
    assert charlie.client.get("/api/v1/webhooks").json()["results"] == []
    for scopes in ([Scope.READ], [Scope.READ, Scope.INGEST]):
        other = alice.client_with(*scopes)
        assert other.get(url).status_code == 403 and other.post("/api/v1/webhooks", {}, format="json").status_code == 403
    assert WebhookEndpoint.objects.get().active and not WebhookDelivery.objects.exists()


def test_ping_queues_a_delivery_after_commit_and_its_outcome_is_listed(alice, receiver, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args, **kw: queued.append((name, *args)))
    hook = register(alice, receiver.url).json()
    url = f"/api/v1/webhooks/{hook['id']}"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pinged = alice.client.post(f"{url}/ping")
    assert pinged.status_code == 202 and pinged.json()["status"] == "pending" and pinged.json()["event"] == "ping"
    assert queued == [] and receiver.received == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert queued == [(webhooks.TASK, pinged.json()["id"])]
    assert webhooks.deliver(pinged.json()["id"]) == "succeeded"
    listed = alice.client.get(f"{url}/deliveries").json()["results"]
    assert [(d["event"], d["status"], d["attempts"], d["last_status_code"]) for d in listed] == [("ping", "succeeded", 1, 200)]
    assert listed[0]["payload"]["data"] == {"webhook": hook["id"], "url": receiver.url}
