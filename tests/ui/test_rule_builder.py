"""The rule builder: pickers and examples from the tenant's catalogue, and warnings before saving."""
from __future__ import annotations

import json

import pytest

from reranking.models import Rule

from .test_rules_preview import draft

pytestmark = pytest.mark.django_db


def vocabulary(html: str) -> dict:
    start = html.index('<script id="rule-vocabulary" type="application/json">') + len('<script id="rule-vocabulary" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)])


def test_the_builder_offers_the_tenants_own_fields_values_and_items(owner, url, alice, catalogue):
    from reranking.services.catalogue import upsert_items

    upsert_items(alice.tenant, [{"item_id": "sku-9", "title": "Lamp", "category": "books", "attributes": {"brand": "Acme"}}])
    html = owner.get(url("ui:rule-new")).content.decode()
    vocab = vocabulary(html)
    fields = {f["name"]: f for f in vocab["fields"]}
    assert set(fields["category"]["values"]) == {"books", "games"}
    assert fields["attributes.brand"]["values"] == ["Acme"]
    assert {"id": "sku-9", "title": "Lamp"} in vocab["items"]
    assert "null" not in html.split('name="params"')[1].split("</textarea>")[0]  # a new rule's params: {} not null


def test_examples_name_the_tenants_catalogue(owner, url, alice, catalogue):
    page = owner.get(url("ui:rule-new")).content.decode()
    html = page.split("Examples from your catalogue")[1].split("Full params schema")[0]
    assert "Books" not in html and "sku-42" not in html
    assert "&quot;value&quot;: &quot;books&quot;" in html or "&quot;value&quot;: &quot;games&quot;" in html
    assert "&quot;item_id&quot;: &quot;sku-1&quot;" in html


def test_a_boost_that_matches_nothing_warns_and_names_the_catalogues_spelling(owner, url, alice, catalogue):
    params = {"when": {"field": "category", "op": "eq", "value": "Games"}, "weight": 0.5}
    html = owner.post(url("ui:rule-new"), draft(params=json.dumps(params), **{"p-candidates": "sku-1 sku-2"})).content.decode()
    assert "This boost matches no item in your catalogue. Did you mean “games”?" in html
    assert not Rule.objects.exists()


def test_a_filter_that_removes_everything_warns(owner, url, alice, catalogue):
    params = {"when": {"field": "available", "op": "eq", "value": True}}
    html = owner.post(url("ui:rule-new"), draft(kind="filter", params=json.dumps(params),
                                                **{"p-candidates": "sku-1 sku-2"})).content.decode()
    assert "This filter removes every item in your catalogue (6)" in html
    assert "After the rules, this list is empty" in html


def test_a_pin_on_a_taken_slot_names_the_conflicting_rule(owner, url, alice, catalogue):
    Rule.objects.create(tenant=alice.tenant, name="hero", kind="pin", params={"item_id": "sku-1", "position": 1})
    params = {"item_id": "sku-2", "position": 1}
    html = owner.post(url("ui:rule-new"), draft(kind="pin", name="other", params=json.dumps(params),
                                                **{"p-candidates": "sku-1 sku-2"})).content.decode()
    assert "Conflicts with rule “hero”, which also pins position 1" in html


def test_a_draft_that_matches_no_warning_case_has_none(owner, url, alice, catalogue):
    html = owner.post(url("ui:rule-new"), draft(**{"p-candidates": "sku-1 sku-2"})).content.decode()
    assert 'id="rule-warnings"' not in html
