"""Closing the loop: impressions (lists served), the tenant's online-metrics settings, and A/B experiments."""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Tenant, TenantOwned


class Impression(TenantOwned):
    """One served list (any endpoint, identified or anonymous), kept for online metrics and attribution.

    Written in batches with the served-list log (services/served_log.py), never per request. The user
    link is cleared when the user is erased: the count stays, the person goes.
    """

    recommendation_id = models.CharField(max_length=64)
    served_at = models.DateTimeField(default=timezone.now)
    endpoint = models.CharField(max_length=16, default="recommendations")
    placement = models.CharField(max_length=64, default="default")
    strategy = models.CharField(max_length=32, blank=True, default="")
    model_version = models.PositiveIntegerField(null=True, blank=True)
    user = models.ForeignKey("reranking.EndUser", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    experiment = models.ForeignKey(
        "reranking.Experiment", null=True, blank=True, on_delete=models.SET_NULL, related_name="impressions"
    )
    arm = models.CharField(max_length=64, blank=True, default="")
    items = models.JSONField(default=list)  # item ids, best first

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "served_at"], name="impression_tenant_time"),
            models.Index(fields=["tenant", "recommendation_id"], name="impression_tenant_rec"),
            models.Index(fields=["tenant", "experiment", "arm"], name="impression_tenant_arm"),
        ]


class OnlineSettings(TenantOwned):
    """How a tenant's events count against the lists served. Created with defaults on first use."""

    # A purchase a day after seeing a list still owes it something; a week later, hardly (Recombee: 24 h).
    attribution_hours = models.PositiveIntegerField(default=24, help_text="An event counts for a list served at most this many hours before it.")
    click_types = models.JSONField(default=list, help_text="Event types that count as a click (default: click, view, add_to_cart).")
    conversion_types = models.JSONField(default=list, help_text="Event types that count as a conversion (default: purchase).")

    DEFAULT_CLICKS = ["click", "view", "add_to_cart"]
    DEFAULT_CONVERSIONS = ["purchase"]

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="onlinesettings_one_per_tenant")]

    @classmethod
    def for_tenant(cls, tenant: Tenant) -> "OnlineSettings":
        settings, _ = cls.objects.get_or_create(tenant=tenant)
        return settings

    @property
    def clicks(self) -> list[str]:
        return list(self.click_types or self.DEFAULT_CLICKS)

    @property
    def conversions(self) -> list[str]:
        return list(self.conversion_types or self.DEFAULT_CONVERSIONS)


class ExperimentStatus(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class Experiment(TenantOwned):
    """An A/B test: users are split between arms by a hash; at most one runs per tenant at a time."""

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.RUNNING)
    # Percent of users who get popular items and are left out of the arms (0: no holdout).
    holdout_percent = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=64, blank=True, default="")
    note = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=Q(status="running"), name="experiment_one_running"),
        ]
        indexes = [models.Index(fields=["tenant", "-started_at"], name="experiment_tenant_started")]
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status == ExperimentStatus.RUNNING


class ArmKind(models.TextChoices):
    VERSION = "version", "Model version"
    RERANKER = "reranker", "Active re-ranker"
    POPULAR = "popular", "Popular items"


class ExperimentArm(TenantOwned):
    """One arm: a model version, the active re-ranker, or popular items, with its share of traffic."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=ArmKind.choices)
    # SET_NULL: a version deleted mid-experiment leaves its arm (and its figures); its users get the active one.
    version = models.ForeignKey(
        "reranking.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version_number = models.PositiveIntegerField(null=True, blank=True)  # kept after the version is deleted
    share = models.PositiveIntegerField(help_text="Percent of the users in the experiment (arms sum to 100).")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="arm_unique_name")]
        indexes = [models.Index(fields=["tenant", "experiment"], name="arm_tenant_experiment")]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name
