"""End users (created on their first event) and the interactions they log."""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import TenantOwned


class EndUser(TenantOwned):
    external_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "external_id"], name="enduser_unique_external_id")]

    def __str__(self) -> str:
        return self.external_id


class Event(TenantOwned):
    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="events")
    item = models.ForeignKey("reranking.Item", on_delete=models.CASCADE, related_name="events")
    event_type = models.CharField(max_length=50)
    value = models.FloatField(null=True, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)
    session_id = models.CharField(max_length=200, blank=True, default="")
    # The client's own id: a retried batch with the same event_ids stores nothing twice.
    event_id = models.CharField(max_length=200, null=True, blank=True)
    recommendation_id = models.CharField(max_length=64, blank=True, default="")
    context = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "event_id"], condition=Q(event_id__isnull=False), name="event_unique_client_id"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "user", "timestamp"], name="event_tenant_user_time"),
            models.Index(fields=["tenant", "timestamp"], name="event_tenant_time"),
            models.Index(fields=["tenant", "item"], name="event_tenant_item"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.event_type} {self.item_id}"
