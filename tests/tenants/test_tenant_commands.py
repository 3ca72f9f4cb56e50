"""create_tenant and seed_demo: a tenant, its owner login and a key, from the command line."""
from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenants.models import ApiKey, Membership, Role, Tenant

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def printed(output: str, label: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in output.splitlines() if line.startswith(f"{label}:"))


def test_create_tenant_prints_a_working_key(db):
    output = run("create_tenant", "acme", "--name", "Acme Ltd", "--owner", "wile", "--password", "pw-wile")
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.name == "Acme Ltd"
    membership = Membership.objects.get(tenant=tenant)
    assert (membership.user.username, membership.role) == ("wile", Role.OWNER)
    assert membership.user.check_password("pw-wile")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=printed(output, "api key"))
    assert client.get("/api/v1/tenant").json()["slug"] == "acme"


def test_create_tenant_prints_a_random_password_when_none_is_given(db):
    output = run("create_tenant", "acme", "--owner", "wile")
    username, password = printed(output, "login").split(" / ")
    assert get_user_model().objects.get(username=username).check_password(password)


def test_create_tenant_with_limited_scopes(db):
    output = run("create_tenant", "acme", "--scopes", "read")
    key = ApiKey.objects.get(lookup=ApiKey.parse_lookup(printed(output, "api key")))
    assert key.scopes == ["read"]


def test_create_tenant_refuses_an_existing_slug_and_changes_nothing(alice):
    with pytest.raises(CommandError, match="exists already.*--add-key"):
        run("create_tenant", "alice-shop", "--owner", "mallory")
    assert Tenant.objects.filter(slug="alice-shop").count() == 1
    assert ApiKey.objects.filter(tenant=alice.tenant).count() == 1
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_add_key_issues_another_key_for_an_existing_tenant(alice):
    output = run("create_tenant", "alice-shop", "--add-key", "--scopes", "read")
    assert ApiKey.objects.filter(tenant=alice.tenant).count() == 2
    key = ApiKey.objects.get(lookup=ApiKey.parse_lookup(printed(output, "api key")))
    assert (key.tenant_id, key.scopes) == (alice.tenant.pk, ["read"])
    with pytest.raises(CommandError, match="No tenant"):
        run("create_tenant", "nobody", "--add-key")


def test_an_existing_login_becomes_owner_and_keeps_its_password(alice):
    output = run("create_tenant", "acme", "--owner", "alice")
    assert "password unchanged" in printed(output, "login")
    alice.owner.refresh_from_db()
    assert alice.owner.check_password("pw-alice")
    assert Membership.objects.get(tenant__slug="acme").user == alice.owner
    with pytest.raises(CommandError, match="never changes a password"):
        run("create_tenant", "acme2", "--owner", "alice", "--password", "new-pw")
    alice.owner.refresh_from_db()
    assert alice.owner.check_password("pw-alice") and not Tenant.objects.filter(slug="acme2").exists()


def test_create_tenant_refuses_unknown_scopes_before_creating_anything(db):
    with pytest.raises(CommandError, match="Unknown scopes: root"):
        run("create_tenant", "acme", "--owner", "wile", "--scopes", "read,root")
    assert not Tenant.objects.exists()
    assert not get_user_model().objects.exists()


def test_create_tenant_refuses_a_bad_slug(db):
    with pytest.raises(CommandError, match="not a valid slug"):
        run("create_tenant", "Acme Ltd!")
    assert not Tenant.objects.exists()


def test_seed_demo_loads_a_demo_shop(db, tmp_path):
    credentials = tmp_path / "credentials.txt"
    output = run("seed_demo", "--users", "5", "--credentials-file", str(credentials))
    assert "items: 800 created" in output
    tenant = Tenant.objects.get(slug="demo")
    from reranking.models import EndUser, Event

    assert EndUser.objects.filter(tenant=tenant).count() == 5
    stored = Event.objects.filter(tenant=tenant).count()
    assert stored > 0 and f"events: {stored} stored" in output
    key = printed(credentials.read_text(), "api key")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    assert client.get("/api/v1/items").json()["count"] == 800


def test_seed_demo_twice_stores_no_event_twice(db):
    run("seed_demo", "--users", "3")
    stored = Tenant.objects.get(slug="demo")
    from reranking.models import Event

    count = Event.objects.filter(tenant=stored).count()
    output = run("seed_demo", "--users", "3")
    assert "items: 0 created, 0 updated, 800 unchanged" in output
    assert f"events: 0 stored, {count} already there" in output
    assert Event.objects.filter(tenant=stored).count() == count
