"""The recommendations explorer: a user's recent history and their top 10 with explanations."""
from __future__ import annotations

import re

import pytest

from reranking.models import Rule

pytestmark = pytest.mark.django_db


def test_it_shows_history_and_explained_recommendations(owner, url, alice, events):
    Rule.objects.create(tenant=alice.tenant, name="games up", kind="boost",
                        params={"when": {"field": "category", "op": "eq", "value": "games"}, "weight": 1})
    html = owner.get(url("ui:explorer"), {"user": "ben"}).content.decode()
    history = re.search(r'<table id="history">(.*?)</table>', html, re.S).group(1)
    assert history.count("<tr>") == 3 and "purchase" in history
    recommendations = re.search(r'<table id="recommendations">(.*?)</table>', html, re.S).group(1)
    assert "<code>sku-" in recommendations and "games up</strong> (boost)" in recommendations
    assert "Strategy: <strong>popular</strong>" in html


def test_it_suggests_recently_active_users(owner, url, events):
    html = owner.get(url("ui:explorer")).content.decode()
    assert '<option value="ben">' in html and '<option value="ann">' in html


def test_an_unknown_user_is_an_error_on_the_form(owner, url, events):
    html = owner.get(url("ui:explorer"), {"user": "nobody"}).content.decode()
    assert "No end user with this id in this tenant." in html and 'id="recommendations"' not in html


def test_another_tenants_user_is_unknown(owner, url, charlie):
    from reranking.services.catalogue import upsert_items
    from reranking.services.ingest import ingest_events

    upsert_items(charlie.tenant, [{"item_id": "c-1", "title": "C"}])
    ingest_events(charlie.tenant, [{"user_id": "carl", "item_id": "c-1", "event_type": "view"}])
    html = owner.get(url("ui:explorer"), {"user": "carl"}).content.decode()
    assert "No end user with this id in this tenant." in html
