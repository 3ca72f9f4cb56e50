"""The caller's tenant and its API keys."""
from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from tenants.models import ApiKey, Scope

from .base import TenantAPIView, TenantScopedViewSet
from .serializers import ApiKeySerializer, IssuedKeySerializer, TenantSerializer


class TenantView(TenantAPIView):
    """The tenant this API key belongs to; admins may change its name and event types."""

    write_scope = Scope.ADMIN
    serializer_class = TenantSerializer

    def get(self, request):
        return Response(TenantSerializer(self.tenant).data)

    def patch(self, request):
        serializer = TenantSerializer(self.tenant, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's API keys. Creating one returns its secret once; deleting one revokes it."""

    model = ApiKey
    serializer_class = ApiKeySerializer
    lookup_field = "id"
    lookup_value_regex = r"\d+"
    read_scope = Scope.ADMIN
    write_scope = Scope.ADMIN

    def safely_get_queryset(self, queryset):
        return queryset.order_by("-created_at")

    @extend_schema(request=ApiKeySerializer, responses={201: IssuedKeySerializer})
    @method_decorator(sensitive_variables("raw", "key"))
    def create(self, request):
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = ApiKey.issue(self.tenant, serializer.validated_data["name"], serializer.validated_data["scopes"])
        key.secret = raw
        return Response(IssuedKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, id=None):
        self.get_object().revoke()
        return Response(status=status.HTTP_204_NO_CONTENT)
