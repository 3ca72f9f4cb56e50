"""Without Redis configured (the SQLite demo) the served-list log is written straight to the database."""
from __future__ import annotations

import pytest

from reranking.models import ServedRecommendation

pytestmark = pytest.mark.django_db


def test_lists_served_are_stored_at_once_without_redis(alice, users, settings):
    settings.REDIS_URL = ""
    body = alice.client.get("/api/v1/users/ben/recommendations").json()
    row = ServedRecommendation.objects.get()
    assert row.user.external_id == "ben" and row.recommendation_id == body["recommendation_id"]
    assert row.endpoint == "recommendations" and row.strategy == body["strategy"]
