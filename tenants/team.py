"""A tenant's team: invite by one-time link, accept, change roles, remove members.

Owners manage the team. A tenant always keeps at least one owner: the last owner can be neither
demoted nor removed.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Invite, Membership, Role, Tenant


class TeamError(Exception):
    """A team change that is refused; the message says why."""


@transaction.atomic
def accept_invite(invite: Invite, user) -> Membership:
    """Make the user a member with the invite's role and close the invite (once; it cannot be reused)."""
    invite = Invite.objects.select_for_update().select_related("tenant").get(pk=invite.pk)
    if not invite.is_open:
        raise TeamError("This invite link was already used, has expired or was withdrawn. Ask the owner for a new one.")
    membership, created = Membership.objects.get_or_create(tenant=invite.tenant, user=user,
                                                           defaults={"role": invite.role})
    if not created:
        raise TeamError(f"You are already a member of {invite.tenant.name} (as {membership.get_role_display().lower()}).")
    invite.accepted_at, invite.accepted_by = timezone.now(), user
    invite.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def owners_left(tenant: Tenant, without: Membership) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).exclude(pk=without.pk).count()


@transaction.atomic
def change_role(membership: Membership, role: str) -> None:
    list(Membership.objects.select_for_update().filter(tenant=membership.tenant))  # serialise team changes
    if membership.role == Role.OWNER and role != Role.OWNER and not owners_left(membership.tenant, membership):
        raise TeamError(f"{membership.user.get_username()} is the only owner; make someone else owner first.")
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def remove_member(membership: Membership) -> None:
    list(Membership.objects.select_for_update().filter(tenant=membership.tenant))  # serialise team changes
    if membership.role == Role.OWNER and not owners_left(membership.tenant, membership):
        raise TeamError(f"{membership.user.get_username()} is the only owner and cannot be removed.")
    membership.delete()
