"""Every URL is either public by design (listed here) or goes through a tenant-scoping base class.

A new endpoint that forgets the scope fails this test: REST views must derive from the API's
TenantMixin (TenantScopedViewSet / TenantAPIView), web pages from TenantViewMixin.
"""
from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver

from tenants.api.base import TenantMixin
from tenants.web import TenantViewMixin

# Public by design: they reveal no tenant data (or are Django admin, which is staff-only).
PUBLIC = {
    "health", "health-live", "schema", "docs", "ui:login", "ui:logout", "ui:home",
}


def walk(patterns, prefix: str = "", namespace: str | None = None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            space = entry.namespace or namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), space)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield prefix + str(entry.pattern), name, entry.callback


def view_class(callback):
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None)


def test_every_url_is_public_by_design_or_tenant_scoped():
    unscoped = []
    seen = 0
    for route, name, callback in walk(get_resolver().url_patterns):
        if route.startswith("admin/") or name in PUBLIC:
            continue
        seen += 1
        cls = view_class(callback)
        if route.startswith("api/v1") or "^api/v1" in route:
            ok = cls is not None and issubclass(cls, TenantMixin)
        else:
            ok = cls is not None and issubclass(cls, TenantViewMixin)
        if not ok:
            unscoped.append(f"{route} ({name}) -> {cls or callback}")
    assert seen > 40, "the walk found the project's routes"
    assert not unscoped, "URLs without a tenant scope:\n" + "\n".join(unscoped)


def test_the_public_list_names_real_routes():
    names = {name for _, name, _ in walk(get_resolver().url_patterns)}
    assert PUBLIC <= names, PUBLIC - names
