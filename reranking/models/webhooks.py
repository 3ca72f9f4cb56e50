"""Webhooks: the URLs a tenant registers for its events, and each delivery's fate (services/webhooks.py)."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class WebhookEvent(models.TextChoices):
    MODEL_ACTIVATED = "model.activated", "A model version became the one served"
    MODEL_NOT_ACTIVATED = "model.not_activated", "A retrain finished but was not activated (with the reason)"
    TRAINING_FAILED = "training.failed", "A training run failed"
    ERASURE_COMPLETED = "erasure.completed", "An erasure is complete: no active model uses the erased data"
    EXPERIMENT_FINISHED = "experiment.finished", "An A/B experiment was stopped or its winner promoted"


PING = "ping"  # sent by the test action only; not something an endpoint subscribes to


class WebhookEndpoint(TenantOwned):
    """A URL that receives the tenant's events it subscribes to, signed with its own secret.

    The secret is stored as is (signing needs it; a hash would not do) and shown once, at creation;
    the API and the UI show only its masked form afterwards.
    """

    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)  # WebhookEvent values
    secret = models.CharField(max_length=80)
    description = models.CharField(max_length=200, blank=True, default="")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tenant", "active"], name="webhook_tenant_active")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    @property
    def masked_secret(self) -> str:
        return f"{self.secret[:6]}…{self.secret[-4:]}"

    def wants(self, event: str) -> bool:
        return self.active and event in self.events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # queued, or failed and waiting for its next try
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # every try failed


class WebhookDelivery(TenantOwned):
    """One event sent (or being sent) to one endpoint: the exact body, tries, and the last answer."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40)  # the body's "id": receivers de-duplicate retries by it
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "endpoint", "-created_at"], name="delivery_tenant_endpoint")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id} ({self.status})"
