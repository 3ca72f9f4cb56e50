"""Workflows across tenant models."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Membership, Role, Tenant


@transaction.atomic
def ensure_tenant(slug: str, name: str, owner_username: str | None = None, owner_password: str | None = None) -> Tenant:
    """Return the tenant with this slug, creating it (and its owner login) when missing."""
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
