"""The OpenAPI schema documents the export endpoint and the new privacy settings."""
from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_schema_documents_the_export_and_the_privacy_options(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    export = schema["paths"]["/api/v1/users/{external_id}/export/"]["get"]
    assert {"200", "404"} <= set(export["responses"])
    body = export["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = set(schema["components"]["schemas"][body]["properties"])
    assert {"user_id", "events", "recommendations_served", "precomputed_rankings", "erasure"} <= fields
    privacy = schema["components"]["schemas"]["Privacy"]["properties"]
    assert {"pseudonymous_ids", "analytics_dp", "analytics_epsilon", "analytics_max_per_user"} <= set(privacy)
    assert "pseudonym_salt" not in privacy
