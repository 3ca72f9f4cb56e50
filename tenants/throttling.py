"""Request rate limits per tenant and per API key; DRF answers 429 with Retry-After past either."""
from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from .models import ApiKey


class TenantRateThrottle(SimpleRateThrottle):
    """All of a tenant's keys share one budget, so one tenant cannot starve the others."""

    scope = "tenant"

    def get_cache_key(self, request, view) -> str | None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": tenant.pk}


class KeyRateThrottle(SimpleRateThrottle):
    """Each key has its own, smaller budget, so one leaked or runaway key cannot use the tenant's."""

    scope = "key"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
