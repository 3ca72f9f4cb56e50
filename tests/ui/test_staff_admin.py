"""Staff Django admin: every model's pages, bounded counts on big tables, actions, secrets never shown."""
from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reranking.models import Event, ModelVersion, PrivacySettings, Rule
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_every_registered_changelist_and_search_loads(admin_client, alice, events):
    for model in admin.site._registry:
        assert admin_client.get(changelist(model)).status_code == 200, model
        assert admin_client.get(changelist(model), {"q": "ann"}).status_code == 200, model


def test_change_pages_load(admin_client, alice, events):
    ModelVersion.objects.create(tenant=alice.tenant, number=1)
    PrivacySettings.for_tenant(alice.tenant)
    for model in (Event, ModelVersion, PrivacySettings, ApiKey):
        obj = model.objects.first()
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        assert admin_client.get(url).status_code == 200, model


def test_event_list_never_counts_the_whole_table(admin_client, events):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(changelist(Event), {"event_type": "view"})
    assert response.status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and "reranking_event" in q["sql"]]
    assert counts and all("LIMIT" in sql for sql in counts), counts


def test_event_type_filter_offers_fixed_choices_without_scanning(admin_client, events):
    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(changelist(Event)).content.decode()
    assert "?event_type=purchase" in html
    assert not [q for q in queries.captured_queries if "DISTINCT" in q["sql"] and "reranking_event" in q["sql"]]


def test_api_key_pages_never_show_the_hash(admin_client, alice):
    key = ApiKey.objects.get(tenant=alice.tenant)
    html = admin_client.get(reverse("admin:tenants_apikey_change", args=[key.pk])).content.decode()
    assert key.key_hash not in html and key.masked in html
    assert admin_client.get(reverse("admin:tenants_apikey_add")).status_code == 403


