"""The dashboard: catalogue size, users, events per day, the active model and the last training."""
from __future__ import annotations

import re

from datetime import timedelta

import pytest
from django.utils import timezone

from reranking.models import Event, ModelVersion

pytestmark = pytest.mark.django_db


def days_ago(tenant, days: int) -> str:
    """Move ben's events to `days` ago and ann's to the day before; return ben's day (YYYY-MM-DD)."""
    moved = timezone.now() - timedelta(days=days)
    Event.objects.for_tenant(tenant).filter(user__external_id="ben").update(timestamp=moved)
    Event.objects.for_tenant(tenant).filter(user__external_id="ann").update(timestamp=moved - timedelta(days=1))
    return moved.date().isoformat()


def test_it_shows_counts_and_an_events_chart_ending_today(owner, url, events, alice):
    day = days_ago(alice.tenant, 3)
    html = owner.get(url("ui:dashboard")).content.decode()
    stats = re.findall(r'<div class="stat">(\d+)</div>', html)
    assert stats == ["6", "2", "6", "0"]  # items, users, events in 30 days, attributed events
    assert html.count('<rect class="bar"') == 30
    assert f"{day}: 3" in html  # ben's three events, in the bar's tooltip
    assert timezone.now().date().isoformat() in html  # the last bar is today


def test_an_old_history_is_outside_the_window_and_the_page_says_when_it_ended(owner, url, events, alice):
    day = days_ago(alice.tenant, 200)
    html = owner.get(url("ui:dashboard")).content.decode()
    assert re.findall(r'<div class="stat">(\d+)</div>', html)[2] == "0"
    assert f"No events in the last 30 days; the latest was on {day}." in html


def test_popular_items_show_titles(owner, url, events, alice):
    days_ago(alice.tenant, 1)
    html = owner.get(url("ui:dashboard")).content.decode()
    popular = html.split('id="popular"')[1]
    assert popular.index("Item 2") < popular.index("Item 1") < popular.index("Item 3")
    assert 'href="/t/alice-shop/items/sku-2"' in popular


def test_it_shows_the_active_model_and_the_last_run(owner, url, alice):
    ModelVersion.objects.create(tenant=alice.tenant, number=1, status="succeeded", is_active=True,
                                activated_at=timezone.now(), metrics={"validation": {"reranker": {"ndcg@10": 0.4321}}})
    ModelVersion.objects.create(tenant=alice.tenant, number=2, status="failed",
                                error="TrainingRefused: too little data")
    html = owner.get(url("ui:dashboard")).content.decode()
    assert "0.432" in html
    assert "v2" in html and "failed" in html and "too little data" in html


def test_an_empty_tenant_says_so(owner, url):
    html = owner.get(url("ui:dashboard")).content.decode()
    assert "No events yet." in html and "No model is active yet" in html and "Never trained." in html


def test_it_runs_a_fixed_number_of_queries(owner, url, events, alice, django_assert_max_num_queries):
    days_ago(alice.tenant, 1)
    with django_assert_max_num_queries(15):  # one more than before: the popular items' titles
        owner.get(url("ui:dashboard"))
