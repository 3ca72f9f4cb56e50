"""Per-tenant request rate limits; DRF answers 429 with Retry-After when one is exceeded."""
from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def get_cache_key(self, request, view) -> str | None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": tenant.pk}
