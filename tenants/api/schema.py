"""The OpenAPI schema: API-key authentication (imported by TenantsConfig.ready) and the documented errors."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = ["apiKeyHeader", "apiKeyBearer"]

    def get_security_definition(self, auto_schema) -> list[dict]:
        return [
            {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            {"type": "http", "scheme": "bearer"},
        ]

    def get_security_requirement(self, auto_schema) -> list[dict]:
        # Either header will do (OR), not both (AND).
        return [{name: []} for name in self.name]


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, not_authenticated, ...")
    message = serializers.CharField(help_text="The first problem, naming the field: 'field: message'.")
    detail = serializers.JSONField(required=False, help_text="Every problem, by field or row, when there are several.")


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx answer (tenants/api/errors.py)."""

    error = ErrorDetailSerializer()


def with_list_bounds(field, schema):
    """Say what `allow_empty=False` and a list serializer's `max_length` refuse; drf-spectacular does not."""
    if isinstance(schema, dict) and schema.get("type") == "array":
        if getattr(field, "allow_empty", True) is False:
            schema.setdefault("minItems", 1)
        if getattr(field, "max_length", None):
            schema.setdefault("maxItems", field.max_length)
    return schema


class TenantAutoSchema(AutoSchema):
    """Document the error answers every operation can give, in the one error format.

    drf-spectacular lists only the success codes; a client (and the schema fuzzer) must also know that
    a bad key gets 401, a missing scope 403, throttling 429, bad input 400, an oversize body 413, and a
    missing object or page 404.
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, reason in self.error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=reason), code, direction=direction
                )
        return responses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        return with_list_bounds(field, super()._map_serializer_field(field, direction, bypass_extensions))

    def _unwrap_list_serializer(self, serializer, direction):
        return with_list_bounds(serializer, super()._unwrap_list_serializer(serializer, direction))

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        from .serializers import RefuseUnknownFields

        if direction == "request" and isinstance(serializer, RefuseUnknownFields):
            schema["additionalProperties"] = False  # unknown fields get 400, so say so
        return schema

    def error_codes(self) -> list[tuple[str, str]]:
        has_body = self.method in ("POST", "PUT", "PATCH")
        query = [p for p in self._get_parameters() if p.get("in") == "query"]
        paged = any(p["name"] in ("page", "cursor") for p in query)
        codes = []
        if has_body or query:
            codes.append(("400", "Invalid input; the message names the field."))
        codes += [("401", "Missing, unknown or revoked API key."), ("403", "The key lacks the scope this needs.")]
        if "{" in self.path or paged:
            codes.append(("404", "No such object in this tenant, or no such page."))
        if has_body:
            codes += [("413", "The body is over the size limit."), ("415", "The body is not JSON (or multipart where a file is sent).")]
        codes.append(("429", "Too many requests for this tenant or key; see Retry-After."))
        return codes
