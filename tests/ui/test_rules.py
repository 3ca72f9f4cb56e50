"""The rules editor: create, edit, refuse rules that cannot apply, reorder, enable/disable, schedule, delete."""
from __future__ import annotations

import json

import pytest

from reranking.models import Rule

pytestmark = pytest.mark.django_db

BOOST_GAMES = {"when": {"field": "category", "op": "eq", "value": "games"}, "weight": 0.5}


def rule_data(**overrides) -> dict:
    data = {"name": "games up", "kind": "boost", "params": json.dumps(BOOST_GAMES), "priority": "0", "enabled": "on",
            "starts_at": "", "ends_at": ""}
    return {**data, **overrides}


def make(tenant, name: str, priority: int = 0, **fields) -> Rule:
    return Rule.objects.create(tenant=tenant, name=name, kind=fields.pop("kind", "boost"),
                               params=fields.pop("params", BOOST_GAMES), priority=priority, **fields)


def names_in_order(tenant) -> list[str]:
    return list(Rule.objects.for_tenant(tenant).values_list("name", flat=True))


def test_it_creates_a_rule(owner, url, alice):
    response = owner.post(url("ui:rule-new"), rule_data())
    assert response.status_code == 302
    rule = Rule.objects.get(tenant=alice.tenant)
    assert (rule.name, rule.kind, rule.params["weight"], rule.enabled) == ("games up", "boost", 0.5, True)
    assert "games up" in owner.get(url("ui:rules")).content.decode()


def test_a_rule_that_cannot_apply_is_refused_naming_the_field(owner, url, alice):
    params = {"when": {"field": "category", "op": "gt", "value": "games"}, "weight": 0.5}
    response = owner.post(url("ui:rule-new"), rule_data(params=json.dumps(params)))
    assert response.status_code == 200
    html = response.content.decode()
    assert "params.when.op" in html and "not valid for category" in html
    assert not Rule.objects.exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"params": "{not json"}, "Enter a valid JSON."),
        ({"params": json.dumps({"when": {"field": "price", "op": "lt", "value": 5}, "weight": -1})},
         "must be greater than 0"),
        ({"kind": "diversity", "params": json.dumps({"top": 3})}, "give exactly one of max_per_category or mmr_lambda"),
        ({"name": ""}, "This field is required."),
        ({"starts_at": "2026-05-02T00:00", "ends_at": "2026-05-01T00:00"}, "must be after starts_at"),
        ({"kind": "pin", "params": json.dumps({"item_id": "no-such-sku", "position": 1})},
         "no item &#x27;no-such-sku&#x27;"),
    ],
)
def test_invalid_forms_show_the_error(owner, url, catalogue, overrides, message):
    response = owner.post(url("ui:rule-new"), rule_data(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Rule.objects.exists()


def test_malformed_json_shows_one_error_only(owner, url):
    html = owner.post(url("ui:rule-new"), rule_data(params="{not json")).content.decode()
    assert html.count('<ul class="errorlist"') == 1


def test_a_pin_to_a_catalogue_item_is_accepted(owner, url, alice, catalogue):
    owner.post(url("ui:rule-new"), rule_data(kind="pin", params=json.dumps({"item_id": "sku-4", "position": 1})))
    assert Rule.objects.get(tenant=alice.tenant).params == {"item_id": "sku-4", "position": 1}


def test_it_edits_a_rule_and_its_schedule(owner, url, alice):
    rule = make(alice.tenant, "old")
    form = owner.get(url("ui:rule-edit", rule.pk)).content.decode()
    assert "&quot;weight&quot;: 0.5" in form  # params shown as indented JSON
    response = owner.post(url("ui:rule-edit", rule.pk),
                          rule_data(name="new", starts_at="2030-01-01T09:00", ends_at="2030-01-02T09:00"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "new" and rule.starts_at.isoformat() == "2030-01-01T09:00:00+00:00"
    assert "scheduled" in owner.get(url("ui:rules")).content.decode()


def test_toggle_disables_and_enables(owner, url, alice):
    rule = make(alice.tenant, "r")
    owner.post(url("ui:rule-toggle", rule.pk))
    rule.refresh_from_db()
    assert not rule.enabled
    owner.post(url("ui:rule-toggle", rule.pk))
    rule.refresh_from_db()
    assert rule.enabled


def test_a_stored_rule_that_no_longer_validates_stays_disabled(owner, url, alice):
    rule = make(alice.tenant, "broken", params={"when": {"field": "colour", "op": "eq", "value": "red"}, "weight": 1},
                enabled=False)
    response = owner.post(url("ui:rule-toggle", rule.pk), follow=True)
    assert "cannot apply, so it stays disabled" in response.content.decode()
    rule.refresh_from_db()
    assert not rule.enabled


def test_move_reorders_by_swapping_priorities(owner, url, alice):
    a, b, c = make(alice.tenant, "a", 30), make(alice.tenant, "b", 20), make(alice.tenant, "c", 10)
    owner.post(url("ui:rule-move", c.pk), {"direction": "up"})
    assert names_in_order(alice.tenant) == ["a", "c", "b"]
    owner.post(url("ui:rule-move", a.pk), {"direction": "down"})
    assert names_in_order(alice.tenant) == ["c", "a", "b"]
    owner.post(url("ui:rule-move", c.pk), {"direction": "up"})  # already first: nothing moves
    assert names_in_order(alice.tenant) == ["c", "a", "b"]
    assert b.pk


def test_move_spreads_equal_priorities_first(owner, url, alice):
    make(alice.tenant, "a"), make(alice.tenant, "b")
    c = make(alice.tenant, "c")
    owner.post(url("ui:rule-move", c.pk), {"direction": "up"})
    assert names_in_order(alice.tenant) == ["a", "c", "b"]
    assert len(set(Rule.objects.values_list("priority", flat=True))) == 3


def test_delete_asks_then_deletes(owner, url, alice):
    rule = make(alice.tenant, "doomed")
    assert "Delete rule “doomed”?" in owner.get(url("ui:rule-delete", rule.pk)).content.decode()
    assert owner.post(url("ui:rule-delete", rule.pk)).status_code == 302
    assert not Rule.objects.exists()


def test_the_form_shows_examples_and_the_schema(owner, url):
    html = owner.get(url("ui:rule-new")).content.decode()
    assert "max_per_category" in html and "Params schema" not in html and "attributes.&lt;key&gt;" in html


def test_a_viewer_sees_rules_without_edit_controls(viewer, url, alice):
    make(alice.tenant, "visible")
    html = viewer.get(url("ui:rules")).content.decode()
    assert "visible" in html and "New rule" not in html and "Disable" not in html


def test_charlies_rules_are_not_listed(owner, url, charlie):
    make(charlie.tenant, "charlies secret rule")
    assert "charlies secret rule" not in owner.get(url("ui:rules")).content.decode()
