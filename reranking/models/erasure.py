"""Audit records of erased end users (right to be forgotten). They hold no personal data."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class ErasureRecord(TenantOwned):
    """One erasure: who asked, how, when, how much was deleted, and when no active model used the data.

    Deliberately no user id and no hash of it: a hash of a known id is still personal data, and the
    record must outlive the person's data. `completed_at` is set when a version trained after the
    erasure becomes active (see services/privacy.py).
    """

    class Via(models.TextChoices):
        API = "api", "API"
        UI = "ui", "Web UI"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key_name = models.CharField(max_length=100, blank=True, default="")
    via = models.CharField(max_length=8, choices=Via.choices)
    created_at = models.DateTimeField(default=timezone.now)
    events_deleted = models.PositiveIntegerField(default=0)
    rankings_deleted = models.PositiveIntegerField(default=0)
    # The last time a retrain was asked for; the deadline task asks again once the tenant's deadline passes.
    retrain_requested_at = models.DateTimeField(null=True, blank=True)
    retrain_attempts = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    version = models.ForeignKey("reranking.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="erasure_tenant_created")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"erasure {self.pk} of {self.tenant_id} ({'done' if self.completed_at else 'pending'})"

    @property
    def requested_by_name(self) -> str:
        if self.requested_by_id:
            return self.requested_by.get_username()
        return f"API key {self.api_key_name!r}" if self.api_key_name else "unknown"
