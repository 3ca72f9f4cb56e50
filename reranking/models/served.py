"""The log of recommendation lists served to identified end users, for access requests (export)."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned

DEFAULT_PLACEMENT = "default"


class ServedRecommendation(TenantOwned):
    """One list served to one end user. Written in batches from a Redis buffer (services/served_log.py).

    Deleted with the user on erasure (and by cascade), and by the retention task with the events.
    """

    user = models.ForeignKey("reranking.EndUser", on_delete=models.CASCADE, related_name="served")
    recommendation_id = models.CharField(max_length=64)
    served_at = models.DateTimeField(default=timezone.now)
    endpoint = models.CharField(max_length=16, default="recommendations")
    strategy = models.CharField(max_length=32, blank=True, default="")
    model_version = models.PositiveIntegerField(null=True, blank=True)
    items = models.JSONField(default=list)  # item ids, best first
    # Where the list was shown (the request's `placement`): impressions and experiments group by it.
    placement = models.CharField(max_length=50, default=DEFAULT_PLACEMENT)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "user", "served_at"], name="served_tenant_user_time"),
            models.Index(fields=["tenant", "served_at"], name="served_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.recommendation_id} to {self.user_id}"
