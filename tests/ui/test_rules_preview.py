"""The live preview: a user's list, or a pasted candidate list, before and after the rules, side by side."""
from __future__ import annotations

import json
import re

import pytest

from reranking.models import Rule

pytestmark = pytest.mark.django_db

BOOST_GAMES = {"when": {"field": "category", "op": "eq", "value": "games"}, "weight": 2}


def column(html: str, css: str) -> list[str]:
    table = re.search(rf'<table class="{css}">(.*?)</table>', html, re.S).group(1)
    return re.findall(r"<code>([^<]+)</code>", table)


def draft(**overrides) -> dict:
    data = {"name": "games first", "kind": "boost", "params": json.dumps(BOOST_GAMES), "priority": "0",
            "enabled": "on", "preview": "1"}
    return {**data, **overrides}


def test_a_draft_boost_changes_the_after_column_and_is_not_saved(owner, url, events):
    data = draft(**{"p-candidates": "sku-1, sku-2, sku-3, sku-4"})
    html = owner.post(url("ui:rule-new"), data).content.decode()
    before, after = column(html, "preview-before"), column(html, "preview-after")
    assert before[:2] == ["sku-2", "sku-1"]  # by popularity
    assert after[:2] == ["sku-2", "sku-4"]  # the games boosted above the books
    assert "games first</strong> (boost)" in html
    assert "▲2" in html  # sku-4 moved from 4th to 2nd
    assert not Rule.objects.exists()


def test_a_draft_preview_for_a_user(owner, url, events):
    html = owner.post(url("ui:rule-new"), draft(**{"p-user": "ann"})).content.decode()
    assert column(html, "preview-after")
    assert "Candidates: popular" in html


def test_an_invalid_draft_is_not_previewed_and_shows_its_error(owner, url, events):
    bad = json.dumps({"when": {"field": "nope", "op": "eq", "value": 1}, "weight": 1})
    html = owner.post(url("ui:rule-new"), draft(params=bad, **{"p-candidates": "sku-1"})).content.decode()
    assert "unknown field" in html and "preview-after" not in html


def test_an_unknown_user_is_an_error_on_the_preview_form(owner, url, events):
    html = owner.post(url("ui:rule-new"), draft(**{"p-user": "nobody"})).content.decode()
    assert "No end user with this id in this tenant." in html


def test_the_list_page_previews_the_saved_rules(owner, url, alice, events):
    Rule.objects.create(tenant=alice.tenant, name="no books", kind="filter",
                        params={"when": {"field": "category", "op": "eq", "value": "books"}})
    html = owner.get(url("ui:rules"), {"p-candidates": "sku-1 sku-2 sku-3 sku-4"}).content.decode()
    assert column(html, "preview-after") == ["sku-2", "sku-4"]
    assert "Removed by filters" in html and "no books" in html


def test_editing_previews_the_draft_in_place_of_the_saved_rule(owner, url, alice, events):
    rule = Rule.objects.create(tenant=alice.tenant, name="games first", kind="boost", params=BOOST_GAMES)
    weaker = {**BOOST_GAMES, "weight": 0.01}
    html = owner.post(url("ui:rule-edit", rule.pk),
                      draft(params=json.dumps(weaker), **{"p-candidates": "sku-1 sku-2 sku-3 sku-4"})).content.decode()
    assert column(html, "preview-after")[:2] == ["sku-2", "sku-1"]  # the saved, stronger boost is not applied
    rule.refresh_from_db()
    assert rule.params["weight"] == 2


def test_a_viewer_can_preview_saved_rules(viewer, url, events):
    assert viewer.get(url("ui:rules"), {"p-user": "ann"}).status_code == 200


def test_candidates_from_another_tenant_are_unknown(owner, url, events, charlie):
    from reranking.services.catalogue import upsert_items

    upsert_items(charlie.tenant, [{"item_id": "c-1", "title": "Charlie's"}])
    html = owner.get(url("ui:rules"), {"p-candidates": "sku-1 c-1"}).content.decode()
    assert "Not in the catalogue: c-1" in html and "Charlie&#x27;s" not in html
