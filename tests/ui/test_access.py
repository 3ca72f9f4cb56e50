"""Who may see and do what: every page by role, 404 for non-members, login required, CSRF enforced."""
from __future__ import annotations

import pytest
from django.test import Client

from reranking.models import ModelVersion, Rule
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db

READ_PAGES = ["ui:dashboard", "ui:items", "ui:rules", "ui:models", "ui:privacy", "ui:keys", "ui:webhooks", "ui:explorer"]
MANAGE_PAGES = ["ui:upload", "ui:rule-new"]


@pytest.fixture
def objects(alice, catalogue) -> dict:
    """One of each object a page is about, in alice's tenant."""
    rule = Rule.objects.create(tenant=alice.tenant, name="no games", kind="filter",
                               params={"when": {"field": "category", "op": "eq", "value": "games"}})
    version = ModelVersion.objects.create(tenant=alice.tenant, number=1, status="succeeded", rankings_ready=True)
    key, _ = ApiKey.issue(alice.tenant, "shop", ["read"])
    return {"rule": rule.pk, "version": version.number, "key": key.pk, "item": "sku-1"}


def object_pages(o: dict) -> list[tuple[str, list]]:
    return [("ui:item", [o["item"]]), ("ui:model", [o["version"]]), ("ui:model-status", [o["version"]])]


def manage_object_pages(o: dict) -> list[tuple[str, list]]:
    return [("ui:rule-edit", [o["rule"]]), ("ui:rule-delete", [o["rule"]]), ("ui:model-activate", [o["version"]])]


def post_actions(o: dict) -> list[tuple[str, list, dict]]:
    return [
        ("ui:rule-toggle", [o["rule"]], {}), ("ui:rule-move", [o["rule"]], {"direction": "down"}),
        ("ui:rule-delete", [o["rule"]], {}), ("ui:rule-edit", [o["rule"]], {"name": "x"}),
        ("ui:rule-new", [], {"name": "x"}), ("ui:train", [], {}),
        ("ui:model-activate", [o["version"]], {}), ("ui:model-cancel", [o["version"]], {}),
        ("ui:privacy", [], {"epsilon": "1"}), ("ui:keys", [], {"name": "x", "scopes": ["read"]}),
        ("ui:key-revoke", [o["key"]], {}), ("ui:upload-confirm", [], {"token": "x"}),
    ]


def test_owner_sees_every_page(owner, url, objects):
    for name in READ_PAGES + MANAGE_PAGES:
        assert owner.get(url(name)).status_code == 200, name
    for name, args in object_pages(objects) + manage_object_pages(objects):
        assert owner.get(url(name, *args)).status_code == 200, name


def test_viewer_reads_but_cannot_open_edit_pages(viewer, url, objects):
    for name in READ_PAGES:
        assert viewer.get(url(name)).status_code == 200, name
    for name, args in object_pages(objects):
        assert viewer.get(url(name, *args)).status_code == 200, name
    for name in MANAGE_PAGES:
        assert viewer.get(url(name)).status_code == 403, name
    for name, args in manage_object_pages(objects):
        assert viewer.get(url(name, *args)).status_code == 403, name


def test_viewer_cannot_change_anything(viewer, url, objects, alice, no_queue):
    for name, args, data in post_actions(objects):
        assert viewer.post(url(name, *args), data).status_code == 403, name
    assert Rule.objects.get(pk=objects["rule"]).enabled
    assert ApiKey.objects.get(pk=objects["key"]).is_active
    assert ModelVersion.objects.for_tenant(alice.tenant).count() == 1
    assert no_queue == []


def test_admin_role_can_manage(alice, url, objects):
    from django.contrib.auth import get_user_model

    from tenants.models import Membership

    dana = get_user_model().objects.create_user("dana")
    Membership.objects.create(tenant=alice.tenant, user=dana, role="admin")
    client = Client()
    client.force_login(dana)
    assert client.get(url("ui:rule-new")).status_code == 200
    assert client.post(url("ui:rule-toggle", objects["rule"])).status_code == 302
    assert not Rule.objects.get(pk=objects["rule"]).enabled


def test_charlie_gets_404_for_everything_of_alices(outsider, url, objects):
    for name in READ_PAGES + MANAGE_PAGES:
        assert outsider.get(url(name)).status_code == 404, name
    for name, args in object_pages(objects) + manage_object_pages(objects):
        assert outsider.get(url(name, *args)).status_code == 404, name
    for name, args, data in post_actions(objects):
        assert outsider.post(url(name, *args), data).status_code == 404, name


def test_charlie_cannot_reach_alices_objects_through_his_own_tenant(outsider, charlie, objects):
    from django.urls import reverse

    mine = charlie.tenant.slug
    assert outsider.get(reverse("ui:item", args=[mine, objects["item"]])).status_code == 404
    assert outsider.get(reverse("ui:rule-edit", args=[mine, objects["rule"]])).status_code == 404
    assert outsider.get(reverse("ui:model", args=[mine, objects["version"]])).status_code == 404
    assert outsider.post(reverse("ui:key-revoke", args=[mine, objects["key"]])).status_code == 404
    assert outsider.post(reverse("ui:rule-toggle", args=[mine, objects["rule"]])).status_code == 404
    assert ApiKey.objects.get(pk=objects["key"]).is_active


def test_an_unknown_tenant_is_404_like_a_foreign_one(owner):
    assert owner.get("/t/no-such-shop/").status_code == 404


def test_anonymous_is_sent_to_login(client, url, objects):
    for name in READ_PAGES:
        response = client.get(url(name))
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    assert client.post(url("ui:train")).status_code == 302


def test_posts_without_a_csrf_token_are_refused(alice, url, objects, no_queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.owner)
    for name, args, data in post_actions(objects):
        assert client.post(url(name, *args), data).status_code == 403, name
    assert Rule.objects.get(pk=objects["rule"]).enabled
    assert no_queue == []


def test_a_page_with_the_csrf_token_is_accepted(alice, url, objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.owner)
    page = client.get(url("ui:rules"))
    token = page.cookies["csrftoken"].value
    response = client.post(url("ui:rule-toggle", objects["rule"]), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not Rule.objects.get(pk=objects["rule"]).enabled
