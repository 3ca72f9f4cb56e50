"""Webhooks: register a tenant's endpoints, emit events once the transaction commits, deliver them signed.

Emitting writes one delivery row per subscribed endpoint and queues `worker.tasks.deliver_webhook` after
commit, so a request never waits on a receiver and a rolled-back change sends nothing. The task POSTs
the JSON body with `Recs-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed by
the endpoint's secret (Stripe's scheme; docs/webhooks.md shows how a receiver checks it), and retries
any answer but 2xx with exponential backoff. URLs must resolve to public addresses unless their host is
in RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS (checked at registration and again before each try).
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reranking.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from reranking.models.webhooks import PING
from tenants.models import Tenant

from . import queue

log = logging.getLogger(__name__)

TASK = "worker.tasks.deliver_webhook"
SIGNATURE_HEADER = "Recs-Signature"
MAX_ENDPOINTS = 20  # per tenant: each event costs one delivery per endpoint


class WebhookError(ValueError):
    """Refused input, naming the field (the API answers 400 with it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class DeliveryFailed(Exception):
    """A try that did not get a 2xx answer; the task retries it with backoff."""


# --- Registration -----------------------------------------------------------------------------

def check_url(url: str) -> str:
    """Return the URL if it is http(s) and its host resolves to public addresses only (or is allowed).

    Resolves the host name (DNS), so an unknown host is refused at once rather than failing every try.
    """
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookError("url", "must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise WebhookError("url", "has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookError("url", "has an invalid port") from exc
    if host.lower() in {h.lower() for h in settings.RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS}:
        return url
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookError("url", f"the host {host} does not resolve") from exc
    for address in sorted(addresses):
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise WebhookError("url", f"{host} resolves to {address}, which is not a public address (list the "
                                      "host in RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS to allow it)")
    return url


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise WebhookError("events", f"subscribe to at least one of {', '.join(WebhookEvent.values)}")
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        raise WebhookError("events", f"unknown event {unknown[0]!r}; known: {', '.join(WebhookEvent.values)}")
    return sorted(set(events), key=WebhookEvent.values.index)


def create_endpoint(tenant: Tenant, url: str, events: list[str], description: str = "") -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its signing secret (shown to the caller once)."""
    if WebhookEndpoint.objects.for_tenant(tenant).count() >= MAX_ENDPOINTS:
        raise WebhookError("url", f"a tenant may register at most {MAX_ENDPOINTS} webhook endpoints")
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant, url=check_url(url), events=check_events(events), secret=secret, description=description
    )
    return endpoint, secret


def update_endpoint(endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change an endpoint's url, events, description or active flag (each checked as at creation)."""
    if "url" in changes:
        endpoint.url = check_url(changes["url"])
    if "events" in changes:
        endpoint.events = check_events(changes["events"])
    for field in ("description", "active"):
        if field in changes:
            setattr(endpoint, field, changes[field])
    endpoint.save()
    return endpoint


# --- Emitting ---------------------------------------------------------------------------------

def emit(tenant: Tenant, event: str, data: dict, *, endpoints: list[WebhookEndpoint] | None = None) -> list[WebhookDelivery]:
    """Record `event` for each active endpoint subscribed to it and queue the deliveries after commit.

    Never raises: the change that caused the event must not fail because of a webhook. Costs one query
    when the tenant has no endpoint.
    """
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the caller's transaction usable
            if endpoints is None:
                endpoints = [e for e in WebhookEndpoint.objects.for_tenant(tenant).filter(active=True) if e.wants(event)]
            if not endpoints:
                return []
            body = {"id": f"evt_{uuid.uuid4().hex}", "type": event, "created": timezone.now().isoformat(),
                    "tenant": tenant.slug, "data": data}
            deliveries = WebhookDelivery.objects.bulk_create(
                WebhookDelivery(tenant=tenant, endpoint=e, event_id=body["id"], event=event, payload=body)
                for e in endpoints
            )
            ids = [d.pk for d in deliveries]
            transaction.on_commit(lambda: send(ids), robust=True)
            return deliveries
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("could not record webhook event %s for tenant %s", event, tenant.pk)
        return []


def send(delivery_ids: list[int]) -> None:
    """Queue the delivery task for each id; a broker that is down leaves them pending (logged)."""
    for delivery_id in delivery_ids:
        try:
            queue.enqueue(TASK, delivery_id)
        except Exception:  # noqa: BLE001 - never fail the committed change
            log.exception("could not queue webhook delivery %s", delivery_id)


def ping(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a test event to this endpoint (whatever it subscribes to, active or not)."""
    sent = emit(endpoint.tenant, PING, {"webhook": endpoint.pk, "url": endpoint.url}, endpoints=[endpoint])
    if not sent:
        raise WebhookError("webhook", "the test event could not be recorded; try again")
    return sent[0]


def model_activated(version) -> None:
    emit(version.tenant, WebhookEvent.MODEL_ACTIVATED, {
        "version": version.number, "serves": version.served_method, "selection_note": version.selection_note,
        "validation_ndcg": version.validation_ndcg, "activated_at": timezone.now().isoformat(),
    })


def model_not_activated(version, reason: str) -> None:
    emit(version.tenant, WebhookEvent.MODEL_NOT_ACTIVATED, {
        "version": version.number, "reason": reason, "serves": version.served_method,
        "validation_ndcg": version.validation_ndcg,
    })


def training_failed(version, error: str) -> None:
    emit(version.tenant, WebhookEvent.TRAINING_FAILED, {
        "version": version.number, "error": (error.strip().splitlines() or [""])[0][:300],
    })


def erasure_completed(record, version) -> None:
    emit(version.tenant, WebhookEvent.ERASURE_COMPLETED, {
        "erasure": record.pk, "requested_at": record.created_at.isoformat(), "version": version.number,
        "completed_at": timezone.now().isoformat(),
    })


def experiment_finished(experiment) -> None:
    emit(experiment.tenant, WebhookEvent.EXPERIMENT_FINISHED, {
        "experiment": experiment.pk, "name": experiment.name, "winner": experiment.winner, "note": experiment.note,
        "started_at": experiment.started_at.isoformat(),
        "stopped_at": experiment.stopped_at.isoformat() if experiment.stopped_at else None,
        "arms": [arm.name for arm in experiment.arms.all()], "results": f"/api/v1/experiments/{experiment.pk}",
    })


# --- Delivering -------------------------------------------------------------------------------

def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: following it would skip the address check."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def deliver(delivery_id: int, *, final: bool = True) -> str:
    """Make one try; record it; raise DeliveryFailed to be retried unless `final`. Returns the status.

    Idempotent: a delivery already succeeded or failed is left alone (a re-delivered task message).
    """
    delivery = WebhookDelivery.objects.select_related("endpoint", "tenant").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"  # its endpoint was deleted
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    endpoint = delivery.endpoint
    code, error = None, ""
    if not endpoint.active and delivery.event != PING:
        error, final = "the endpoint was deactivated", True
    else:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "recs-webhooks/1", "Recs-Event": delivery.event,
            "Recs-Delivery": delivery.event_id, SIGNATURE_HEADER: f"t={timestamp},v1={sign(endpoint.secret, timestamp, body)}",
        })
        try:
            check_url(endpoint.url)  # again: a name may resolve elsewhere now
            with _opener.open(request, timeout=settings.RECS_WEBHOOK_TIMEOUT) as response:
                code = response.status
        except WebhookError as exc:
            error, final = exc.message, True  # retrying will not make the address public
        except urllib.error.HTTPError as exc:
            code, error = exc.code, f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            error = str(getattr(exc, "reason", exc)) or exc.__class__.__name__
    ok = code is not None and 200 <= code < 300
    status = DeliveryStatus.SUCCEEDED if ok else DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=F("attempts") + 1, last_status_code=code, last_error=error[:300], last_attempt_at=now, status=status,
        delivered_at=now if ok else None,
    )
    if status == DeliveryStatus.PENDING:
        raise DeliveryFailed(f"delivery {delivery.pk} to {endpoint.url}: {error}")
    return status
