"""Request and response shapes of the serving, rules, privacy and model endpoints."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from reranking.models import ErasureRecord, ModelVersion, PrivacyRelease, PrivacySettings, Rule
from reranking.services import identity, privacy_budget
from reranking.services.serving import DEFAULT_PLACEMENT, MAX_CANDIDATES, MAX_K
from tenants.api.serializers import RefuseUnknownFields

PLACEMENT_RE = r"^[A-Za-z0-9._:-]{1,50}$"
MAX_SESSION = 200  # items of one anonymous session a POST may send


class PlacementField(serializers.RegexField):
    """A placement name; sent empty (`?placement=`) it is refused rather than read as absent."""

    def get_value(self, dictionary):
        return dictionary[self.field_name] if self.field_name in dictionary else empty


def PLACEMENT() -> PlacementField:
    return PlacementField(
        PLACEMENT_RE, required=False, default=DEFAULT_PLACEMENT,
        help_text="Where the list is shown (home, product, cart, email...): selects the rules limited to it "
                  "and is recorded with the served list. Letters, digits, '.', '_', '-', ':'; at most 50.",
    )


class ListOptions(serializers.Serializer):
    """What GET and POST recommendations share: size, page, price and stock filters, placement, arm."""

    k = serializers.IntegerField(min_value=1, max_value=100, default=10)
    page = serializers.IntegerField(min_value=1, max_value=2 * MAX_K, default=1, help_text=f"(page - 1) * k must stay under {2 * MAX_K}.")
    price_min = serializers.FloatField(required=False)
    price_max = serializers.FloatField(required=False)
    in_stock = serializers.BooleanField(required=False, default=False)
    explain = serializers.BooleanField(required=False, default=False)
    epsilon = serializers.FloatField(required=False, help_text="DP budget for this request (admin keys only, when DP is on).")
    placement = PLACEMENT()
    session_id = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                       help_text="Anonymous visitor's session: keeps their A/B arm (empty: none).")

    def validate(self, data: dict) -> dict:
        if data.get("price_min") is not None and data.get("price_max") is not None and data["price_min"] > data["price_max"]:
            raise serializers.ValidationError({"price_min": "Must not exceed price_max."})
        return data


class RecommendationsQuery(ListOptions):
    category = serializers.CharField(required=False, allow_blank=True, help_text="Comma-separated categories to keep.")
    context = serializers.CharField(required=False, allow_blank=True, help_text="Comma-separated item ids the user is looking at.")


class RecommendationsRequest(RefuseUnknownFields, ListOptions):
    """POST recommendations: the GET query as a JSON body, with the session's items as a list."""

    session = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=MAX_SESSION,
        help_text=f"Item ids the visitor viewed, oldest first (at most {MAX_SESSION}): the history an anonymous "
                  "list is scored from, as `?context=` is for GET.",
    )
    category = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=100,
                                     help_text="Categories to keep.")
    attributes = serializers.DictField(child=serializers.CharField(max_length=200), required=False,
                                       help_text="Attribute filters {name: value}, as `attr.<name>=` is for GET.")

    def validate_attributes(self, value: dict) -> dict:
        for name in value:
            if not str(name).strip():
                raise serializers.ValidationError("Name each attribute: {\"<name>\": \"<value>\"}.")
        return value


class ServedItemSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    position = serializers.IntegerField()
    score = serializers.FloatField(allow_null=True)
    title = serializers.CharField(required=False)
    category = serializers.CharField(required=False)
    explain = serializers.DictField(required=False)


class ServedSerializer(serializers.Serializer):
    recommendation_id = serializers.CharField()
    placement = serializers.CharField(help_text="The request's placement ('default' when it named none).")
    strategy = serializers.CharField(help_text="precomputed, precomputed+fresh, content, popular or live")
    model_version = serializers.IntegerField(allow_null=True, source="version")
    fresh = serializers.BooleanField()
    privacy = serializers.DictField()
    items = ServedItemSerializer(many=True)
    unknown = serializers.ListField(child=serializers.CharField())
    experiment = serializers.DictField(required=False, help_text="{id, arm} when an A/B experiment served this list.")
    removed = serializers.ListField(child=serializers.DictField(), required=False)
    not_applied = serializers.ListField(child=serializers.DictField(), required=False)


class RerankRequest(RefuseUnknownFields, serializers.Serializer):
    user_id = serializers.CharField(required=False, max_length=200)
    recent_items = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=200)
    candidates = serializers.ListField(
        child=serializers.CharField(max_length=200), allow_empty=False, max_length=MAX_CANDIDATES,
        help_text=f"Item ids to order, at most {MAX_CANDIDATES}.",
    )
    k = serializers.IntegerField(required=False, min_value=1, max_value=MAX_CANDIDATES)
    explain = serializers.BooleanField(required=False, default=False)
    epsilon = serializers.FloatField(required=False)
    placement = PLACEMENT()

    def validate(self, data: dict) -> dict:
        if data.get("user_id") and data.get("recent_items"):
            raise serializers.ValidationError({"user_id": "Give user_id or recent_items, not both."})
        return data


@extend_schema_field({"type": "object", "description": "The kind's parameters; see reranking/rules.py."})
class RuleParamsField(serializers.JSONField):
    """A JSON object; the rule engine validates its content."""


class RuleSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    params = RuleParamsField(required=False)

    class Meta:
        model = Rule
        fields = ["id", "name", "kind", "params", "priority", "enabled", "starts_at", "ends_at", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, data: dict) -> dict:
        """Refuse a rule that cannot be applied, with the engine's message naming the field."""
        instance = Rule(**{**self._current(), **data})
        try:
            instance.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        data["params"] = instance.params
        return data

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        return {name: getattr(self.instance, name) for name in ("name", "kind", "params", "priority", "enabled", "starts_at", "ends_at")}


class DraftRuleSerializer(RefuseUnknownFields, serializers.Serializer):
    """A rule tried in a preview, not saved: the fields of a saved rule that shape a list."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    kind = serializers.CharField()
    params = RuleParamsField(required=False, default=dict)
    priority = serializers.IntegerField(required=False, default=0, min_value=-(10**6), max_value=10**6)


class RulePreviewRequest(RefuseUnknownFields, serializers.Serializer):
    user_id = serializers.CharField(required=False)
    candidates = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=MAX_CANDIDATES)
    rules = DraftRuleSerializer(many=True, required=False, help_text="Draft rules; default: the saved ones.")
    k = serializers.IntegerField(required=False, min_value=1, max_value=100, default=10)


EDITABLE = (
    "dp_enabled", "epsilon", "max_epsilon", "max_results", "retention_days", "erasure_retrain_hours",
    "pseudonymous_ids", "analytics_dp", "analytics_epsilon", "analytics_max_per_user",
    "dp_training", "dp_training_epsilon", "dp_training_delta", "max_examples_per_user",
    "dp_training_end_to_end", "budget_epsilon", "budget_delta", "budget_window_days",
)


@extend_schema_field({"type": "number", "format": "double", "minimum": 0, "exclusiveMinimum": True, "maximum": 100})
class EpsilonField(serializers.FloatField):
    """Greater than 0, at most 100 (PrivacySettings.clean says so; this tells the schema)."""


class BudgetSerializer(serializers.Serializer):
    """The privacy budget and what the releases in its window spend together (composed with RDP)."""

    budget_epsilon = serializers.FloatField(allow_null=True, help_text="null: no limit (releases are still recorded).")
    budget_delta = serializers.FloatField()
    window_days = serializers.IntegerField(allow_null=True, help_text="null: lifetime budget.")
    spent_epsilon = serializers.FloatField(help_text="All releases in the window, composed at budget_delta.")
    remaining_epsilon = serializers.FloatField(allow_null=True)
    releases = serializers.IntegerField(help_text="Releases in the window.")


class PrivacyReleaseSerializer(serializers.ModelSerializer):
    """One entry of the privacy ledger."""

    version = serializers.IntegerField(source="version.number", read_only=True, allow_null=True, default=None)

    class Meta:
        model = PrivacyRelease
        fields = ["id", "kind", "description", "epsilon", "delta", "components", "created_at", "version"]
        read_only_fields = fields


class PrivacySerializer(RefuseUnknownFields, serializers.ModelSerializer):
    statement = serializers.CharField(read_only=True)
    training_statement = serializers.CharField(read_only=True)
    epsilon = EpsilonField(required=False)
    max_epsilon = EpsilonField(required=False)
    max_results = serializers.IntegerField(required=False, min_value=1, max_value=100)
    retention_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)
    erasure_retrain_hours = serializers.IntegerField(required=False, min_value=1, max_value=720)
    budget_epsilon = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1000)
    budget_window_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)
    budget = serializers.SerializerMethodField()

    class Meta:
        model = PrivacySettings
        fields = [*EDITABLE, "statement", "training_statement", "budget", "updated_at"]
        read_only_fields = ["statement", "training_statement", "budget", "updated_at"]

    @extend_schema_field(BudgetSerializer)
    def get_budget(self, settings: PrivacySettings) -> dict:
        return BudgetSerializer(privacy_budget.summary(settings.tenant)).data

    def validate(self, data: dict) -> dict:
        if self.instance.pseudonymous_ids and data.get("pseudonymous_ids") is False:
            raise serializers.ValidationError({"pseudonymous_ids": identity.LOCKED_MESSAGE})
        probe = PrivacySettings(**{**{f: getattr(self.instance, f) for f in EDITABLE}, **data})
        try:
            probe.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return data


class ModelVersionSerializer(serializers.ModelSerializer):
    outcome = serializers.CharField(read_only=True, help_text="Where the run stands, in plain words (a retrain "
                                    "that was not activated says why).")
    serves = serializers.CharField(source="served_method", read_only=True,
                                   help_text="reranker, or the first-stage source model selection chose.")
    selection_note = serializers.CharField(read_only=True, help_text="What the version serves and why.")

    class Meta:
        model = ModelVersion
        fields = [
            "number", "status", "phase", "progress", "error", "trigger", "created_at", "started_at", "finished_at",
            "device", "n_events", "n_users", "n_items", "metrics", "timings", "rankings_ready", "is_active",
            "activated_at", "activation_note", "contains_erased_data", "dp_epsilon", "dp_delta", "dp_noise_multiplier",
            "outcome", "serves", "selection_note",
        ]
        read_only_fields = fields


class ErasureRecordSerializer(serializers.ModelSerializer):
    """An erasure's audit record: no user id, by design."""

    requested_by = serializers.CharField(source="requested_by_name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True, allow_null=True, default=None,
                                       help_text="The first clean version activated after the erasure.")

    class Meta:
        model = ErasureRecord
        fields = [
            "id", "via", "requested_by", "created_at", "events_deleted", "rankings_deleted", "retrain_requested_at",
            "retrain_attempts", "completed_at", "version",
        ]
        read_only_fields = fields