def test_revoke_action(admin_client, alice):
    key = ApiKey.objects.get(tenant=alice.tenant)
    admin_client.post(changelist(ApiKey), {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert not key.is_active


def test_retrain_action_queues_one_run_per_tenant(admin_client, alice, no_queue, django_capture_on_commit_callbacks):
    v1 = ModelVersion.objects.create(tenant=alice.tenant, number=1, status="succeeded")
    v2 = ModelVersion.objects.create(tenant=alice.tenant, number=2, status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist(ModelVersion), {"action": "retrain", "_selected_action": [v1.pk, v2.pk]})
    run = ModelVersion.objects.get(tenant=alice.tenant, number=3)
    assert run.trigger == "admin" and no_queue == [(alice.tenant.pk, run.pk)]


def test_activate_and_cancel_actions(admin_client, alice):
    old = ModelVersion.objects.create(tenant=alice.tenant, number=1, status="succeeded", rankings_ready=True,
                                      is_active=True, activated_at=timezone.now())
    new = ModelVersion.objects.create(tenant=alice.tenant, number=2, status="succeeded", rankings_ready=True)
    admin_client.post(changelist(ModelVersion), {"action": "activate", "_selected_action": [new.pk]})
    new.refresh_from_db(), old.refresh_from_db()
    assert new.is_active and not old.is_active
    running = ModelVersion.objects.create(tenant=alice.tenant, number=3, status="running")
    admin_client.post(changelist(ModelVersion), {"action": "cancel", "_selected_action": [running.pk]})
    running.refresh_from_db()
    assert running.status == "cancelled"


def test_activate_action_reports_a_version_that_cannot_be(admin_client, alice):
    failed = ModelVersion.objects.create(tenant=alice.tenant, number=1, status="failed")
    response = admin_client.post(changelist(ModelVersion), {"action": "activate", "_selected_action": [failed.pk]},
                                 follow=True)
    assert "only a succeeded version can be activated" in response.content.decode()


def test_rule_admin_refuses_a_rule_that_cannot_apply(admin_client, alice):
    response = admin_client.post(reverse("admin:reranking_rule_add"), {
        "tenant": alice.tenant.pk, "name": "bad", "kind": "boost", "priority": 0, "enabled": "on",
        "params": '{"when": {"field": "category", "op": "gt", "value": "x"}, "weight": 1}',
        "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
    })
    assert response.status_code == 200
    assert re.search(r"params\.when\.op", response.content.decode())
    assert not Rule.objects.exists()


# --- guards and polish (issue 16) ----------------------------------------------------------------


def live_and_old(tenant):
    live = ModelVersion.objects.create(tenant=tenant, number=2, status="succeeded", rankings_ready=True,
                                       is_active=True, activated_at=timezone.now())
    old = ModelVersion.objects.create(tenant=tenant, number=1, status="succeeded")
    return live, old


def test_the_active_version_cannot_be_deleted_from_its_page(admin_client, alice):
    live, _ = live_and_old(alice.tenant)
    url = reverse("admin:reranking_modelversion_delete", args=[live.pk])
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert "serves recommendations now and cannot be deleted" in response.content.decode()
    assert ModelVersion.objects.filter(pk=live.pk, is_active=True).exists()


def test_bulk_delete_refuses_a_selection_holding_the_active_version(admin_client, alice):
    live, old = live_and_old(alice.tenant)
    response = admin_client.post(changelist(ModelVersion), {"action": "delete_selected", "post": "yes",
                                                            "_selected_action": [live.pk, old.pk]}, follow=True)
    assert "Nothing was deleted: Alice-Shop v2 (succeeded, active) serves recommendations now." in response.content.decode()
    assert ModelVersion.objects.filter(tenant=alice.tenant).count() == 2
    admin_client.post(changelist(ModelVersion), {"action": "delete_selected", "post": "yes", "_selected_action": [old.pk]})
    assert list(ModelVersion.objects.filter(tenant=alice.tenant).values_list("number", flat=True)) == [2]


def test_activate_refuses_two_versions_of_one_tenant(admin_client, alice):
    live, old = live_and_old(alice.tenant)
    ModelVersion.objects.filter(pk=old.pk).update(rankings_ready=True)
    new = ModelVersion.objects.create(tenant=alice.tenant, number=3, status="succeeded", rankings_ready=True)
    html = admin_client.post(changelist(ModelVersion), {"action": "activate", "_selected_action": [old.pk, new.pk]},
                             follow=True).content.decode()
    assert "Nothing was activated" in html and "activated." not in html
    assert ModelVersion.objects.get(tenant=alice.tenant, is_active=True) == live


def test_cancelling_nothing_is_a_warning_not_a_success(admin_client, alice):
    live, _ = live_and_old(alice.tenant)
    html = admin_client.post(changelist(ModelVersion), {"action": "cancel", "_selected_action": [live.pk]},
                             follow=True).content.decode()
    assert "Nothing was cancelled" in html and 'class="warning"' in html and "Cancelled 0" not in html


def test_names_are_readable(admin_client, alice):
    live, _ = live_and_old(alice.tenant)
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Privacy settings<" in html and "Training policies<" in html
    assert "settingss" not in html and "policys" not in html
    assert str(live) == "Alice-Shop v2 (succeeded, active)"


def test_celery_results_cannot_be_added_or_edited(admin_client):
    assert admin_client.get(reverse("admin:django_celery_results_taskresult_add")).status_code == 403


def test_retrain_action_on_tenants(admin_client, alice, no_queue, django_capture_on_commit_callbacks):
    from tenants.models import Tenant

    with django_capture_on_commit_callbacks(execute=True):
        html = admin_client.post(reverse("admin:tenants_tenant_changelist"),
                                 {"action": "retrain", "_selected_action": [alice.tenant.pk]}, follow=True).content.decode()
    run = ModelVersion.objects.get(tenant=alice.tenant)
    assert "v1 queued." in html and run.trigger == "admin" and Tenant.objects.count() >= 1
