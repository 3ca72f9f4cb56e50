"""The privacy page: erase an end user with confirmation, see the audit records, set retention."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from reranking.models import EndUser, ErasureRecord, Event, ModelVersion, PrivacySettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(alice) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.owner)
    return client


@pytest.fixture
def page(alice) -> str:
    return reverse("ui:privacy", args=[alice.tenant.slug])


def post(client: Client, url: str, data: dict):
    """POST the way a browser does: with the CSRF token of the page's form."""
    client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}, follow=True)


def test_an_owner_erases_a_user_and_sees_the_record(alice, users, queue, owner, page):
    response = post(owner, page, {"action": "erase", "user_id": "ann", "confirm": "on"})
    html = response.content.decode()
    assert "End user erased: 3 interactions and 2 rankings deleted" in html
    assert not EndUser.objects.for_tenant(alice.tenant).filter(external_id="ann").exists()
    record = ErasureRecord.objects.get(tenant=alice.tenant)
    assert record.via == "ui" and record.requested_by == alice.owner
    assert 'id="erasures"' in html and "alice (Web UI)" in html and "pending" in html
    assert "ann" not in html.split('id="erasures"')[1]
    assert ModelVersion.objects.for_tenant(alice.tenant).filter(trigger="erasure", activate_when_ready=True).exists()


def test_the_erasure_needs_the_confirmation_box(alice, users, queue, owner, page):
    html = post(owner, page, {"action": "erase", "user_id": "ann"}).content.decode()
    assert "Tick the box to confirm the erasure." in html
    assert Event.objects.for_tenant(alice.tenant).filter(user__external_id="ann").count() == 3


def test_an_unknown_user_is_reported_on_the_form(alice, users, queue, owner, page):
    html = post(owner, page, {"action": "erase", "user_id": "nobody", "confirm": "on"}).content.decode()
    assert "No end user with this id in this tenant." in html
    assert not ErasureRecord.objects.exists()


def test_the_erasure_is_refused_without_a_csrf_token(alice, users, queue, owner, page):
    assert owner.post(page, {"action": "erase", "user_id": "ann", "confirm": "on"}).status_code == 403
    assert EndUser.objects.for_tenant(alice.tenant).filter(external_id="ann").exists()


def test_a_viewer_sees_no_erasure_form(alice, page):
    client = Client()
    client.force_login(get_user_model().objects.get(username="bob"))
    html = client.get(page).content.decode()
    assert "Owners and admins can erase end users." in html and 'name="user_id"' not in html


def test_retention_is_explained_saved_and_validated(alice, owner, page):
    html = owner.get(page).content.decode()
    assert "Keep interactions for (days)" in html and "Leave empty to keep them forever" in html
    settings = {"epsilon": "4", "max_epsilon": "10", "max_results": "20", "erasure_retrain_hours": "12",
                "analytics_epsilon": "1", "analytics_max_per_user": "10"}
    assert "Must be between 1 and 3650 days" in post(owner, page, {**settings, "retention_days": "9999"}).content.decode()
    assert PrivacySettings.for_tenant(alice.tenant).retention_days is None
    assert "Privacy settings saved." in post(owner, page, {**settings, "retention_days": "90"}).content.decode()
    saved = PrivacySettings.objects.get(tenant=alice.tenant)
    assert (saved.retention_days, saved.erasure_retrain_hours) == (90, 12)
