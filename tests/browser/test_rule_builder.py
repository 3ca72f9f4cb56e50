"""Build a rule with the pickers (no JSON typed) and watch the preview beside the form change."""
from __future__ import annotations

import json

import pytest

from reranking.models import Rule

from .conftest import LAPTOP, PHONE, login, shot
from .test_journeys import after_column, preview

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_rule_built_with_pickers_changes_the_preview_beside_the_form(open_page, alice, ui_events):
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    page.goto(f"/t/{alice.tenant.slug}/rules/new/")
    page.fill("#id_name", "games first")
    page.select_option("#id_kind", "boost")
    page.fill("#id_p-candidates", "sku-1 sku-2 sku-3 sku-4")
    preview(page)
    before = after_column(page)
    page.select_option("#b-field", "category")
    page.select_option("#b-op", "eq")
    page.fill("#b-value", "games")
    page.fill("#b-weight", "2")
    assert json.loads(page.input_value("#id_params")) == {
        "when": {"field": "category", "op": "eq", "value": "games"}, "weight": 2}
    assert not page.is_visible("#id_params")  # the JSON stays in the advanced view
    preview(page)
    assert after_column(page)[:2] == ["sku-2", "sku-4"] and after_column(page) != before
    box = page.locator("#preview").bounding_box()
    assert box["y"] < LAPTOP["height"] and box["x"] > LAPTOP["width"] / 3  # beside the form, without scrolling
    shot(page, "rule-builder-1280")
    page.click("button[name=save]")
    page.wait_for_selector("text=Saved rule 'games first'.")
    assert Rule.objects.get().params == {"when": {"field": "category", "op": "eq", "value": "games"}, "weight": 2}


def test_the_preview_warns_when_a_value_matches_nothing(open_page, alice, ui_events):
    page = open_page(PHONE)
    login(page, "alice", "pw-alice")
    page.goto(f"/t/{alice.tenant.slug}/rules/new/")
    page.fill("#id_name", "sports")
    page.select_option("#id_kind", "boost")
    page.select_option("#b-field", "category")
    page.fill("#b-value", "Games")
    page.fill("#id_p-candidates", "sku-1 sku-2")
    preview(page)
    assert "Did you mean “games”?" in page.inner_text("#rule-warnings")
    shot(page, "rule-builder-warning-390")
