"""The web UI's one scoping mechanism: TenantViewMixin refuses views that bypass it."""
from __future__ import annotations

import pytest
from django.views.generic import DetailView, ListView

from reranking.models import Item
from tenants.web import TenantViewMixin


def test_it_refuses_a_get_queryset_override():
    with pytest.raises(TypeError, match="overrides get_queryset"):

        class Leaky(TenantViewMixin, ListView):
            model = Item

            def get_queryset(self):
                return Item.objects.all()


def test_it_refuses_a_get_object_override():
    with pytest.raises(TypeError, match="overrides get_object"):

        class Leaky(TenantViewMixin, DetailView):
            model = Item

            def get_object(self, queryset=None):
                return Item.objects.first()


def test_every_tenant_page_goes_through_the_mixin():
    from django.urls import get_resolver

    from reranking import urls_ui

    tenant_patterns = [p for p in urls_ui.urlpatterns if str(p.pattern).startswith("t/")]
    assert tenant_patterns
    for include in tenant_patterns:
        for pattern in include.url_patterns:
            view = pattern.callback.view_class
            assert issubclass(view, TenantViewMixin), view
    assert get_resolver()  # the URLconf loads
