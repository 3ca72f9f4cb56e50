"""Every URL pattern of the project, and the ones that are public by design (shared by the URL audits)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# Public by design: they reveal no tenant data (each reason is checked by test_isolation_audit).
PUBLIC = {
    "health": "liveness and readiness of the database, cache and queue; no tenant data",
    "health-live": "process liveness only",
    "schema": "the OpenAPI document; describes the API, holds no data",
    "docs": "Swagger UI page that loads the schema",
    "redoc": "ReDoc page that loads the schema",
    "ui:login": "the login form",
    "ui:logout": "ends the session",
    "ui:home": "redirects a logged-in user to their own tenant (or lists their memberships)",
    "ui:favicon": "redirects to the static icon",
    "ui:invite": "an invite link: answers only to the unguessable token its recipient holds (tests/ui/test_team.py)",
}
# Django admin is not tenant-scoped: it is for staff (is_staff), whom a tenant's own users never are.
STAFF_ONLY_PREFIX = "admin/"


@dataclass(frozen=True)
class Route:
    route: str
    name: str | None
    callback: object
    pattern: object

    @property
    def view_class(self):
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/v1") or "^api/v1" in self.route


def walk(patterns=None, prefix: str = "", namespace: str | None = None) -> Iterator[Route]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            space = entry.namespace or namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), space)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(prefix + str(entry.pattern), name, entry.callback, entry.pattern)
