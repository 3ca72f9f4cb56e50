"""Workflows across tenant models."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Membership, Role, Tenant


class TenantExists(Exception):
    """create_tenant was asked for a slug that is taken."""


@transaction.atomic
def create_tenant(slug: str, name: str, owner_username: str | None = None, owner_password: str | None = None) -> Tenant:
    """Create a tenant (and its owner's login when that login is new); refuse a slug that is taken.

    An existing login becomes the owner as it is: its password is never set here (`owner_password`
    applies to a new login only; None leaves a new login without a usable password).
    """
    if Tenant.objects.filter(slug=slug).exists():
        raise TenantExists(slug)
    tenant = Tenant.objects.create(slug=slug, name=name)
    if owner_username:
        user, created = get_user_model().objects.get_or_create(username=owner_username)
        if created:
            if owner_password:
                user.set_password(owner_password)
            else:
                user.set_unusable_password()
            user.save()
        Membership.objects.create(tenant=tenant, user=user, role=Role.OWNER)
    return tenant


@transaction.atomic
def ensure_tenant(slug: str, name: str, owner_username: str | None = None, owner_password: str | None = None) -> Tenant:
    """Return the tenant with this slug, creating it (and its owner login) when missing.

    For the demo and test fixtures, which own their logins: the owner's password is (re)set when given.
    Operators use `create_tenant`, which never touches an existing login.
    """
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
    if owner_username:
        user, created = get_user_model().objects.get_or_create(username=owner_username)
        if owner_password:
            user.set_password(owner_password)
            user.save()
        elif created:
            user.set_unusable_password()
            user.save()
        Membership.objects.update_or_create(tenant=tenant, user=user, defaults={"role": Role.OWNER})
    return tenant
