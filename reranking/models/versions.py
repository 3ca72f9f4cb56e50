"""Training runs (model versions), their precompute shards, per-user rankings, and item embeddings."""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Tenant, TenantOwned


class TrainingPolicy(TenantOwned):
    """A tenant's knobs for training, activation and precompute. Created with defaults on first use."""

    auto_retrain = models.BooleanField(default=True)
    retrain_min_new_events = models.PositiveIntegerField(default=1000, help_text="Retrain once this many events arrived.")
    retrain_interval_hours = models.PositiveIntegerField(default=24 * 7, help_text="Retrain at least this often.")
    # A new version is activated only if its validation NDCG@10 is at least (1 - margin) x the active one's.
    activation_margin = models.FloatField(default=0.05)
    top_k = models.PositiveIntegerField(default=100)
    exclude_seen = models.BooleanField(default=True)
    # Shilling defences (see services/ratelimit.py and bench/faults/shilling.py). The ingestion limits
    # refused 0.3% of ml-latest-small's ratings had they arrived live (two users' sign-up bursts).
    max_events_per_user_minute = models.PositiveIntegerField(
        default=60, help_text="Ingestion refuses an end user's events beyond this many per minute (0: no limit)."
    )
    max_events_per_user_hour = models.PositiveIntegerField(
        default=600, help_text="Ingestion refuses an end user's events beyond this many per hour (0: no limit)."
    )
    max_examples_per_user = models.PositiveIntegerField(
        default=200, help_text="Training uses at most this many examples (latest positions) per end user (0: no cap)."
    )
    # Many slow fake accounts (each within the limits above) pushing one item: reranking/ml/robust.py.
    new_user_days = models.PositiveIntegerField(
        default=7, help_text="End users whose first event is younger than this many days are new (0: off)."
    )
    new_user_item_floor = models.PositiveIntegerField(
        default=10, help_text="Per item, new end users count as at most this many users, or as many as the "
                              "established users who have it, whichever is more; the rest is left out of training.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="trainingpolicy_one_per_tenant")]
        verbose_name_plural = "training policies"

    @classmethod
    def for_tenant(cls, tenant: Tenant) -> "TrainingPolicy":
        policy, _ = cls.objects.get_or_create(tenant=tenant)
        return policy


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


IN_FLIGHT = (RunStatus.QUEUED, RunStatus.RUNNING)


class ModelVersion(TenantOwned):
    """One training run and, when it succeeds, the model version it produced."""

    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    phase = models.CharField(max_length=100, blank=True, default="queued")
    progress = models.FloatField(default=0.0)  # percent, 0-100
    error = models.TextField(blank=True, default="")
    trigger = models.CharField(max_length=32, default="manual")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a silent running run is reaped as failed
    attempts = models.PositiveIntegerField(default=0)
    device = models.CharField(max_length=32, blank=True, default="")
    # The data snapshot: events with id <= max_event_id at the start of training.
    max_event_id = models.BigIntegerField(default=0)
    n_events = models.PositiveIntegerField(default=0)
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True, default="")  # relative to MEDIA_ROOT
    n_shards = models.PositiveIntegerField(default=0)
    rankings_ready = models.BooleanField(default=False)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activation_note = models.CharField(max_length=300, blank=True, default="")
    # Set when an admin activates a version whose rankings were pruned: activate once re-precomputed.
    activate_when_ready = models.BooleanField(default=False)
    # Set on every version that existed when an end user was erased: it may have been trained on their
    # events, so it can never be activated again (see services/privacy.py).
    contains_erased_data = models.BooleanField(default=False)
    # DP-SGD training (empty when trained without DP): what the accountant spent, per user.
    dp_epsilon = models.FloatField(null=True, blank=True)
    dp_delta = models.FloatField(null=True, blank=True)
    dp_noise_multiplier = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="modelversion_unique_number"),
            models.UniqueConstraint(fields=["tenant"], condition=Q(is_active=True), name="modelversion_one_active"),
            # The database, not a process, guarantees one training per tenant at a time.
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(status__in=["queued", "running"]), name="modelversion_one_in_flight"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-number"], name="modelversion_tenant_number")]
        ordering = ["-number"]

    def __str__(self) -> str:
        state = f"{self.status}, active" if self.is_active else self.status
        return f"{self.tenant.name} v{self.number} ({state})"

    @property
    def served_method(self) -> str:
        """What this version serves: "reranker", or the first-stage source model selection chose."""
        choice = self.metrics.get("selection") if isinstance(self.metrics, dict) else None
        return (choice or {}).get("served") or "reranker"

    @property
    def selection_note(self) -> str:
        """What this version serves and why, in plain words (empty for versions trained before selection)."""
        choice = self.metrics.get("selection") if isinstance(self.metrics, dict) else None
        return (choice or {}).get("reason", "")

    @property
    def validation_ndcg(self) -> float | None:
        """Validation NDCG@10 of what the version serves (the activation gate compares these)."""
        try:
            return float(self.metrics["validation"][self.served_method]["ndcg@10"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def test_ndcg(self) -> float | None:
        for row in self.metrics.get("methods", []) if isinstance(self.metrics, dict) else []:
            if row.get("name") == self.served_method:
                return row.get("ndcg@10")
        return None

    @property
    def outcome(self) -> str:
        """Say in plain words where this run stands, for clients polling GET /api/v1/models."""
        if self.status in IN_FLIGHT:
            return f"{self.status}: {self.phase} ({self.progress:.0f}%)"
        if self.status != RunStatus.SUCCEEDED:
            return f"{self.status}: {self.error.splitlines()[0][:200] if self.error else 'no reason recorded'}"
        if self.is_active:
            return "active: served to everyone"
        if self.activation_note:
            return self.activation_note
        if self.activate_when_ready:
            return "activating: rankings are being recomputed"
        return "not active: succeeded; activate it to serve it" if self.rankings_ready else "not active: no rankings"

    @property
    def is_private(self) -> bool:
        return self.dp_epsilon is not None

    @property
    def is_finished(self) -> bool:
        return self.status not in IN_FLIGHT


class PrecomputeShard(TenantOwned):
    """A slice of a version's users whose rankings one task computes."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    first_user_id = models.BigIntegerField()
    last_user_id = models.BigIntegerField()
    done = models.BooleanField(default=False)
    n_users = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, default="")
    seconds = models.FloatField(default=0.0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "index"], name="shard_unique_index")]
        indexes = [models.Index(fields=["tenant", "version"], name="shard_tenant_version")]


class Ranking(TenantOwned):
    """One user's precomputed top-K for one version: [[item_id, score], ...], best first."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="rankings")
    user = models.ForeignKey("reranking.EndUser", on_delete=models.CASCADE, related_name="rankings")
    # Denormalised so serving is one indexed query with no join.
    user_external_id = models.CharField(max_length=200)
    items = models.JSONField(default=list)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "user"], name="ranking_unique_user")]
        indexes = [models.Index(fields=["tenant", "version", "user_external_id"], name="ranking_lookup")]


class ItemEmbedding(TenantOwned):
    """The cached text embedding of an item; recomputed only when the item's text hash changes."""

    item = models.OneToOneField("reranking.Item", on_delete=models.CASCADE, related_name="embedding")
    text_hash = models.CharField(max_length=64)
    vector = models.BinaryField()  # float32 bytes
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "item"], name="embedding_tenant_item")]
