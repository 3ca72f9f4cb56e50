"""A real Celery worker on Redis delivers an event emitted by an API request, retrying a 500 after its backoff."""
from __future__ import annotations

import json

import pytest

from reranking.models import WebhookDelivery
from reranking.services import webhooks
from tests.worker.conftest import wait_for, workers  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_retries_after_the_backoff_and_records_the_success(alice, receiver, workers):  # noqa: F811
    workers("hooks", env={"RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS": "127.0.0.1", "RECS_WEBHOOK_BACKOFF": "1"},
               queues="default")
    hook, secret = webhooks.create_endpoint(alice.tenant, receiver.url, ["experiment.finished"])
    receiver.answers = [500]
    pinged = alice.client.post(f"/api/v1/webhooks/{hook.pk}/ping")
    assert pinged.status_code == 202  # answered before anything was sent

    def delivered() -> bool:
        return WebhookDelivery.objects.get(pk=pinged.json()["id"]).status == "succeeded"

    wait_for(delivered, 60, "the delivery to succeed")
    delivery = WebhookDelivery.objects.get(pk=pinged.json()["id"])
    assert (delivery.attempts, delivery.last_status_code) == (2, 200) and len(receiver.received) == 2
    first, second = (json.loads(r.body) for r in receiver.received)
    assert first == second and first["type"] == "ping"
