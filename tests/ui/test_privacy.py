"""Privacy settings: explained, validated, saved by managers, read by viewers."""
from __future__ import annotations

import re

import pytest

from reranking.models import PrivacySettings

pytestmark = pytest.mark.django_db


def form(**overrides) -> dict:
    return {**{"dp_enabled": "on", "epsilon": "2", "max_epsilon": "8", "max_results": "20", "erasure_retrain_hours": "24",
                "analytics_epsilon": "1", "analytics_max_per_user": "10"}, **overrides}


def test_it_explains_each_setting_and_shows_the_statement(owner, url):
    html = owner.get(url("ui:privacy")).content.decode()
    assert "Differential privacy is off" in html
    assert "e<sup>ε</sup> ≈ 54.6" in html  # the default epsilon of 4
    assert "Erase an end user" in html and "Keep interactions for (days)" in html


def test_it_saves_and_the_statement_follows(owner, url, alice):
    response = owner.post(url("ui:privacy"), form(), follow=True)
    html = response.content.decode()
    assert "Privacy settings saved." in html and "epsilon = 2 per list" in html
    settings = PrivacySettings.objects.get(tenant=alice.tenant)
    assert settings.dp_enabled and settings.epsilon == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epsilon": "9"}, "Must not exceed max_epsilon."),
        ({"epsilon": "0"}, "Must be greater than 0 and at most 100."),
        ({"max_results": "500"}, "Must be between 1 and 100."),
        ({"epsilon": "lots"}, "Enter a number."),
    ],
)
def test_invalid_values_are_refused_on_the_form(owner, url, alice, overrides, message):
    response = owner.post(url("ui:privacy"), form(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PrivacySettings.objects.get(tenant=alice.tenant).dp_enabled


def test_a_viewer_reads_a_disabled_form(viewer, url):
    html = viewer.get(url("ui:privacy")).content.decode()
    for name in ("dp_enabled", "epsilon", "max_epsilon", "max_results"):
        assert re.search(rf'<input[^>]*name="{name}"[^>]*disabled', html), name
    assert ">Save<" not in html


def test_settings_are_per_tenant(owner, url, alice, charlie):
    owner.post(url("ui:privacy"), form())
    assert not PrivacySettings.for_tenant(charlie.tenant).dp_enabled


# --- guards on what cannot be undone (issue 16) ---------------------------------------------------


def age_events(tenant, days: int) -> int:
    from datetime import timedelta

    from django.utils import timezone

    from reranking.models import Event

    return Event.objects.for_tenant(tenant).update(timestamp=timezone.now() - timedelta(days=days))


def test_a_retention_that_deletes_events_says_how_many_and_needs_confirming(owner, url, alice, events):
    from reranking.models import Event

    n = age_events(alice.tenant, 40)
    html = owner.post(url("ui:privacy"), form(retention_days="30")).content.decode()
    assert f"This will delete {n:,} interactions (everything before" in html and "Tick the box to confirm" in html
    assert PrivacySettings.for_tenant(alice.tenant).retention_days is None
    response = owner.post(url("ui:privacy"), form(retention_days="30", confirm_retention="on"), follow=True)
    assert "Privacy settings saved." in response.content.decode()
    assert PrivacySettings.objects.get(tenant=alice.tenant).retention_days == 30
    assert Event.objects.for_tenant(alice.tenant).count() == n  # deleted by the daily job, not on save


def test_a_retention_that_deletes_nothing_saves_without_asking(owner, url, alice, events):
    age_events(alice.tenant, 10)
    response = owner.post(url("ui:privacy"), form(retention_days="30"), follow=True)
    assert "Privacy settings saved." in response.content.decode()
    assert PrivacySettings.objects.get(tenant=alice.tenant).retention_days == 30


def test_pseudonymous_ids_need_the_slug_typed_and_then_show_locked(owner, url, alice):
    html = owner.post(url("ui:privacy"), form(pseudonymous_ids="on", confirm_pseudonyms="yes")).content.decode()
    assert "can never be turned off. Type alice-shop to turn them on." in html
    assert not PrivacySettings.for_tenant(alice.tenant).pseudonymous_ids
    owner.post(url("ui:privacy"), form(pseudonymous_ids="on", confirm_pseudonyms="alice-shop"))
    assert PrivacySettings.objects.get(tenant=alice.tenant).pseudonymous_ids
    html = owner.get(url("ui:privacy")).content.decode()
    assert 'id="pseudonyms-locked"' in html and "On · locked" in html
    assert not re.search(r'<input[^>]*name="pseudonymous_ids"', html)  # no control left to click
    owner.post(url("ui:privacy"), form())  # a post without the field cannot turn them off
    assert PrivacySettings.objects.get(tenant=alice.tenant).pseudonymous_ids
