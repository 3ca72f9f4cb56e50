"""The dashboard: catalogue size, users, events per day, the active model and the last training."""
from __future__ import annotations

import re

import pytest
from django.utils import timezone

from reranking.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_it_shows_counts_and_an_events_chart(owner, url, events):
    response = owner.get(url("ui:dashboard"))
    html = response.content.decode()
    stats = re.findall(r'<div class="stat">(\d+)</div>', html)
    assert stats == ["6", "2", "6", "0"]  # items, users, events in 30 days, attributed events
    assert html.count('<rect class="bar"') == 30
    assert "2026-01-02: 3" in html  # ben's three events, in the bar's tooltip


def test_it_shows_the_active_model_and_the_last_run(owner, url, alice):
    ModelVersion.objects.create(tenant=alice.tenant, number=1, status="succeeded", is_active=True,
                                activated_at=timezone.now(), metrics={"validation": {"reranker": {"ndcg@10": 0.4321}}})
    ModelVersion.objects.create(tenant=alice.tenant, number=2, status="failed",
                                error="TrainingRefused: too little data")
    html = owner.get(url("ui:dashboard")).content.decode()
    assert "0.4321" in html
    assert "v2" in html and "failed" in html and "too little data" in html


def test_an_empty_tenant_says_so(owner, url):
    html = owner.get(url("ui:dashboard")).content.decode()
    assert "No events yet." in html and "No model is active yet" in html and "Never trained." in html


def test_it_runs_a_fixed_number_of_queries(owner, url, events, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        owner.get(url("ui:dashboard"))
