"""The one scoping mechanism: TenantScopedViewSet refuses subclasses that bypass it."""
from __future__ import annotations

import pytest

from reranking.models import Item
from tenants.api.base import TenantScopedViewSet


def test_it_refuses_a_get_queryset_override():
    with pytest.raises(TypeError, match="overrides get_queryset"):

        class Leaky(TenantScopedViewSet):
            model = Item

            def get_queryset(self):
                return Item.objects.all()


def test_it_refuses_a_get_object_override():
    with pytest.raises(TypeError, match="overrides get_object"):

        class Leaky(TenantScopedViewSet):
            model = Item

            def get_object(self):
                return Item.objects.first()


def test_it_allows_safely_get_queryset():
    class Fine(TenantScopedViewSet):
        model = Item

        def safely_get_queryset(self, queryset):
            return queryset.filter(available=True)

    assert Fine.model is Item


def test_every_registered_tenant_viewset_goes_through_the_base():
    from config.urls import router

    for _, viewset, basename in router.registry:
        assert issubclass(viewset, TenantScopedViewSet), basename
