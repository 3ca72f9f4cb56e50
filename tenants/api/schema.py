"""Describe API-key authentication in the OpenAPI schema (imported by TenantsConfig.ready)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
