"""Input a client can send gets a 400 naming the field, never a 500; unknown fields are refused."""
from __future__ import annotations

import json

import pytest

from reranking.models import PrivacySettings, Rule

pytestmark = pytest.mark.django_db

BOOST = {"name": "up", "kind": "boost", "params": {"when": {"field": "category", "op": "eq", "value": "books"}, "weight": 2}}


def field_of(response) -> list[str]:
    assert response.status_code == 400, response.content
    detail = response.json()["error"]["detail"]
    return list(detail) if isinstance(detail, dict) else detail


@pytest.mark.parametrize("query", ["attr.=x", "attr.%20=x"])
def test_a_nameless_attribute_filter_is_a_400_naming_it(alice, catalogue, query):
    response = alice.client.get(f"/api/v1/recommendations?{query}")
    assert any(name.startswith("attr.") for name in field_of(response))


def test_an_attribute_filter_still_filters(alice, catalogue):
    alice.client.post("/api/v1/items/bulk", [{"item_id": "sku-1", "attributes": {"brand": "acme"}}], format="json")
    body = alice.client.get("/api/v1/recommendations?attr.brand=acme").json()
    assert [i["item_id"] for i in body["items"]] == ["sku-1"]


def test_privacy_patch_refuses_an_unknown_field_and_changes_nothing(alice):
    response = alice.client.patch("/api/v1/privacy", {"dp_enable": True}, format="json")
    assert field_of(response) == ["dp_enable"]
    assert not PrivacySettings.for_tenant(alice.tenant).dp_enabled


def test_rules_refuse_unknown_fields(alice):
    assert field_of(alice.client.post("/api/v1/rules", {**BOOST, "colour": "red"}, format="json")) == ["colour"]
    assert not Rule.objects.exists()
    rule_id = alice.client.post("/api/v1/rules", BOOST, format="json").json()["id"]
    assert field_of(alice.client.patch(f"/api/v1/rules/{rule_id}", {"enabeld": False}, format="json")) == ["enabeld"]
    assert Rule.objects.get().enabled


def test_rule_preview_refuses_unknown_fields_in_the_body_and_in_draft_rules(alice, catalogue):
    body = {"candidates": ["sku-1"], "rules": [BOOST], "user": "x"}
    assert field_of(alice.client.post("/api/v1/rules/preview", body, format="json")) == ["user"]
    body = {"candidates": ["sku-1"], "rules": [{**BOOST, "priority": "high", "when": 1}]}
    assert field_of(alice.client.post("/api/v1/rules/preview", body, format="json")) == ["rules"]


def test_rerank_refuses_unknown_fields(alice, catalogue):
    response = alice.client.post("/api/v1/rerank", {"candidates": ["sku-1"], "kk": 3}, format="json")
    assert field_of(response) == ["kk"]


@pytest.mark.parametrize("weight", [1e308, 1001, float("inf")])
def test_rule_weights_have_a_finite_bound(alice, weight):
    raw = json.dumps({**BOOST, "params": {**BOOST["params"], "weight": weight}}).replace("Infinity", "1e999")
    response = alice.client.post("/api/v1/rules", raw, content_type="application/json")
    assert response.status_code == 400
    assert not Rule.objects.exists()


def test_the_largest_weight_gives_finite_scores(alice, catalogue):
    alice.client.post("/api/v1/rules", {**BOOST, "params": {**BOOST["params"], "weight": 1000}}, format="json")
    body = alice.client.post("/api/v1/rerank", {"candidates": ["sku-1", "sku-2", "sku-3"]}, format="json").json()
    assert body["items"][0]["category"] == "books"
    assert all(isinstance(i["score"], float) for i in body["items"])


def test_rerank_returns_at_most_k_even_with_unknown_candidates(alice, catalogue):
    body = {"candidates": ["sku-1", "sku-2", "nope-1", "nope-2"], "k": 3}
    served = alice.client.post("/api/v1/rerank", body, format="json").json()
    assert len(served["items"]) == 3
    assert served["unknown"] == ["nope-1", "nope-2"]
    body["k"] = 1
    assert len(alice.client.post("/api/v1/rerank", body, format="json").json()["items"]) == 1


def test_an_empty_placement_is_a_400(alice, catalogue):
    assert field_of(alice.client.get("/api/v1/recommendations?placement=")) == ["placement"]
