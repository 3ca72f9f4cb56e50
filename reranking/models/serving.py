"""What shapes served lists: admin-editable re-rank rules and the tenant's privacy settings."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from reranking import rules as engine
from tenants.models import Tenant, TenantOwned


class Rule(TenantOwned):
    """A re-rank rule; `params` follow the schema in reranking/rules.py and are validated on save."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=[(k, k) for k in engine.KINDS])
    params = models.JSONField(default=dict)
    priority = models.IntegerField(default=0, help_text="Higher applies first within its stage.")
    enabled = models.BooleanField(default=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-priority"], name="rule_tenant_priority")]
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        """Refuse a rule that cannot be applied, naming the field (e.g. 'params.when.op')."""
        try:
            self.params = engine.validate_rule(self.kind, self.params)
            engine.validate_schedule(self.starts_at, self.ends_at)
        except engine.RuleError as exc:
            raise ValidationError({"params" if exc.field.startswith("params") else exc.field.split(".")[0]: str(exc)})

    def as_engine_rule(self) -> engine.Rule:
        return engine.Rule(
            id=self.pk, name=self.name, kind=self.kind, params=self.params, priority=self.priority,
            enabled=self.enabled, starts_at=self.starts_at, ends_at=self.ends_at,
        )


class PrivacySettings(TenantOwned):
    """Differential-privacy options for what the tenant's API returns, event retention and erasure deadlines."""

    dp_enabled = models.BooleanField(default=False, help_text="Add Gumbel noise to served rankings.")
    epsilon = models.FloatField(default=4.0, help_text="Privacy budget per served list; smaller is more private.")
    max_epsilon = models.FloatField(default=10.0, help_text="Largest epsilon a request may ask for.")
    max_results = models.PositiveIntegerField(default=20, help_text="Most results one request returns under DP.")
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Delete interactions older than this many days; empty keeps them forever."
    )
    erasure_retrain_hours = models.PositiveIntegerField(
        default=24, help_text="After an erasure, retry the retrain if no clean model is active within this many hours."
    )
    # Pseudonymous end-user ids (services/identity.py): stored as HMAC-SHA256 under a key derived from the
    # server's PSEUDONYM_KEY and this random salt, so a database dump alone cannot reverse small id spaces.
    pseudonymous_ids = models.BooleanField(
        default=False, help_text="Store end-user ids as keyed hashes; cannot be turned off once on."
    )
    pseudonym_salt = models.CharField(max_length=64, blank=True, default="", editable=False)
    # Private analytics (services/analytics.py): the dashboard's counts released with Laplace noise.
    analytics_dp = models.BooleanField(default=False, help_text="Add Laplace noise to the dashboard's counts.")
    analytics_epsilon = models.FloatField(default=1.0, help_text="Privacy budget of each dashboard chart.")
    analytics_max_per_user = models.PositiveIntegerField(
        default=10, help_text="Most events one user contributes to each chart (the noise grows with it)."
    )
    # Differentially private training of the re-ranker network (DP-SGD, reranking/ml/private.py).
    dp_training = models.BooleanField(default=False, help_text="Train the re-ranker network with DP-SGD.")
    dp_training_epsilon = models.FloatField(default=8.0, help_text="Target epsilon per user for one training run.")
    dp_training_delta = models.FloatField(default=0.0, help_text="Target delta; 0 = 1 / (10 x number of users).")
    dp_training_end_to_end = models.BooleanField(
        default=False, help_text="Under DP training, make the first stage's counts private too (one epsilon for the run)."
    )
    max_examples_per_user = models.PositiveIntegerField(
        default=8, help_text="Under DP training: examples (targets and lists) one user contributes at most; at most 50."
    )
    # Privacy budget (services/privacy_budget.py): every DP release is in the ledger (PrivacyRelease); a
    # release that would take the composed epsilon over budget_epsilon is refused.
    budget_epsilon = models.FloatField(
        null=True, blank=True, help_text="Most epsilon all releases together may spend; empty = no limit (still recorded)."
    )
    budget_delta = models.FloatField(default=1e-6, help_text="The delta at which the releases' epsilon is composed.")
    budget_window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Count releases of the last this many days; empty = lifetime."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="privacysettings_one_per_tenant")]
        verbose_name_plural = "privacy settings"

    def clean(self) -> None:
        errors = {}
        if not (0 < self.epsilon <= 100):
            errors["epsilon"] = "Must be greater than 0 and at most 100."
        if not (0 < self.max_epsilon <= 100):
            errors["max_epsilon"] = "Must be greater than 0 and at most 100."
        elif self.epsilon > self.max_epsilon:
            errors["epsilon"] = "Must not exceed max_epsilon."
        if not (1 <= self.max_results <= 100):
            errors["max_results"] = "Must be between 1 and 100."
        if self.retention_days is not None and not (1 <= self.retention_days <= 3650):
            errors["retention_days"] = "Must be between 1 and 3650 days, or empty to keep events forever."
        if not (1 <= self.erasure_retrain_hours <= 720):
            errors["erasure_retrain_hours"] = "Must be between 1 and 720 hours."
        if not (0 < self.analytics_epsilon <= 100):
            errors["analytics_epsilon"] = "Must be greater than 0 and at most 100."
        if not (1 <= self.analytics_max_per_user <= 1000):
            errors["analytics_max_per_user"] = "Must be between 1 and 1000."
        if not (0.1 <= self.dp_training_epsilon <= 100):
            errors["dp_training_epsilon"] = "Must be between 0.1 and 100."
        if not (0 <= self.dp_training_delta < 0.01):
            errors["dp_training_delta"] = "Must be at least 0 (0 = automatic) and below 0.01."
        if self.budget_epsilon is not None and not (0 < self.budget_epsilon <= 1000):
            errors["budget_epsilon"] = "Must be greater than 0 and at most 1000, or empty for no limit."
        if not (0 < self.budget_delta < 0.01):
            errors["budget_delta"] = "Must be greater than 0 and below 0.01."
        if self.budget_window_days is not None and not (1 <= self.budget_window_days <= 3650):
            errors["budget_window_days"] = "Must be between 1 and 3650 days, or empty for a lifetime budget."
        if not (1 <= self.max_examples_per_user <= 50):
            errors["max_examples_per_user"] = "Must be between 1 and 50 (the history window)."
        if errors:
            raise ValidationError(errors)

    @classmethod
    def for_tenant(cls, tenant: Tenant) -> "PrivacySettings":
        settings, _ = cls.objects.get_or_create(tenant=tenant)
        return settings

    @property
    def statement(self) -> str:
        if not self.dp_enabled:
            return (
                "Differential privacy is off: rankings are the model's exact output. They are computed from "
                "all of this tenant's users' interactions, so in principle a ranking can reflect another "
                "user's activity."
            )
        return (
            f"Rankings are released with the exponential mechanism (Gumbel noise on min-max normalised "
            f"scores, Durfee & Rogers 2019) at epsilon = {self.epsilon:g} per list (at most "
            f"{self.max_results} results). The noise is sticky: asking again gets the same list, so repeating "
            "a request reveals nothing new; a list changes (a new release of epsilon) only when the model's "
            "scores for that user change, after a retrain or the user's new activity. Only admin keys may "
            "choose another epsilon per request. Training data itself is protected only when the model is "
            "trained with DP-SGD."
        )

    @property
    def training_statement(self) -> str:
        if not self.dp_training:
            return ("DP training is off: the re-ranker network is trained without noise on each user's last "
                    "interactions.")
        if self.dp_training_end_to_end:
            return (
                f"Training is differentially private end to end at epsilon = {self.dp_training_epsilon:g} per user "
                f"for each whole training run (delta {self.dp_training_delta:g}, 0 = 1/(10 x users)): the "
                "popularity and the transition counts between groups of similar items are computed from each "
                "user's latest events with Gaussian noise, then the network is trained with DP-SGD; both parts are "
                "composed into that one "
                "epsilon. Item texts are catalogue data and are used as they are. Every run is recorded in the "
                "privacy ledger."
            )
        return (
            f"The re-ranker network is trained with DP-SGD at epsilon = {self.dp_training_epsilon:g} per user "
            f"(delta {self.dp_training_delta:g}, 0 = 1/(10 x users)) for each training run: each user's at most "
            f"{self.max_examples_per_user} examples form one clipped, noised sample. The first-stage candidate "
            "models (popularity, co-occurrence, ALS) are not private; see the README."
        )
