"""Deliveries: signed so a receiver can check them, retried on failure by the Celery task, recorded."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from reranking.models import WebhookDelivery
from reranking.services import webhooks
from worker.tasks import deliver_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(alice, receiver):
    endpoint, secret = webhooks.create_endpoint(alice.tenant, receiver.url, ["model.activated", "experiment.finished"])
    endpoint.plain_secret = secret
    return endpoint


def emitted(alice, event="model.activated", data=None) -> WebhookDelivery:
    deliveries = webhooks.emit(alice.tenant, event, data or {"version": 3})
    assert len(deliveries) == 1
    return deliveries[0]


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md), written out independently of the platform's code."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(expected, parts["v1"])


def test_a_receiver_can_verify_the_signature_with_its_secret(alice, endpoint, receiver):
    delivery = emitted(alice)
    assert deliver_webhook.apply(args=[delivery.pk]).get() == "succeeded"
    got = receiver.received[0]
    assert verify(endpoint.plain_secret, got.headers["Recs-Signature"], got.body)
    assert not verify("whsec_someone-else", got.headers["Recs-Signature"], got.body)
    assert not verify(endpoint.plain_secret, got.headers["Recs-Signature"], got.body.replace(b"3", b"4"))
    body = json.loads(got.body)
    assert body["type"] == "model.activated" and body["data"] == {"version": 3} and body["tenant"] == alice.tenant.slug
    assert got.headers["Recs-Event"] == "model.activated" and got.headers["Recs-Delivery"] == body["id"]


def test_a_failing_receiver_is_retried_until_it_answers(alice, endpoint, receiver):
    receiver.answers = [500, 503]
    delivery = emitted(alice)
    assert deliver_webhook.apply(args=[delivery.pk]).get() == "succeeded"  # eager: retries run at once
    assert len(receiver.received) == 3
    assert len({json.loads(r.body)["id"] for r in receiver.received}) == 1  # the same event each time
    assert all(verify(endpoint.plain_secret, r.headers["Recs-Signature"], r.body) for r in receiver.received)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
    assert delivery.delivered_at is not None and delivery.last_error == ""


def test_retries_back_off_exponentially_and_the_last_failure_is_recorded(alice, endpoint, receiver, settings):
    assert deliver_webhook.autoretry_for == (webhooks.DeliveryFailed,)
    assert deliver_webhook.retry_backoff == settings.RECS_WEBHOOK_BACKOFF and deliver_webhook.retry_backoff_max == 3600
    receiver.answers = [500] * (deliver_webhook.max_retries + 1)
    delivery = emitted(alice)
    assert deliver_webhook.apply(args=[delivery.pk]).get() == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", deliver_webhook.max_retries + 1, 500)
    assert delivery.last_error.startswith("HTTP 500")
    assert webhooks.deliver(delivery.pk) == "failed" and len(receiver.received) == delivery.attempts  # idempotent


def test_an_unreachable_receiver_records_the_error(alice, endpoint, receiver):
    endpoint.url = "http://127.0.0.1:9/nothing-listens"
    endpoint.save()
    delivery = emitted(alice)
    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.deliver(delivery.pk, final=False)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code is None
    assert "refused" in delivery.last_error.lower()


def test_a_url_that_now_resolves_privately_is_not_retried(alice, endpoint, receiver, settings):
    delivery = emitted(alice)
    settings.RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS = []  # as if the name now pointed inside the network
    assert webhooks.deliver(delivery.pk, final=False) == "failed"
    delivery.refresh_from_db()
    assert "not a public address" in delivery.last_error and receiver.received == []


def test_only_active_subscribed_endpoints_get_an_event(alice, charlie, endpoint, receiver):
    webhooks.create_endpoint(charlie.tenant, receiver.url, ["model.activated"])
    paused, _ = webhooks.create_endpoint(alice.tenant, receiver.url, ["model.activated"])
    webhooks.update_endpoint(paused, active=False)
    assert webhooks.emit(alice.tenant, "training.failed", {}) == []  # not subscribed
    assert [d.endpoint_id for d in webhooks.emit(alice.tenant, "model.activated", {})] == [endpoint.pk]


def test_nothing_is_sent_when_the_change_rolls_back(alice, endpoint, monkeypatch, django_capture_on_commit_callbacks):
    from django.db import transaction

    queued = []
    monkeypatch.setattr("reranking.services.queue.enqueue", lambda *args, **kw: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            webhooks.emit(alice.tenant, "model.activated", {})
            raise RuntimeError("the activation failed")
    assert queued == [] and not WebhookDelivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = emitted(alice)
    assert queued == [(webhooks.TASK, delivery.pk)]


def test_a_broken_queue_does_not_fail_the_change(alice, endpoint, monkeypatch, django_capture_on_commit_callbacks):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("reranking.services.queue.enqueue", down)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = emitted(alice)
    delivery.refresh_from_db()
    assert delivery.status == "pending"  # recorded, visible through the API, not lost silently
