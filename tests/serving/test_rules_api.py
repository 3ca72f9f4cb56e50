"""/api/v1/rules: admins edit re-rank rules; a rule that cannot apply is refused when saved."""
from __future__ import annotations

import pytest

from reranking.models import Rule

pytestmark = pytest.mark.django_db

BOOST = {"name": "books up", "kind": "boost", "params": {"when": {"field": "category", "op": "eq", "value": "Books"}, "weight": 2}}


def test_an_admin_creates_lists_updates_and_deletes_a_rule(alice):
    created = alice.client.post("/api/v1/rules", BOOST, format="json")
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert created.json()["params"]["weight"] == 2.0
    assert [r["id"] for r in alice.client.get("/api/v1/rules").json()["results"]] == [rule_id]
    patched = alice.client.patch(f"/api/v1/rules/{rule_id}", {"enabled": False, "priority": 5}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert alice.client.delete(f"/api/v1/rules/{rule_id}").status_code == 204
    assert not Rule.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({**BOOST, "kind": "teleport"}, "kind"),
        ({**BOOST, "params": {"when": {"field": "colour", "op": "eq", "value": "red"}, "weight": 1}}, "params"),
        ({**BOOST, "params": {"when": {"field": "price", "op": "lt", "value": "cheap"}, "weight": 1}}, "params"),
        ({**BOOST, "params": {"when": {"field": "category", "op": "eq", "value": "Books"}, "weight": -1}}, "params"),
        ({"name": "pin", "kind": "pin", "params": {"item_id": "x", "position": 0}}, "params"),
        ({**BOOST, "starts_at": "2026-02-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"}, "ends_at"),
        ({"kind": "boost", "params": BOOST["params"]}, "name"),
    ],
)
def test_a_rule_that_cannot_apply_is_refused_naming_the_field(alice, body, field):
    response = alice.client.post("/api/v1/rules", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(field), response.json()
    assert not Rule.objects.exists()


def test_a_patch_that_breaks_a_rule_is_refused_and_leaves_it_unchanged(alice):
    rule_id = alice.client.post("/api/v1/rules", BOOST, format="json").json()["id"]
    response = alice.client.patch(f"/api/v1/rules/{rule_id}", {"params": {"when": {}}}, format="json")
    assert response.status_code == 400
    assert Rule.objects.get(pk=rule_id).params["weight"] == 2.0


def test_a_read_or_ingest_key_cannot_edit_rules(alice):
    for scope in ("read", "ingest"):
        assert alice.client_with(scope).post("/api/v1/rules", BOOST, format="json").status_code == 403
    assert alice.client_with("read").get("/api/v1/rules").status_code == 200


def test_charlie_gets_404_for_alices_rule(alice, charlie):
    rule_id = alice.client.post("/api/v1/rules", BOOST, format="json").json()["id"]
    for method in ("get", "patch", "delete"):
        response = getattr(charlie.client, method)(f"/api/v1/rules/{rule_id}", {"enabled": False}, format="json")
        assert response.status_code == 404
    assert charlie.client.get("/api/v1/rules").json()["results"] == []
    assert Rule.objects.get(pk=rule_id).enabled


@pytest.mark.slow
def test_a_saved_rule_changes_served_lists_at_once(shop, user_id):
    before = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10").json()["items"]
    assert any(i["category"] != "Books" for i in before)
    shop.client.post("/api/v1/rules", {**BOOST, "params": {**BOOST["params"], "weight": 5}}, format="json")
    after = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10").json()["items"]
    books = sum(1 for i in after if i["category"] == "Books")
    assert books > sum(1 for i in before if i["category"] == "Books")
    assert after[0]["category"] == "Books"


@pytest.mark.slow
def test_preview_shows_before_and_after_for_draft_rules(shop, user_id):
    response = shop.client.post(
        "/api/v1/rules/preview",
        {"user_id": user_id, "rules": [{"name": "draft", **{k: v for k, v in BOOST.items() if k != "name"}}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    before, after = response.json()["before"]["items"], response.json()["after"]["items"]
    assert [i["category"] for i in after][0] == "Books"
    assert any(e["rule_name"] == "draft" for i in after for e in i["explain"]["effects"])
    assert not any(i["explain"]["effects"] for i in before)
    assert not Rule.objects.exists(), "a preview saves nothing"
    bad = shop.client.post("/api/v1/rules/preview", {"user_id": user_id, "rules": [{"kind": "boost", "params": {}}]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("rules[0]")
