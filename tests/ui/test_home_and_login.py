"""Logging in and landing on a tenant: one tenant redirects, several are picked, none is said plainly."""
from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Membership

pytestmark = pytest.mark.django_db


def test_login_page_logs_in_and_lands_on_the_only_tenant(alice):
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"}, follow=True)
    assert response.redirect_chain[-1][0] == "/t/alice-shop/"
    assert b"Alice-Shop" in response.content


def test_a_wrong_password_shows_an_error(alice):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"errorlist" in response.content


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_a_member_of_several_tenants_picks_one(alice, charlie, owner):
    Membership.objects.create(tenant=charlie.tenant, user=alice.owner, role="viewer")
    response = owner.get("/")
    assert response.status_code == 200
    assert b"/t/alice-shop/" in response.content and b"/t/charlie-media/" in response.content


def test_a_user_without_tenants_is_told_so(db, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("zoe"))
    response = client.get("/")
    assert response.status_code == 200
    assert b"not a member of any tenant" in response.content


def test_logout_is_a_post(owner):
    response = owner.post("/accounts/logout/")
    assert response.status_code == 302
    assert owner.get("/").status_code == 302


def test_static_assets_are_served_by_the_app(live_server):
    import urllib.request

    for path in ("/static/ui/app.css", "/static/ui/app.js"):
        with urllib.request.urlopen(live_server.url + path) as response:
            assert response.status == 200
