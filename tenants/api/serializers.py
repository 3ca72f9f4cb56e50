from __future__ import annotations

import re
from collections.abc import Mapping

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenants.models import ApiKey, Scope, Tenant

EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


class RefuseUnknownFields:
    """Refuse body fields the serializer cannot write, instead of silently dropping them."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = sorted(name for name, field in self.fields.items() if not field.read_only)
            unknown = sorted(set(data) - set(writable))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: f"Unknown or read-only field; writable: {', '.join(writable)}."}
                )
        return super().to_internal_value(data)


@extend_schema_field({"type": "array", "minItems": 1, "items": {"type": "string", "pattern": EVENT_TYPE_RE.pattern}})
class EventTypesField(serializers.JSONField):
    """A list of event type names; validate_event_types checks it (this tells the schema)."""


class TenantSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    event_types = EventTypesField(required=False)

    class Meta:
        model = Tenant
        fields = ["name", "slug", "created_at", "event_types"]
        read_only_fields = ["slug", "created_at"]

    def validate_event_types(self, value: list) -> list:
        if not isinstance(value, list) or not value:
            raise serializers.ValidationError("Give a non-empty list of event type names.")
        for name in value:
            if not isinstance(name, str) or not EVENT_TYPE_RE.match(name):
                raise serializers.ValidationError(
                    f"{name!r} is not a valid event type: lowercase letters, digits and _, starting with a letter."
                )
        return sorted(set(value), key=value.index)


class ApiKeySerializer(RefuseUnknownFields, serializers.ModelSerializer):
    key = serializers.CharField(source="masked", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "key", "scopes", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "key", "created_at", "last_used_at", "revoked_at"]


class IssuedKeySerializer(ApiKeySerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once; only a hash is stored.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "secret"]
