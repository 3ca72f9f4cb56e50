"""Team: owners invite by one-time link (with a role), change roles and remove members; login throttling."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import Invite, Membership, Role

pytestmark = pytest.mark.django_db


def invite_link(owner, url, role="admin") -> str:
    response = owner.post(url("ui:team"), {"role": role, "note": "dana@example.com"})
    assert response.status_code == 302 and response.url == url("ui:team")  # POST-redirect-GET
    html = owner.get(url("ui:team")).content.decode()
    return re.search(r'<code id="invite-link">http://testserver(/invite/[^<]+)</code>', html).group(1)


def test_an_invite_link_is_shown_once_and_makes_a_member_with_its_role(owner, url, alice):
    link = invite_link(owner, url, role="admin")
    assert 'id="invite-link"' not in owner.get(url("ui:team")).content.decode()  # shown once
    assert "dana@example.com" in owner.get(url("ui:team")).content.decode()  # listed as open, without the link
    newcomer = Client()
    assert "Join Alice-Shop" in newcomer.get(link).content.decode()
    response = newcomer.post(link, {"username": "dana", "password1": "a-long-pass-9", "password2": "a-long-pass-9"},
                             follow=True)
    assert "you joined as admin" in response.content.decode()
    dana = get_user_model().objects.get(username="dana")
    assert Membership.objects.get(tenant=alice.tenant, user=dana).role == Role.ADMIN


def test_an_invite_link_works_once(owner, url, alice):
    link = invite_link(owner, url, role="viewer")
    signed_in = Client()
    signed_in.force_login(get_user_model().objects.create_user("erin", password="x-pass-12345"))
    signed_in.post(link)
    assert Membership.objects.filter(tenant=alice.tenant, user__username="erin", role=Role.VIEWER).exists()
    again = Client()
    assert again.get(link).status_code == 410
    again.post(link, {"username": "mallory", "password1": "a-long-pass-9", "password2": "a-long-pass-9"})
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_a_withdrawn_invite_no_longer_works(owner, url, alice):
    link = invite_link(owner, url)
    invite = Invite.objects.get(tenant=alice.tenant)
    owner.post(url("ui:invite-revoke", invite.pk))
    assert Client().get(link).status_code == 410


def test_only_a_hash_of_the_link_is_stored(owner, url, alice):
    token = invite_link(owner, url).rstrip("/").rsplit("/", 1)[1]
    assert Invite.find(token) is not None
    assert not Invite.objects.filter(token_hash=token).exists()


def test_owner_changes_a_role_and_removes_a_member(owner, url, alice):
    bob = Membership.objects.get(tenant=alice.tenant, user__username="bob")
    owner.post(url("ui:member-role", bob.pk), {"role": "admin"})
    bob.refresh_from_db()
    assert bob.role == Role.ADMIN
    html = owner.post(url("ui:member-remove", bob.pk), follow=True).content.decode()
    assert "Removed bob from Alice-Shop." in html
    assert not Membership.objects.filter(pk=bob.pk).exists()


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner, url, alice):
    me = Membership.objects.get(tenant=alice.tenant, user=alice.owner)
    html = owner.post(url("ui:member-role", me.pk), {"role": "viewer"}, follow=True).content.decode()
    assert "only owner; make someone else owner first" in html
    owner.post(url("ui:member-remove", me.pk))
    me.refresh_from_db()
    assert me.role == Role.OWNER


def test_a_viewer_or_admin_cannot_change_the_team(viewer, url, alice):
    bob = Membership.objects.get(tenant=alice.tenant, user__username="bob")
    assert viewer.post(url("ui:team"), {"role": "owner"}).status_code == 403
    bob.role = Role.ADMIN
    bob.save()
    me = Membership.objects.get(tenant=alice.tenant, user=alice.owner)
    assert viewer.post(url("ui:member-remove", me.pk)).status_code == 403
    assert viewer.post(url("ui:team"), {"role": "owner"}).status_code == 403
    assert not Invite.objects.exists()


def test_charlie_cannot_touch_alices_team(outsider, url, alice):
    bob = Membership.objects.get(tenant=alice.tenant, user__username="bob")
    assert outsider.get(url("ui:team")).status_code == 404
    assert outsider.post(url("ui:member-remove", bob.pk)).status_code == 404


def test_login_is_locked_after_five_wrong_passwords_with_a_clear_message(alice):
    client = Client()
    for _ in range(5):
        assert client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code in (200, 429)
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    html = response.content.decode()
    assert response.status_code == 429 and "Too many failed log-ins" in html and "After 5 wrong passwords" in html
    assert "_auth_user_id" not in client.session
    # Another address is not locked out: nobody can lock an owner out from elsewhere.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert other.post("/accounts/login/", {"username": "alice", "password": "pw-alice"}).status_code == 302


def test_an_invite_expires_after_seven_days(owner, url, alice):
    from datetime import timedelta

    from django.utils import timezone

    link = invite_link(owner, url)
    invite = Invite.objects.get(tenant=alice.tenant)
    assert timedelta(days=6, hours=23) < invite.expires_at - invite.created_at <= timedelta(days=7)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(link).status_code == 410
