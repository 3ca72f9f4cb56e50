"""Read serializers; writes go through the validating services in reranking/services."""
from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from reranking.models import EndUser, Event, Item


class ItemSerializer(serializers.ModelSerializer):
    item_id = serializers.CharField(source="external_id")

    class Meta:
        model = Item
        fields = [
            "item_id", "title", "description", "category", "tags", "attributes", "price", "available",
            "is_deleted", "created_at", "updated_at",
        ]


class ItemBatchSerializer(serializers.Serializer):
    """Documents the upsert body for the schema: a JSON array of item objects."""

    item_id = serializers.CharField()
    title = serializers.CharField(required=False, help_text="Required for a new item.")
    description = serializers.CharField(required=False)
    category = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    attributes = serializers.DictField(required=False)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)
    available = serializers.BooleanField(required=False)


class ItemPatchSerializer(serializers.Serializer):
    """Documents PATCH /items/{item_id}: any of the item's fields; `null` resets one to its default."""

    title = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_null=True)
    category = serializers.CharField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    attributes = serializers.DictField(required=False, allow_null=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)
    available = serializers.BooleanField(required=False, allow_null=True)


class UpsertResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class ShowsClientUserId:
    """Show the id the client asked with (context["user_id"]) instead of the stored one, a hash under
    pseudonymous ids; listings not about one user show the stored id."""

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        if self.context.get("user_id"):
            data["user_id"] = self.context["user_id"]
        return data


class EndUserSerializer(ShowsClientUserId, serializers.ModelSerializer):
    user_id = serializers.CharField(source="external_id")

    class Meta:
        model = EndUser
        fields = ["user_id", "created_at"]


class EventSerializer(ShowsClientUserId, serializers.ModelSerializer):
    user_id = serializers.CharField(source="user.external_id")
    item_id = serializers.CharField(source="item.external_id")

    class Meta:
        model = Event
        fields = [
            "user_id", "item_id", "event_type", "value", "timestamp", "session_id", "event_id",
            "recommendation_id", "context",
        ]


class EventInSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    item_id = serializers.CharField()
    event_type = serializers.CharField(required=False, help_text="Defaults to 'view'.")
    value = serializers.FloatField(required=False, allow_null=True)
    timestamp = serializers.CharField(required=False, help_text="ISO 8601 or Unix seconds; defaults to now.")
    session_id = serializers.CharField(required=False)
    event_id = serializers.CharField(required=False, help_text="Client id; a retry with it is stored once.")
    recommendation_id = serializers.CharField(required=False)
    context = serializers.DictField(required=False)


class EventBatchSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, allow_empty=False, max_length=settings.RECS_MAX_BATCH)


class RowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField(required=False, help_text="Present on refusals a later retry may pass: 'rate_limited'.")


class IngestResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)


class ExportedEventSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    event_type = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    timestamp = serializers.DateTimeField()
    session_id = serializers.CharField()
    event_id = serializers.CharField(allow_null=True)
    recommendation_id = serializers.CharField()
    context = serializers.DictField(allow_null=True)


class ServedListSerializer(serializers.Serializer):
    recommendation_id = serializers.CharField()
    served_at = serializers.DateTimeField()
    endpoint = serializers.CharField(help_text="recommendations or rerank")
    strategy = serializers.CharField()
    model_version = serializers.IntegerField(allow_null=True)
    items = serializers.ListField(child=serializers.CharField(), help_text="Item ids served, best first.")
    placement = serializers.CharField(help_text="Where the list was shown ('default' when the request named none).")


class ExportedRankingSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    items = serializers.ListField(child=serializers.CharField())


class ExportProfileSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    first_seen = serializers.DateTimeField()
    stored_as_pseudonym = serializers.BooleanField(help_text="The database holds a keyed hash of the id, not the id.")


class ErasureStatusSerializer(serializers.Serializer):
    erased = serializers.BooleanField()
    note = serializers.CharField()


class UserExportSerializer(serializers.Serializer):
    """Documents GET /users/{user_id}/export (an access request's answer)."""

    user_id = serializers.CharField(help_text="The id asked for, as sent.")
    exported_at = serializers.DateTimeField()
    tenant = serializers.CharField()
    profile = ExportProfileSerializer()
    events = ExportedEventSerializer(many=True)
    recommendations_served = ServedListSerializer(many=True)
    precomputed_rankings = ExportedRankingSerializer(many=True)
    erasure = ErasureStatusSerializer()
    retention_days = serializers.IntegerField(allow_null=True)
