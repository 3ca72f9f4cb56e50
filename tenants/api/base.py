"""The one place API requests are scoped to a tenant.

Every tenant-facing viewset subclasses `TenantScopedViewSet` and narrows the already-scoped queryset in
`safely_get_queryset`. Overriding `get_queryset` or `get_object` is refused at class creation (after
PostHog's TeamAndOrgViewSetMixin), so a new endpoint cannot forget the tenant filter.
"""
from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions, parsers, viewsets
from rest_framework.utils.json import strict_constant
from rest_framework.views import APIView

from tenants.models import Tenant, TenantOwned

from .errors import declared_length, payload_too_large

PROTECTED = ("get_queryset", "get_object")


class LimitedJSONParser(parsers.JSONParser):
    """Parse strict JSON, naming what is malformed.

    Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE never get here: Django refuses them unread when DRF asks for
    the body, and the exception handler turns that into 413.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            # NaN and Infinity are not JSON; PostgreSQL's jsonb would refuse them later, with a 500.
            return json.load(stream, parse_constant=strict_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from exc


class LimitedMultiPartParser(parsers.MultiPartParser):
    """Parse a multipart upload, refusing a body over the limit with 413 before reading it.

    Django's own check covers only the non-file fields of a multipart body.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        length = declared_length(parser_context["request"])
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise payload_too_large(length)
        return super().parse(stream, media_type, parser_context)


class TenantMixin:
    # One JSON parser for every tenant endpoint, so malformed JSON reads the same everywhere.
    parser_classes = [LimitedJSONParser]

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
