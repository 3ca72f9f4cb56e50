"""The one place API requests are scoped to a tenant.

Every tenant-facing viewset subclasses `TenantScopedViewSet` and narrows the already-scoped queryset in
`safely_get_queryset`. Overriding `get_queryset` or `get_object` is refused at class creation (after
PostHog's TeamAndOrgViewSetMixin), so a new endpoint cannot forget the tenant filter.
"""
from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions, parsers, viewsets
from rest_framework.views import APIView

from tenants.models import Tenant, TenantOwned

from .errors import PayloadTooLarge

PROTECTED = ("get_queryset", "get_object")


class TenantMixin:
    @property
    def tenant(self) -> Tenant:
        tenant = getattr(self.request._request, "tenant", None)
        if tenant is None:  # authentication always sets it; reaching here is a wiring bug
            raise exceptions.NotAuthenticated()
        return tenant


class TenantScopedViewSet(TenantMixin, viewsets.GenericViewSet):
    model: type[TenantOwned]
    lookup_field = "external_id"
    lookup_value_regex = r"[^/]+"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name in PROTECTED:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} overrides {name}; implement safely_get_queryset instead")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return self.model.objects.none()
        return self.safely_get_queryset(self.model.objects.for_tenant(self.tenant))

    def safely_get_queryset(self, queryset):
        return queryset


class TenantAPIView(TenantMixin, APIView):
    """An endpoint that is not a queryset (batch ingest, re-rank). Its services take `self.tenant`."""


class LimitedJSONParser(parsers.JSONParser):
    """Parse JSON, refusing bodies over the configured limit with 413 before reading them."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"] if parser_context else None
        if request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if length > limit:
                raise PayloadTooLarge(f"The request body is {length} bytes; the limit is {limit}.")
        try:
            return json.load(stream)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from exc
