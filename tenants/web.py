"""The one place web UI requests are scoped to a tenant (the UI's counterpart of tenants/api/base.py).

Every tenant page subclasses `TenantViewMixin`. It resolves `/t/<tenant_slug>/...` through the logged-in
user's Membership, so a tenant the user is not a member of is a 404 (never a 403: existence is not
leaked), and exposes `self.tenant` and `self.membership`. Views narrow the already-scoped queryset in
`safely_get_queryset` or look rows up with `get_scoped_or_404`; overriding `get_queryset` or
`get_object` is refused at class creation, so a page cannot forget the tenant filter.

Writes need an owner or admin: any unsafe method (POST, ...) is refused with 403 for a viewer, and a view
with `manage_required = True` refuses viewers on every method (edit forms).
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.views.generic.base import ContextMixin

from .models import Membership, Tenant, TenantOwned

PROTECTED = ("get_queryset", "get_object")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def membership_or_404(user, tenant_slug: str) -> Membership:
    """Return the user's membership of the tenant with this slug, or raise Http404."""
    return get_object_or_404(Membership.objects.select_related("tenant"), tenant__slug=tenant_slug, user=user)


class TenantViewMixin(LoginRequiredMixin, ContextMixin):
    """Resolve the tenant from the URL and the user's membership; scope every lookup to it."""

    model: type[TenantOwned] | None = None
    manage_required = False  # True: owners and admins only, on every method (edit pages)
    section = ""  # which navigation entry is current

    tenant: Tenant
    membership: Membership

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name in PROTECTED:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} overrides {name}; implement safely_get_queryset instead")

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.membership = membership_or_404(request.user, kwargs["tenant_slug"])
        self.tenant = self.membership.tenant
        if (self.manage_required or request.method not in SAFE_METHODS) and not self.membership.can_manage:
            raise PermissionDenied("Only the tenant's owners and admins can change this.")
        return super().dispatch(request, *args, **kwargs)

    # --- scoped access ------------------------------------------------------------------------

    def scoped(self, model: type[TenantOwned]) -> QuerySet:
        """Return all of this tenant's rows of `model`."""
        return model.objects.for_tenant(self.tenant)

    def get_scoped_or_404(self, model: type[TenantOwned], **lookup: Any) -> Model:
        return get_object_or_404(self.scoped(model), **lookup)

    def get_queryset(self) -> QuerySet:
        if self.model is None:
            raise Http404  # a page without a model has no object to look up
        return self.safely_get_queryset(self.scoped(self.model))

    def safely_get_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset

    # --- templates ----------------------------------------------------------------------------

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        context.update(
            tenant=self.tenant,
            membership=self.membership,
            can_manage=self.membership.can_manage,
            section=self.section,
            other_memberships=Membership.objects.filter(user=self.request.user)
            .exclude(pk=self.membership.pk)
            .select_related("tenant")
            .order_by("tenant__name"),
        )
        return context
