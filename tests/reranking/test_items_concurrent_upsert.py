"""A concurrent batch creating the same item ids must not turn into a 500."""
from __future__ import annotations

import pytest

from reranking.models import Item
from reranking.services import catalogue

pytestmark = pytest.mark.django_db


def test_a_batch_that_loses_a_creation_race_is_planned_again(alice, monkeypatch):
    original = catalogue.plan_upsert
    calls = []

    def racing_plan(tenant, clean):
        plan = original(tenant, clean)
        calls.append(1)
        if len(calls) == 1:  # another request creates the same id after our plan
            Item.objects.create(tenant=tenant, external_id="sku-1", title="From the other request")
        return plan

    monkeypatch.setattr(catalogue, "plan_upsert", racing_plan)
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "sku-1", "title": "Ours"}], format="json")
    assert response.status_code == 200, response.json()
    assert len(calls) == 2
    assert Item.objects.get(tenant=alice.tenant, external_id="sku-1").title == "Ours"


def test_a_batch_that_keeps_losing_gets_409(alice, monkeypatch):
    original = catalogue.plan_upsert

    def always_racing(tenant, clean):
        plan = original(tenant, clean)
        Item.objects.create(tenant=tenant, external_id="sku-1", title="Other")
        return plan

    monkeypatch.setattr(catalogue, "plan_upsert", always_racing)
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": "sku-1", "title": "Ours"}], format="json")
    assert response.status_code == 409
    assert "retry" in response.json()["error"]["message"]
    assert not Item.objects.filter(tenant=alice.tenant).exists()
