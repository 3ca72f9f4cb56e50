"""The privacy ledger: every differentially private release of a tenant's data, with its ε and δ."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class PrivacyRelease(TenantOwned):
    """One DP release: a training run, a dashboard release. Written only when the tenant's budget allows it.

    `components` holds what the accountant composes (reranking/ml/accounting.py): e.g. one DP-SGD run is
    [{"kind": "subsampled_gaussian", "noise_multiplier": 1.1, "sample_rate": 0.01, "steps": 800}].
    `epsilon` and `delta` are the release's own guarantee, as its mechanism reported it.
    """

    class Kind(models.TextChoices):
        TRAINING = "training", "Training run"
        ANALYTICS = "analytics", "Dashboard release"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.CharField(max_length=200)
    epsilon = models.FloatField()
    delta = models.FloatField(default=0.0)
    components = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # What was released, when the platform shows it again (the dashboard's counts): a reload or another
    # process reads it here instead of releasing, and spending, again.
    payload = models.JSONField(null=True, blank=True)
    version = models.ForeignKey("reranking.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="privacyrelease_tenant_created")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} release of {self.tenant_id}: epsilon {self.epsilon:g}"
