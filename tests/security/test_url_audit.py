"""Every URL is either public by design (listed in routes.PUBLIC) or goes through a tenant-scoping base class.

A new endpoint that forgets the scope fails this test: REST views must derive from the API's
TenantMixin (TenantScopedViewSet / TenantAPIView), web pages from TenantViewMixin. This is the structural
half of the audit; test_isolation_audit.py checks the behaviour with another tenant's credentials.
"""
from __future__ import annotations

from tenants.api.base import TenantMixin
from tenants.web import TenantViewMixin

from .routes import PUBLIC, STAFF_ONLY_PREFIX, walk


def test_every_url_is_public_by_design_or_tenant_scoped():
    unscoped = []
    seen = 0
    for r in walk():
        if r.route.startswith(STAFF_ONLY_PREFIX) or r.name in PUBLIC:
            continue
        seen += 1
        cls = r.view_class
        base = TenantMixin if r.is_api else TenantViewMixin
        if cls is None or not issubclass(cls, base):
            unscoped.append(f"{r.route} ({r.name}) -> {cls or r.callback}")
    assert seen > 40, "the walk found the project's routes"
    assert not unscoped, "URLs without a tenant scope:\n" + "\n".join(unscoped)


def test_the_public_list_names_real_routes():
    names = {r.name for r in walk()}
    assert set(PUBLIC) <= names, set(PUBLIC) - names
